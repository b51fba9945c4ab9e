#!/usr/bin/env python3
"""A local sandbox migration: starts a source and a target registry on
loopback ports, seeds the source, writes the two YAML files, runs
image-transfer (with the dashboard when this is a terminal), verifies every
tag with skopeo, and stops the registries.

Options: --repos N (default 12), --keep (leave the registries running and
print how to reach them), --binary PATH, --ccr (a whole CCR account into a
TCR instance: the Tencent Cloud API is played by the test double
tests/fakes/fake_tc_api.py, the two registries are real), plus any
image-transfer flags after `--`.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'integration'))
import harness  # noqa: E402
import tcfake  # noqa: E402


# The TCR instance's login as CreateInstanceToken returns it (--ccr).
TCR_UIN, TCR_TOKEN = '100000000042', 'sandbox-instance-token'


def ccr_setup(a, work, src, dst, sec, seeded, common):
    """The CCR -> TCR variant: the fake API knows the seeded repositories as
    the account's CCR content and the target registry as the TCR instance
    "sandbox-tcr"; its instance token is the target's login."""
    sid, skey = 'AKIDsandboxKey0000000000000000001', 'sandboxSecretKey0001'
    uin, token = TCR_UIN, TCR_TOKEN
    namespaces = sorted({r.split('/')[0] for r in seeded})
    fixture = {
        'credentials': [{'secret_id': sid, 'secret_key': skey}],
        'uin': uin,
        'ccr': {'server': src.host,
                'namespaces': [{'name': ns, 'creation_time':
                                '2024-01-01 00:00:00'} for ns in namespaces],
                'repos': [{'name': repo, 'public': 0, 'tags': [
                    {'name': t, 'digest': d, 'size': 0,
                     'push_time': '2024-01-%02d 00:00:00' % (i + 1)}
                    for i, (t, d) in enumerate(tags)]}
                    for repo, tags in sorted(seeded.items())]},
        'tcr': {'instances': [{'id': 'tcr-sandbox1', 'name': 'sandbox-tcr',
                               'status': 'Running', 'region': 'ap-guangzhou',
                               'type': 'basic', 'public_domain': dst.host,
                               'token': token}],
                'namespaces': {'tcr-sandbox1': []}, 'repos': {}},
        'options': {'faults': [], 'clock_offset': 0, 'token_ttl': 3600},
    }
    fake = tcfake.FakeTC(fixture, prefix='image-transfer-sandbox-api-')
    print('sandbox: Tencent Cloud API test double at %s' % fake.endpoint)
    with open(sec, 'w') as f:
        # No login for the TCR host: it comes from CreateInstanceToken.
        f.write('%s:\n  insecure: true\n%s:\n  insecure: true\n' % (
            src.host, dst.host))
    tcs = os.path.join(work, 'tencentcloud-secret.yaml')
    with open(tcs, 'w') as f:
        f.write('ccr:\n  secretId: %s\n  secretKey: %s\n' % (sid, skey))
    cmd = [a.binary, '--ccrToTcr=true', '--securityFile=' + sec,
           '--secretFile=' + tcs, '--tcrName=sandbox-tcr',
           '--tcrRegion=ap-guangzhou', '--ccrRegion=ap-guangzhou',
           '--ccr-registry=' + src.host, '--tc-endpoint=' + fake.endpoint]
    return fake, cmd + common + a.extra


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--binary', default=os.path.join(HERE, '..', 'build',
                                                      'src',
                                                      'image-transfer'))
    ap.add_argument('--repos', type=int, default=12)
    ap.add_argument('--keep', action='store_true')
    ap.add_argument('--ccr', action='store_true')
    ap.add_argument('extra', nargs='*')
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix='image-transfer-sandbox-')
    src = harness.Registry().start()
    dst = harness.Registry(auth='basic',
                           users=({TCR_UIN: TCR_TOKEN} if a.ccr
                                  else {'sandbox': 'sandbox-pass'})).start()
    try:
        print('sandbox: source registry  http://%s (anonymous)' % src.host)
        print('sandbox: target registry  http://%s (%s)' % (
            dst.host, 'the TCR instance; login by CreateInstanceToken'
            if a.ccr else 'basic auth: sandbox / ***'))
        base = [harness.make_layer(1, 2 * 1024 * 1024),
                harness.make_layer(2, 512 * 1024)]
        kinds = ['v2s2', 'oci', 'list', 'index']
        n = 0
        seeded = {}  # repo -> [(tag, manifest digest)]
        for r in range(a.repos):
            repo = 'team%d/app%d' % (r % 3, r)
            for t in range(1 + r % 4):
                own = [harness.make_layer(1000 + r * 10 + t,
                                          (256 + 128 * t) * 1024)]
                img = harness.seed_image(src, repo, 'v1.%d' % t,
                                         kind=kinds[(r + t) % 4], layers=own,
                                         shared=base, seed=r * 100 + t)
                seeded.setdefault(repo, []).append(('v1.%d' % t,
                                                    img['digest']))
                n += 1
        print('sandbox: seeded %d images in %d repositories' % (n, a.repos))
        sec = os.path.join(work, 'registry-secret.yaml')
        report = os.path.join(work, 'report.json')
        common = ['--state-dir=' + os.path.join(work, 'state'),
                  '--report=' + report, '--routines=4', '--bandwidth=4M']
        if a.ccr:
            fake, cmd = ccr_setup(a, work, src, dst, sec, seeded, common)
        else:
            fake = None
            with open(sec, 'w') as f:
                f.write('%s:\n  insecure: true\n'
                        '%s:\n  username: sandbox\n  password: sandbox-pass\n'
                        '  insecure: true\n' % (src.host, dst.host))
            rules = os.path.join(work, 'transfer-rule.yaml')
            with open(rules, 'w') as f:
                f.write('# every tag of every repository\n')
                for r in range(a.repos):
                    repo = 'team%d/app%d' % (r % 3, r)
                    f.write('%s/%s: %s/migrated/app%d\n' % (
                        src.host, repo, dst.host, r))
            cmd = [a.binary, '--securityFile=' + sec, '--ruleFile=' + rules]
            cmd += common + a.extra
        print('sandbox: running', ' '.join(cmd))
        try:
            rc = subprocess.call(cmd)
        finally:
            if fake:
                fake.close()
        print('sandbox: image-transfer exited with %d' % rc)
        bad = 0
        for r in range(a.repos):
            repo = 'team%d/app%d' % (r % 3, r)
            for t in range(1 + r % 4):
                want = harness.skopeo_raw(src, repo, 'v1.%d' % t)
                got = harness.skopeo_raw(
                    dst, repo if a.ccr else 'migrated/app%d' % r, 'v1.%d' % t)
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
