#!/usr/bin/env python3
"""resume.py - bytes uploaded for one large blob when its copy is broken
(issue 15, "resume inside a blob"), counted at the fault proxy in front of
the target registry (request body bytes it read from the client), never
from image-transfer's own counters.

Scenarios, for one blob of --size MiB (default 512) of random bytes:
  src-cut-90    blobtool; the source GET is cut at 90% (once): resumed
                with Range
  dst-lost-90   blobtool, 16 MiB PATCHes; the PATCH holding the 90% mark
                never reaches the registry (a front proxy that buffers
                request bodies, as nginx does in front of Harbor/TCR): the
                session is asked and continued
  dst-cut-90    blobtool, 16 MiB PATCHes; that PATCH reaches the registry
                in part: distribution 2.8 then refuses the session (its
                size no longer matches the signed state) and cancels it,
                so the upload starts again in a new session
  kill-80       image-transfer, killed (-9) when the PATCH holding the 80%
                mark is in flight (held by the proxy, not forwarded) and
                the journal holds the 25 confirmed chunks; the rerun's
                uploaded bytes are reported

    python3 bench/resume.py --build build [--size 512]

Needs docker-registry; uses tests/integration/harness.py and
tests/fakes/fault_proxy.py. Loopback only; every child has a timeout.
"""

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'fakes'))
import harness  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402

MiB = 1024 * 1024
CHUNK = 16 * MiB


def uploaded(log):
    return sum(e['req_bytes'] for e in log
               if e['method'] in ('PUT', 'PATCH') and
               '/blobs/uploads/' in e['path'])


def push_file(reg, repo, path):
    from test_blobcopy import push_file as pf
    return pf(reg, repo, path)


