"""Hostile input that ends up on the terminal, in the report or on disk
(issue #10, items 2, 6, 7 and 8): the image-transfer binary against a
Python stdlib registry double that answers with escapes and reflected
credentials, and against real docker-registry processes."""
import base64
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Registry, seed_image, skopeo_raw  # noqa: E402

SRC_USER = 'alice'
SRC_PW = 'Pa$$/w0rd"x-91'
DST_PW = 'Dst-Pa55-word-7'
# What a careless registry might echo back: base64 of user:password
# without the "Basic " prefix, the password percent-encoded in upper and
# lower case, and JSON-escaped.
REFLECTED = [
    base64.b64encode(('%s:%s' % (SRC_USER, SRC_PW)).encode()).decode(),
    urllib.parse.quote(SRC_PW, safe=''),
    re.sub('%[0-9A-F]{2}', lambda m: m.group(0).lower(),
           urllib.parse.quote(SRC_PW, safe='')),
]
NEVER = REFLECTED + [SRC_PW, DST_PW]
HOSTILE = '\x1b]0;pwned\x07\x1b[2J\nResult:  success\n'


def run_it(args, timeout=180):
    return harness.run_binary(
        args, timeout=timeout,
        unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'))


class HostileHandler(harness.QuietHandler):
    """/v2/ answers 200; tags/list offers a tag; every manifest request
    fails with a registry error whose message holds terminal escapes, a
    fake result line and the caller's credentials in encoded forms."""

    def _error(self, status):
        body = json.dumps({'errors': [{
            'code': 'MANIFEST_UNKNOWN',
            'message': 'denied %s creds %s' % (HOSTILE, ' '.join(REFLECTED)),
            'detail': {'echo': SRC_PW}}]}).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Docker-Distribution-API-Version', 'registry/2.0')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _any(self):
        path = urllib.parse.urlparse(self.path).path
        if path == '/v2/':
            body = b'{}'
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Docker-Distribution-API-Version',
                             'registry/2.0')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(body)
        elif path.endswith('/tags/list'):
            body = json.dumps({'name': 'evil/app',
                               'tags': ['v1', 'x' + HOSTILE]}).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._error(400)

    do_GET = _any
    do_HEAD = _any


class LocalFilesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dst = Registry(auth='basic', users={'bob': DST_PW}).start()
        cls.plain = Registry().start()
        for ns in ('team-a', 'team-b'):
            seed_image(cls.plain, '%s/app' % ns, 'v1', kind='v2s2',
                       seed=hash(ns) & 0xffff)
        port = harness.free_port()
        cls.evil_host = '127.0.0.1:%d' % port
        cls.evil = harness.serve_http(HostileHandler, port)

    @classmethod
    def tearDownClass(cls):
        cls.evil.shutdown()
        cls.evil.server_close()
        cls.dst.stop()
        cls.plain.stop()

    def workdir(self):
        w = harness.Workdir(prefix='it-local-')
        self.addCleanup(w.cleanup)
        return w

    def args(self, w, secrets, rules, *extra):
        return ['--securityFile', w.write('registry-secret.yaml', secrets),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--qps=0', '--routines=2', '--retry=0',
                '--retry-window=0'] + list(extra)

    def dst_secrets(self):
        return '%s:\n  username: bob\n  password: "%s"\n  insecure: true\n' % (
            self.dst.host, DST_PW)

    # ------------------------------------------------------------ item 2, 7
    def test_hostile_error_text_is_escaped_and_redacted(self):
        secrets = ('%s:\n  username: %s\n  password: \'%s\'\n'
                   '  insecure: true\n' % (self.evil_host, SRC_USER, SRC_PW)
                   + self.dst_secrets())
        for mode in ([], ['--dry-run']):
            w = self.workdir()
            rules = ('%s/evil/app:v1: %s/copy/app:v1\n'
                     '%s/evil/app: %s/copy/all\n' % (
                         self.evil_host, self.dst.host,
                         self.evil_host, self.dst.host))
            rc, out, err = run_it(self.args(w, secrets, rules, *mode))
            self.assertEqual(rc, 1, out + err)
            with open(w.report) as f:
                report_text = f.read()
            report = json.loads(report_text)
            errors = ' '.join(i['error'] or '' for i in report['images'])
            # The hostile message did reach the person, made harmless.
            self.assertIn(']0;pwned', out + err, out + err)
            self.assertIn(']0;pwned', errors, report)
            for name, text in (('stdout', out), ('stderr', err),
                               ('report errors', errors)):
                self.assertNotIn('\x1b', text, name)
                self.assertNotIn('\x07', text, name)
                self.assertNotIn('\nResult:  success', '\n' + text, name)
                for secret in NEVER:
                    self.assertNotIn(secret, text, (name, secret))
            for secret in NEVER:
                self.assertNotIn(secret, report_text, secret)
            if not mode:
                self.assertIn('Result:  finished with failures', out)

    # --------------------------------------------------------------- item 6
    def test_insecure_for_a_namespace_only(self):
        """`host/team-a: insecure: true` lets team-a be read over plain
        HTTP; team-b on the same host stays TLS-only and fails."""
        src = self.plain.host
        secrets = '%s/team-a:\n  insecure: true\n' % src + self.dst_secrets()
        rules = ('%s/team-a/app:v1: %s/scoped/a:v1\n'
                 '%s/team-b/app:v1: %s/scoped/b:v1\n' % (
                     src, self.dst.host, src, self.dst.host))
        w = self.workdir()
        rc, out, err = run_it(self.args(w, secrets, rules))
        self.assertEqual(rc, 1, out + err)
        by_src = {i['source']: i for i in w.load_report()['images']}
        a = by_src['%s/team-a/app:v1' % src]
        b = by_src['%s/team-b/app:v1' % src]
        self.assertEqual(a['status'], 'copied', a)
        self.assertEqual(b['status'], 'failed', b)
        self.assertEqual(skopeo_raw(self.plain, 'team-a/app', 'v1'),
                         skopeo_raw(self.dst, 'scoped/a', 'v1'))
        # The whole host marked insecure: both are read.
        secrets = '%s:\n  insecure: true\n' % src + self.dst_secrets()
        w = self.workdir()
        rc, out, err = run_it(self.args(w, secrets, rules))
        self.assertEqual(rc, 0, out + err)

    # --------------------------------------------------------------- item 8
    def test_state_dir_writable_by_others_is_refused(self):
        w = self.workdir()
        os.makedirs(w.state)
        os.chmod(w.state, 0o777)
        rules = '127.0.0.1:9/a/b:v1: 127.0.0.1:9/c/d:v1\n'
        rc, out, err = run_it(self.args(w, '', rules))
        self.assertEqual(rc, 2, out + err)
        self.assertIn('writable by other users', err)
        self.assertIn(w.state, err)
        self.assertFalse(os.path.exists(os.path.join(w.state,
                                                     'journal.db')))

    def test_symlinked_journal_is_refused(self):
        w = self.workdir()
        os.makedirs(w.state, mode=0o700)
        victim = os.path.join(w.dir, 'victim.txt')
        with open(victim, 'w') as f:
            f.write('precious\n{"torn')
        os.symlink(victim, os.path.join(w.state, 'journal.jsonl'))
        rules = '127.0.0.1:9/a/b:v1: 127.0.0.1:9/c/d:v1\n'
        rc, out, err = run_it(self.args(w, '', rules))
        self.assertEqual(rc, 2, out + err)
        self.assertIn('symbolic link', err)
        with open(victim) as f:
            self.assertEqual(f.read(), 'precious\n{"torn')


    def test_no_core_dumps(self):
        """While secrets are in memory: core size limit 0, and the process
        is not dumpable (its /proc files then belong to root)."""
        release = threading.Event()
        self.addCleanup(release.set)

        class Slow(harness.QuietHandler):
            def do_GET(self):
                release.wait(30)  # bounded: the test ends it sooner
                self.send_response(503)
                self.end_headers()
            do_HEAD = do_GET

        port = harness.free_port()
        srv = harness.serve_http(Slow, port)
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        w = self.workdir()
        host = '127.0.0.1:%d' % port
        secrets = ('%s:\n  username: u\n  password: "%s"\n'
                   '  insecure: true\n' % (host, SRC_PW))
        rules = '%s/a/b:v1: %s/c/d:v1\n' % (host, host)
        env = dict(os.environ, HOME=w.dir)
        p = subprocess.Popen([harness.binary()] +
                             self.args(w, secrets, rules),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
        try:
            limits = ''
            for _ in range(100):  # up to 10 s
                with open('/proc/%d/limits' % p.pid) as f:
                    limits = f.read()
                if re.search(r'Max core file size\s+0\s+0', limits):
                    break
                time.sleep(0.1)
            self.assertRegex(limits, r'Max core file size\s+0\s+0')
            if os.geteuid() != 0:
                st = os.stat('/proc/%d/environ' % p.pid)
                self.assertEqual(st.st_uid, 0)
        finally:
            release.set()
            p.kill()
            p.wait(timeout=30)


if __name__ == '__main__':
    unittest.main(verbosity=2)
