#!/usr/bin/env python3
"""A local sandbox migration: starts a source and a target registry on
loopback ports, seeds the source, writes the two YAML files, runs
image-transfer (with the dashboard when this is a terminal), verifies every
tag with skopeo, and stops the registries.

Options: --repos N (default 12), --keep (leave the registries running and
print how to reach them), --binary PATH, plus any image-transfer flags
after `--`.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'integration'))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--binary', default=os.path.join(HERE, '..', 'build',
                                                      'src',
                                                      'image-transfer'))
    ap.add_argument('--repos', type=int, default=12)
    ap.add_argument('--keep', action='store_true')
    ap.add_argument('extra', nargs='*')
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix='image-transfer-sandbox-')
    src = harness.Registry().start()
    dst = harness.Registry(auth='basic',
                           users={'sandbox': 'sandbox-pass'}).start()
    try:
        print('sandbox: source registry  http://%s (anonymous)' % src.host)
        print('sandbox: target registry  http://%s (sandbox / ***)' %
              dst.host)
        base = [harness.make_layer(1, 2 * 1024 * 1024),
                harness.make_layer(2, 512 * 1024)]
        kinds = ['v2s2', 'oci', 'list', 'index']
        n = 0
        for r in range(a.repos):
            repo = 'team%d/app%d' % (r % 3, r)
            for t in range(1 + r % 4):
                own = [harness.make_layer(1000 + r * 10 + t,
                                          (256 + 128 * t) * 1024)]
                harness.seed_image(src, repo, 'v1.%d' % t,
                                   kind=kinds[(r + t) % 4], layers=own,
                                   shared=base, seed=r * 100 + t)
                n += 1
        print('sandbox: seeded %d images in %d repositories' % (n, a.repos))
        sec = os.path.join(work, 'registry-secret.yaml')
        with open(sec, 'w') as f:
            f.write('%s:\n  insecure: true\n'
                    '%s:\n  username: sandbox\n  password: sandbox-pass\n'
                    '  insecure: true\n' % (src.host, dst.host))
        rules = os.path.join(work, 'transfer-rule.yaml')
        with open(rules, 'w') as f:
            f.write('# every tag of every repository\n')
            for r in range(a.repos):
                repo = 'team%d/app%d' % (r % 3, r)
                f.write('%s/%s: %s/migrated/app%d\n' % (src.host, repo,
                                                        dst.host, r))
        report = os.path.join(work, 'report.json')
        cmd = [a.binary, '--securityFile=' + sec, '--ruleFile=' + rules,
               '--state-dir=' + os.path.join(work, 'state'),
               '--report=' + report, '--routines=4',
               '--bandwidth=4M'] + a.extra
        print('sandbox: running', ' '.join(cmd))
        rc = subprocess.call(cmd)
        print('sandbox: image-transfer exited with %d' % rc)
        bad = 0
        for r in range(a.repos):
            repo = 'team%d/app%d' % (r % 3, r)
            for t in range(1 + r % 4):
                want = harness.skopeo_raw(src, repo, 'v1.%d' % t)
                got = harness.skopeo_raw(dst, 'migrated/app%d' % r,
                                         'v1.%d' % t)
                if want != got:
                    bad += 1
                    print('sandbox: MISMATCH %s:v1.%d' % (repo, t))
        print('sandbox: skopeo verified %d images, %d mismatches; report: %s'
              % (n, bad, report))
        if a.keep:
            print('sandbox: registries left running; press Enter to stop')
            input()
        return 0 if rc == 0 and bad == 0 else 1
    finally:
        src.stop()
        dst.stop()


if __name__ == '__main__':
    sys.exit(main())