def blobtool(build, src_host, dst_host, repo, digest, size, *extra):
    args = [os.path.join(build, 'tests', 'blobtool'), 'copy', src_host,
            'big/src', dst_host, repo, digest, str(size), '--insecure']
    args += [str(a) for a in extra]
    r = subprocess.run(args, capture_output=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError('blobtool: %s %s' % (r.stdout, r.stderr))


def check(reg, repo, digest, size):
    from test_blobcopy import hash_remote_blob
    got = hash_remote_blob(reg, repo, digest)
    if got != (digest, size):
        raise RuntimeError('target blob wrong: %r' % (got,))


def push_image(reg, path, digest, size):
    """An image whose one layer is the big blob (the registry does not
    check diff_ids; image-transfer copies bytes as they are)."""
    layer_digest, _ = push_file(reg, 'big/src', path)
    assert layer_digest == digest
    config = json.dumps({'architecture': 'amd64', 'os': 'linux',
                         'rootfs': {'type': 'layers',
                                    'diff_ids': [digest]}}).encode()
    cdig = harness.push_blob(reg, 'big/src', config)
    manifest = json.dumps({
        'schemaVersion': 2,
        'mediaType': 'application/vnd.docker.distribution.manifest.v2+json',
        'config': {'mediaType':
                   'application/vnd.docker.container.image.v1+json',
                   'size': len(config), 'digest': cdig},
        'layers': [{'mediaType':
                    'application/vnd.docker.image.rootfs.diff.tar.gzip',
                    'size': size, 'digest': digest}]}).encode()
    harness.push_manifest(reg, 'big/src', 'v1', manifest,
                          'application/vnd.docker.distribution.manifest.v2'
                          '+json')


def kill_and_rerun(build, src, dst, size, work):
    proxy = FaultProxy(dst.host).start()
    try:
        state = os.path.join(work, 'state')
        with open(os.path.join(work, 'secret.yaml'), 'w') as f:
            f.write('%s:\n  insecure: true\n%s:\n  insecure: true\n'
                    % (src.host, proxy.host))
        with open(os.path.join(work, 'rule.yaml'), 'w') as f:
            f.write('%s/big/src: %s/big/dst\n' % (src.host, proxy.host))
        args = [os.path.join(build, 'src', 'image-transfer'),
                '--securityFile', os.path.join(work, 'secret.yaml'),
                '--ruleFile', os.path.join(work, 'rule.yaml'),
                '--state-dir', state, '--no-tui', '--qps=0', '--retry=0']
        env = dict(os.environ, HOME=work)
        if size < 64 * MiB:  # below the default threshold (smoke runs)
            env['IT_RESUME_MIN_BYTES'] = str(MiB)
        mark = int(size * 0.8)
        nth = mark // CHUNK + 1
        proxy.set_rules([{'method': 'PATCH', 'path': '/blobs/uploads/',
                          'action': 'stall', 'nth': nth,
                          'after_bytes': mark - (nth - 1) * CHUNK}])
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
        want = (nth - 1) * CHUNK
        db = os.path.join(state, 'journal.db')
        try:
            for _ in range(6000):  # at most ~10 min
                row = None
                if os.path.exists(db):
                    c = sqlite3.connect('file:%s?mode=ro' % db, uri=True)
                    try:
                        row = c.execute('SELECT held FROM uploads').fetchone()
                    except sqlite3.OperationalError:
                        pass
                    c.close()
                stalled = any(e['damaged'] == 'stall' for e in proxy.log())
                if stalled and row and row[0] == want:
                    break
                if p.poll() is not None:
                    raise RuntimeError('image-transfer ended before the kill')
                time.sleep(0.1)
            else:
                raise RuntimeError('never reached the 80% mark')
        finally:
            p.kill()
            p.wait()
        first = uploaded(proxy.log())
        proxy.set_rules([])
        proxy.clear_log()
        r = subprocess.run(args, capture_output=True, env=env, timeout=900)
        if r.returncode != 0:
            raise RuntimeError('rerun: %s' % r.stderr.decode()[-2000:])
        return first, uploaded(proxy.log())
    finally:
        proxy.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--size', type=int, default=512, help='MiB')
    a = ap.parse_args()
    size = a.size * MiB + 4321
    work = tempfile.mkdtemp(prefix='it-bench-resume-')
    src = harness.Registry().start()
    dst = harness.Registry().start()
    rows = []
    try:
        path = os.path.join(work, 'blob.bin')
        h = hashlib.sha256()
        with open(path, 'wb') as f:
            left = size
            while left:
                b = os.urandom(min(left, 4 * MiB))
                h.update(b)
                f.write(b)
                left -= len(b)
        digest = 'sha256:' + h.hexdigest()
        push_image(src, path, digest, size)
        os.unlink(path)
        chunked = ('--chunk-threshold', 1, '--chunk-size', CHUNK)
        mark = int(size * 0.9)
        nth = mark // CHUNK + 1
        cases = [
            ('src-cut-90', 'src', [{'method': 'GET', 'path': '/blobs/sha256:',
                                    'action': 'cut', 'after_bytes': mark,
                                    'times': 1}], ()),
            ('dst-lost-90', 'dst', [{'method': 'PATCH',
                                     'path': '/blobs/uploads/',
                                     'action': 'lose_request', 'nth': nth,
                                     'after_bytes': mark - (nth - 1) * CHUNK}],
             chunked),
            ('dst-cut-90', 'dst', [{'method': 'PATCH',
                                    'path': '/blobs/uploads/',
                                    'action': 'cut_request', 'nth': nth,
                                    'after_bytes': mark - (nth - 1) * CHUNK}],
             chunked),
        ]
        for name, side, rules, extra in cases:
            with FaultProxy(src.host) as ps, FaultProxy(dst.host) as pd:
                (ps if side == 'src' else pd).set_rules(rules)
                repo = 'big/' + name
                blobtool(a.build, ps.host, pd.host, repo, digest, size,
                         *extra)
                check(dst, repo, digest, size)
                up = uploaded(pd.log())
                down = sum(e['bytes'] for e in ps.log()
                           if e['method'] == 'GET' and
                           '/blobs/sha256:' in e['path'])
            rows.append((name, up, down))
        first, rerun = kill_and_rerun(a.build, src, dst, size, work)
        rows.append(('kill-80 (1st run)', first, None))
        rows.append(('kill-80 (rerun)', rerun, None))
    finally:
        dst.stop()
        src.stop()
        shutil.rmtree(work, ignore_errors=True)
    print('| case | uploaded (MiB) | x blob | downloaded (MiB) |')
    print('|---|---|---|---|')
    for name, up, down in rows:
        print('| %s | %.1f | %.3f | %s |' % (
            name, up / MiB, up / size,
            '-' if down is None else '%.1f' % (down / MiB)))


if __name__ == '__main__':
    main()
