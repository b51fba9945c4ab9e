"""The first README command's sandbox (deploy/sandbox.py), run the way a
user runs it without a terminal: a whole demo CCR account migrated into the
sandbox TCR by `image-transfer --ccrToTcr=true`, twice. The second run
must skip everything; nothing may keep listening afterwards; no secret may
be printed."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SANDBOX = os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), 'deploy', 'sandbox.py')
sys.path.insert(0, os.path.dirname(SANDBOX))
import sandbox  # noqa: E402


def listening(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(('127.0.0.1', port)) == 0


class SandboxTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix='it-sandbox-test-')
        self.dir = os.path.join(self.tmp.name, 'sbx')

    def tearDown(self):
        self.tmp.cleanup()

    def run_sandbox(self, *extra):
        p = subprocess.run(
            [sys.executable, SANDBOX, '--binary', harness.binary(),
             '--dir', self.dir] + list(extra),
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=300)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out[-3000:])
        with open(os.path.join(self.dir, 'report.json')) as f:
            report = json.load(f)
        with open(os.path.join(self.dir, 'sandbox.json')) as f:
            state = json.load(f)
        return out, report, state

    def test_twice(self):
        out, report, state = self.run_sandbox()
        account = state['account']
        tags = {(repo, t[0]) for repo, ts in account.items() for t in ts}
        namespaces = {repo.split('/')[0] for repo in account}
        # the demo account the issue describes
        self.assertGreaterEqual(len(namespaces), 3)
        self.assertGreaterEqual(len(account), 18)
        self.assertGreaterEqual(len(tags), 50)
        s = report['summary']
        self.assertEqual(s['images_copied'], len(tags), s)
        self.assertEqual(s['images_failed'], 0)
        self.assertGreater(s['blobs_mounted'], 0, 'shared base layers')
        copied = {(i['source'].split('/', 1)[1].rsplit(':', 1)[0],
                   i['source'].rsplit(':', 1)[1]) for i in report['images']}
        self.assertEqual(copied, tags)
        # one multi-platform index and one OCI image among them (skopeo
        # compared their bytes on both sides)
        self.assertIn(sandbox.INDEX_IMAGE, copied)
        self.assertIn(sandbox.OCI_IMAGE, copied)
        self.assertIn('--ccrToTcr=true', out)
        self.assertRegex(out, r'skopeo compared %d tags on both sides: 0 '
                         r'mismatches' % len(tags))
        self.assertIn('namespaces: 3 in CCR, 0 already in TCR, 3 created',
                      out)
        # where the report is, and how to do it for real
        self.assertIn('report %s' % os.path.join(self.dir, 'report.json'),
                      out)
        self.assertIn('To migrate a real CCR account', out)
        for secret in ('sandbox-instance-token', 'sandboxKey01'):
            self.assertNotIn(secret, out)
        for name in ('registry-secret.yaml', 'tencentcloud-secret.yaml'):
            mode = os.stat(os.path.join(self.dir, 'config', name)).st_mode
            self.assertEqual(mode & 0o077, 0, name)
        self.assertNotIn('holds secrets but is readable', out)

        # Nothing is left listening.
        for port in state['ports'].values():
            self.assertFalse(listening(port), port)

        out2, report2, state2 = self.run_sandbox()
        s2 = report2['summary']
        self.assertEqual(s2['images_copied'], 0, s2)
        self.assertEqual(s2['images_skipped'], len(tags), s2)
        self.assertEqual(s2['bytes_copied'], 0)
        self.assertIn('namespaces: 3 in CCR, 3 already in TCR, 0 created',
                      out2)
        self.assertIn('a rerun', out2)
        self.assertIn('run this again: every tag is skipped', out2)
        self.assertIsNone(re.search(r'seeded just now', out2))
        for port in state2['ports'].values():
            self.assertFalse(listening(port), port)

        # A --verify run: the closing summary gives the verdicts, not the
        # copy counters (every tag is "skipped" as identical there).
        out3, report3, _ = self.run_sandbox('--', '--verify')
        self.assertEqual(report3['summary']['verify']['identical'],
                         len(tags), report3['summary'])
        self.assertIn('report %s: %d images verified (shallow): %d '
                      'identical, 0 missing, 0 different, 0 incomplete, '
                      '0 errors' % (os.path.join(self.dir, 'report.json'),
                                    len(tags), len(tags)), out3)
        self.assertNotIn('0 copied', out3)
        self.assertIn('a copy run (without --verify) skips every tag', out3)

    def test_report_line(self):
        """The closing summary's report line: copy counters for a copy
        run, the verdicts for a --verify run, a clear word without a
        report."""
        path = os.path.join(self.tmp.name, 'report.json')
        self.assertEqual(sandbox.report_line(path), 'no report')
        copy = {'images_total': 5, 'images_copied': 3, 'images_skipped': 1,
                'images_failed': 1, 'bytes_copied': 3 * 1048576}
        with open(path, 'w') as f:
            json.dump({'summary': copy}, f)
        self.assertEqual(sandbox.report_line(path),
                         '5 images: 3 copied, 1 skipped, 1 failed; '
                         '3.0 MiB moved')
        verify = dict(copy, images_copied=0, images_skipped=2,
                      images_failed=3, bytes_copied=0,
                      images_platform_skipped=1,
                      verify={'depth': 'deep', 'identical': 1, 'missing': 1,
                              'different': 1, 'incomplete': 0, 'errors': 1})
        with open(path, 'w') as f:
            json.dump({'summary': verify}, f)
        self.assertEqual(sandbox.report_line(path),
                         '5 images verified (deep): 1 identical, 1 missing, '
                         '1 different, 0 incomplete, 1 errors, '
                         '1 not selected (platform)')


if __name__ == '__main__':
    unittest.main(verbosity=2)
