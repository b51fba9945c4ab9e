"""Hostile input (issue #10), end to end: the image-transfer binary copies
from hostile_registry.py (tests/fakes/), a source registry that attacks
the tool, into a real docker-registry target with htpasswd basic auth and
deletes enabled. A TcpRecorder in front of the target keeps every byte the
tool sent it, so the tests can check what the target really received: no
injected header, no smuggled request, no unrelated change.

What each test covers (defect numbers of the issue):
  test_01  1  mediaType / Content-Type header injection and request
              smuggling (a DELETE of prod/app:latest with the operator's
              credentials)
  test_02  2  terminal escapes in tag names, digests and error bodies
  test_03  3  endless tag pagination (--max-tags), bounded memory
  test_04  4  manifest sizes out of 0..2^53 (copy and dry run)
  test_04b 4  a token expires_in near INT64_MAX
  test_05  5  20,000 layers with duplicates; a 16 MB manifest of distinct
              layers (the parse must not be quadratic: bounded by a hang
              guard, not a timing assertion)
  test_06a 6  `HOST/team-a: insecure: true` must not reach HOST/team-b
  test_06b 6  a token realm on another host is TLS-verified even when the
              registry is insecure
  test_06c 6  a realm that downgrades https to http is refused
  test_06d 6  basic credentials never go to a realm on another host over
              plain http
  test_06e 6  nor does an identity token from a credential helper (the
              OAuth2 POST is never made)
  test_07  7  credentials a registry reflects in its error body (raw,
              base64 without "Basic ", URL-encoded) never reach stdout,
              stderr, the report, the log file or the journal; harmless
              "/etc/passwd: ..." text is not swallowed
  test_09  9  redirects to file:// ("unsupported redirect") and to
              upper-case HTTP:// (followed)
  test_10  -  what stays true: blobs with wrong bytes are never
              committed, redirect loops end, hostile tag names never
              become a URL, registry error bodies are sanitized

Phrases matched (case-insensitive, loosely) are those of
/work/notes/contracts.md: "not a valid media type", "control character",
"size out of range", "unsupported redirect", "downgrade", "more than N
tags". Every run is bounded by a timeout; everything listens on 127.0.0.1.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ.get('TESTS_DIR',
                                               os.path.dirname(HERE)),
                                'fakes'))
import harness  # noqa: E402
from harness import Registry, seed_image, skopeo_raw  # noqa: E402
import hostile_registry as hr  # noqa: E402
from hostile_registry import HostileRegistry, TokenRealm, TcpRecorder  # noqa

OP_USER, OP_PASS = 'operator', 'Op-Target-Pw-93'
# Characters that URL-encode, so the encoded form differs from the raw one.
SRC_USER, SRC_PASS = 'robot', 'p@ss w/rd:%x'
MiB = 1024 * 1024


def sanitized_binary():
    """True for an -DIT_SANITIZE=ON build (ASan's shadow memory and
    quarantine add a few hundred MiB to any process's RSS)."""
    with open(harness.binary(), 'rb') as f:
        return b'__asan_init' in f.read()


def contains(pattern, text):
    return re.search(pattern, text or '', re.IGNORECASE) is not None


class Run:
    """The outcome of one run of the binary."""

    def __init__(self, rc, out, err, report, journal, maxrss_kib, log):
        self.rc = rc
        self.out = out
        self.err = err
        self.report = report
        self.journal = journal
        self.maxrss_kib = maxrss_kib
        self.log = log

    def images(self):
        return (self.report or {}).get('images', [])

    def image(self, source_part):
        """The report entry whose source contains source_part."""
        for img in self.images():
            if source_part in img.get('source', ''):
                return img
        raise AssertionError('no report entry for %s: %s' % (
            source_part, json.dumps(self.report, indent=1)[:3000]))

    def errors(self):
        return [img.get('error') or '' for img in self.images()]

    def journaled_images(self):
        out = []
        for line in self.journal.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get('t') == 'image':
                out.append(rec)
        return out


def run_binary(args, timeout, workdir):
    """Runs the binary to the end (killed at `timeout`), with its output in
    files (no pipe to fill), and returns (rc, out, err, peak RSS in KiB of
    this child alone, from wait4). rc is None when the timeout hit."""
    env = dict(os.environ)
    env.pop('DEFAULT_REGISTRY', None)
    env.pop('DEFAULT_NAMESPACE', None)
    env['HOME'] = workdir
    outp = os.path.join(workdir, 'stdout.txt')
    errp = os.path.join(workdir, 'stderr.txt')
    with open(outp, 'wb') as fo, open(errp, 'wb') as fe:
        p = subprocess.Popen([harness.binary()] + list(args), stdout=fo,
                             stderr=fe, stdin=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + timeout
    status, ru = None, None
    while True:
        pid, st, usage = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            status, ru = st, usage
            break
        if time.monotonic() > deadline:
            p.kill()
            _, st, usage = os.wait4(p.pid, 0)
            ru = usage
            status = None
            break
        time.sleep(0.05)
    p.returncode = 0  # reaped by hand: keep Popen from waiting again
    with open(outp, 'rb') as f:
        out = f.read().decode(errors='replace')
    with open(errp, 'rb') as f:
        err = f.read().decode(errors='replace')
    rc = None if status is None else os.waitstatus_to_exitcode(status)
    return rc, out, err, ru.ru_maxrss


class HostileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='it-hostile-')
        # One self-signed certificate for 127.0.0.1 (it is its own CA: a
        # --ca-file naming it makes it trusted, otherwise it is not).
        cls.cert = os.path.join(cls.tmp, 'cert.pem')
        cls.key = os.path.join(cls.tmp, 'key.pem')
        harness.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                     'ec_paramgen_curve:prime256v1', '-nodes', '-keyout',
                     cls.key, '-out', cls.cert, '-days', '2', '-subj',
                     '/CN=127.0.0.1', '-addext',
                     'subjectAltName=IP:127.0.0.1'])
        cls.dst = Registry(auth='basic', users={OP_USER: OP_PASS}).start()
        cls.rec = TcpRecorder(cls.dst.port).start()
        cls.src = HostileRegistry().start()
        cls.honest = cls.src.add_image('honest/app', 'v1', seed=7)
        cls.others = []

    @classmethod
    def tearDownClass(cls):
        for obj in cls.others + [cls.src, cls.rec, cls.dst]:
            obj.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def keep(self, obj):
        """Starts obj (a server) and stops it at the end of the class."""
        obj.start()
        type(self).others.append(obj)
        return obj

    # ------------------------------------------------------------ helpers

    def workdir(self):
        w = harness.Workdir(prefix='it-hostile-run-')
        self.addCleanup(w.cleanup)
        return w

    def secrets(self, *extra):
        """The hostile source (plain http, insecure) and the target behind
        the recorder (basic auth, insecure: plain http), plus extra
        entries (YAML text)."""
        return ('%s:\n  insecure: true\n'
                '%s:\n  username: %s\n  password: "%s"\n  insecure: true\n'
                % (self.src.host, self.rec.host, OP_USER, OP_PASS) +
                ''.join(extra))

    def rule(self, src_ref, dst_repo, src_host=None, tag=None):
        """'SRC_HOST/src_ref: TARGET/dst_repo[:tag]' as a YAML line."""
        return '"%s/%s": "%s/%s%s"\n' % (src_host or self.src.host, src_ref,
                                         self.rec.host, dst_repo,
                                         ':' + tag if tag else '')

    def transfer(self, w, rules, secrets=None, extra=(), timeout=120,
                 log_file=None, expect_rc=None):
        args = ['--securityFile', w.write('registry-secret.yaml',
                                          secrets or self.secrets()),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--qps=0', '--retry=0', '--retry-window=0', '--routines=4']
        if log_file:
            args += ['--log-file', log_file]
        args += list(extra)
        rc, out, err, rss = run_binary(args, timeout, w.dir)
        report = w.load_report() if os.path.exists(w.report) else None
        log = ''
        if log_file and os.path.exists(log_file):
            with open(log_file, errors='replace') as f:
                log = f.read()
        r = Run(rc, out, err, report, w.journal(), rss, log)
        self.assertIsNotNone(rc, 'the run did not end within %d s:\n%s' % (
            timeout, err[-3000:]))
        self.assertGreaterEqual(rc, 0, 'killed by signal %d (crash):\n%s'
                                % (-rc if rc else 0, err[-3000:]))
        # Under -DIT_SANITIZE=ON, UBSan reports do not change the exit code.
        for needle in ('runtime error:', 'Sanitizer'):
            self.assertNotIn(needle, err + log)
        for text in (out, err, log, r.journal, json.dumps(report)):
            self.assertNotIn(OP_PASS, text)
        if expect_rc is not None:
            self.assertEqual(rc, expect_rc, 'stdout:\n%s\nstderr:\n%s' % (
                out[-3000:], err[-3000:]))
        return r

    def dst_manifest_digest(self, repo, ref):
        """Docker-Content-Digest of the target's repo:ref, None if absent
        (asked directly, not through the recorder)."""
        status, headers, _ = self.dst.request(
            'HEAD', '/v2/%s/manifests/%s' % (repo, ref),
            headers={'Accept': ', '.join(harness.MT.values())})
        self.assertIn(status, (200, 404))
        return headers.get('Docker-Content-Digest') if status == 200 else None

    def assert_copied(self, run, source_part, dst_repo, src_info):
        img = run.image(source_part)
        self.assertEqual(img['status'], 'copied', img)
        self.assertEqual(self.dst_manifest_digest(dst_repo, 'v1'),
                         src_info['digest'])

    def assert_failed(self, run, source_part, pattern):
        img = run.image(source_part)
        self.assertEqual(img['status'], 'failed', img)
        self.assertTrue(contains(pattern, img.get('error')),
                        'error of %s does not match /%s/: %r' % (
                            source_part, pattern, img.get('error')))
        return img

    @staticmethod
    def control_bytes(text):
        return [c for c in text if ord(c) < 0x20 and c not in '\n\t'
                or ord(c) == 0x7f]

    def assert_no_escapes(self, run, results=1):
        """No raw ESC, BEL or other control byte in stdout, stderr or any
        string of the report; `results` real "Result:" lines (a dry run
        prints none) and no fake one."""
        for name, text in (('stdout', run.out), ('stderr', run.err)):
            self.assertEqual(self.control_bytes(text), [],
                             '%s holds control bytes:\n%r' % (name, text))
        strings = []

        def walk(v):
            if isinstance(v, str):
                strings.append(v)
            elif isinstance(v, dict):
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
        walk(run.report)
        for s in strings:
            self.assertFalse(any(ord(c) < 0x20 or ord(c) == 0x7f
                                 for c in s),
                             'report string holds control bytes: %r' % s)
        lines = [l for l in run.out.splitlines()
                 if l.lstrip().startswith('Result:')]
        self.assertEqual(len(lines), results, run.out)
        self.assertFalse(any(l.lstrip().startswith('Result:')
                             for l in run.err.splitlines()), run.err)

    # -------------------------------------------------------------- tests

    def test_00_the_double_itself(self):
        """hostile_registry.py stand-alone: an honest image it serves is a
        valid image (skopeo copies it, checking every digest); the case
        repositories answer as documented."""
        script = os.path.join(os.path.dirname(HERE), 'fakes',
                              'hostile_registry.py')
        p = subprocess.Popen([sys.executable, script, '--image',
                              'honest/cli:v1'], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            self.assertRegex(line, r'^LISTENING \d+ STORE \d+$')
            host = '127.0.0.1:%d' % int(line.split()[1])
            out = os.path.join(self.tmp, 'skopeo-dir')
            harness.run(['skopeo', 'copy', '--src-tls-verify=false',
                         'docker://%s/honest/cli:v1' % host, 'dir:' + out],
                        timeout=60)
            with open(os.path.join(out, 'manifest.json'), 'rb') as f:
                m = json.loads(f.read())
            self.assertEqual(len(m['layers']), 2)
            tags = harness.run(['skopeo', 'list-tags', '--tls-verify=false',
                                'docker://%s/hostile/esc-tags' % host],
                               timeout=60).stdout
            self.assertIn(hr.ESC_TITLE, json.loads(tags)['Tags'])
        finally:
            p.terminate()
            p.wait(timeout=10)
            p.stdout.close()
            p.stderr.close()

    def test_01_media_type_injection_never_reaches_the_target(self):
        """Defect 1: a mediaType holding CR LF + headers + a smuggled DELETE
        of prod/app:latest, and a Content-Type header holding a bare CR +
        a header: both images fail with a clear error before any PUT;
        prod/app:latest survives; the target never saw the forged headers
        or a DELETE; nothing is journaled as copied; exit code 1."""
        prod = seed_image(self.dst, 'prod/app', 'latest', kind='v2s2',
                          seed=4101)
        self.src.set_smuggle(self.rec.host, 'prod/app', prod['digest'])
        self.rec.clear()
        w = self.workdir()
        rules = (self.rule('hostile/crlf-mediatype:v1', 'h1/crlf', tag='v1') +
                 self.rule('hostile/ctl-content-type:v1', 'h1/ctl',
                           tag='v1') +
                 self.rule('honest/app:v1', 'h1/honest', tag='v1'))
        run = self.transfer(w, rules, expect_rc=1)
        # The operator's image is still there, unchanged.
        self.assertEqual(self.dst_manifest_digest('prod/app', 'latest'),
                         prod['digest'])
        self.assertEqual(skopeo_raw(self.dst, 'prod/app', 'latest'),
                         prod['manifest'])
        # What the target received: no forged header, no DELETE at all.
        sent = self.rec.sent()
        self.assertNotIn(hr.INJECT_HEADER.encode(), sent)
        self.assertNotIn(hr.FORGED_HEADER.encode(), sent)
        lines = self.rec.request_lines()
        self.assertTrue(lines, 'the recorder saw no request')
        self.assertEqual([l for l in lines if l[0] == 'DELETE'], [], lines)
        self.assertEqual([l for l in lines if l[0] == 'PUT' and
                          '/h1/crlf/manifests/' in l[1]], [], lines)
        # The image failed, with a clear error, and is not on the target.
        self.assert_failed(run, 'hostile/crlf-mediatype',
                           r'not a valid media type')
        self.assertIsNone(self.dst_manifest_digest('h1/crlf', 'v1'))
        # The bare CR in a Content-Type: a clear error, or (a fix that
        # ignores an invalid Content-Type and goes by the body's shape) a
        # clean copy; either way the header went nowhere (checked above).
        ctl = run.image('hostile/ctl-content-type')
        if ctl['status'] != 'copied':
            self.assert_failed(run, 'hostile/ctl-content-type',
                               r'not a valid media type|control character')
            self.assertIsNone(self.dst_manifest_digest('h1/ctl', 'v1'))
        journaled = [rec['source'] for rec in run.journaled_images()]
        self.assertFalse([s for s in journaled if 'crlf-mediatype' in s or
                          ('ctl-content-type' in s and
                           ctl['status'] != 'copied')], journaled)
        # The honest image of the same run is copied.
        self.assert_copied(run, 'honest/app', 'h1/honest', self.honest)

    def test_02_terminal_escapes_never_reach_the_terminal(self):
        """Defect 2: tag names (ESC ]0;..BEL, ESC [2J, "\\nResult:
        success"), a digest quoted in a manifest error and a registry error
        body all carry control sequences: stdout, stderr and the report
        hold none of them raw, and the real "Result:" line is the only
        one. Then the same as a dry run."""
        # The target has h2/digest:v1 already: the source is asked by HEAD
        # first, whose Docker-Content-Digest holds escapes too.
        seed_image(self.dst, 'h2/digest', 'v1', kind='v2s2', seed=4201)
        rules = (self.rule('hostile/esc-tags', 'h2/tags') +
                 self.rule('hostile/esc-digest:v1', 'h2/digest', tag='v1') +
                 self.rule('honest/app:v1', 'h2/honest', tag='v1'))
        w = self.workdir()
        run = self.transfer(w, rules, extra=['--progress-interval=1'],
                            expect_rc=1)
        self.assert_no_escapes(run)
        self.assert_failed(run, 'hostile/esc-digest', r'digest')
        self.assertGreaterEqual(
            len([i for i in run.images() if 'hostile/esc-tags' in
                 i['source'] and i['status'] == 'failed']), 1, run.report)
        self.assert_copied(run, 'honest/app', 'h2/honest', self.honest)
        w2 = self.workdir()
        dry = self.transfer(w2, rules, extra=['--dry-run'], expect_rc=1)
        self.assert_no_escapes(dry, results=0)
        self.assertEqual(len([l for l in dry.out.splitlines()
                              if l.startswith('dry run:')]), 1, dry.out)

    def test_03_endless_tag_pages_stop_at_the_cap(self):
        """Defect 3: every tags page holds 10,000 new tags and a Link to the
        next. With --max-tags=20000 that repository fails with a clear
        error naming the limit, the run ends (hang guard), the peak RSS of
        the process stays bounded, and another repository of the same run
        is copied."""
        self.src.clear_logs()
        rules = (self.rule('hostile/endless', 'h3/endless') +
                 self.rule('honest/app:v1', 'h3/honest', tag='v1'))
        w = self.workdir()
        run = self.transfer(w, rules, extra=['--max-tags=20000',
                                             '--progress-interval=0'],
                            timeout=150)
        self.assertEqual(run.rc, 1, run.err[-3000:])
        # Generous: the pages of 20,000 tags take a few MiB; the defect
        # grew by ~27 MiB a second without end.
        bound = (600 if sanitized_binary() else 200) * MiB
        self.assertLess(run.maxrss_kib * 1024, bound,
                        'peak RSS %d KiB' % run.maxrss_kib)
        limit = [e for e in run.errors()
                 if contains(r'more than 20,?000 tags', e)]
        self.assertTrue(limit, 'no error names the limit: %s' % (
            sorted(set(run.errors()))[:10],))
        pages = [r for r in self.src.requests()
                 if '/hostile/endless/tags/list' in r['path']]
        self.assertLessEqual(len(pages), 10, 'tag pages fetched')
        self.assert_copied(run, 'honest/app', 'h3/honest', self.honest)

    def test_04_sizes_out_of_range(self):
        """Defect 4: a layer size of INT64_MAX, -1, 2^53+1, and two layers of
        2^62 (their sum overflows): each image fails with "size out of
        range" and nothing crashes; the dry run reports no negative
        total."""
        cases = ('size-max', 'size-neg', 'size-2p53', 'size-sum')
        rules = ''.join(self.rule('hostile/%s:v1' % c, 'h4/%s' % c,
                                  tag='v1') for c in cases)
        rules += self.rule('honest/app:v1', 'h4/honest', tag='v1')
        for dry in (False, True):
            w = self.workdir()
            run = self.transfer(w, rules,
                                extra=['--dry-run'] if dry else [],
                                expect_rc=1)
            for c in cases:
                self.assert_failed(run, 'hostile/%s:' % c,
                                   r'size out of range')
                self.assertIsNone(self.dst_manifest_digest('h4/%s' % c, 'v1'))
            if dry:
                self.assertNotRegex(run.out, r'\(-\d|, -\d| -\d+ bytes')
                m = re.search(r'dry run: .*?\((\d+) bytes', run.out)
                self.assertIsNotNone(m, run.out)
                self.assertLess(int(m.group(1)), 2 ** 53)
            else:
                self.assert_copied(run, 'honest/app', 'h4/honest',
                                   self.honest)

    def test_04b_token_lifetime_near_int64_max(self):
        """Defect 4: a token server answering expires_in = INT64_MAX. The
        lifetime is clamped, so the token is cached: one token per scope
        for one image (today the sum overflows, the token counts as expired
        and is fetched again for every request)."""
        tok = self.keep(HostileRegistry(auth='bearer',
                                        expires_in=hr.INT64_MAX))
        info = tok.add_image('tok/app', 'v1', seed=44, n_layers=3)
        w = self.workdir()
        rules = self.rule('tok/app:v1', 'h4b/app', src_host=tok.host,
                          tag='v1')
        secrets = self.secrets('%s:\n  insecure: true\n' % tok.host)
        run = self.transfer(w, rules, secrets=secrets,
                            extra=['--routines=1'], expect_rc=0)
        self.assert_copied(run, 'tok/app', 'h4b/app', info)
        scoped = [t for t in tok.token_requests()
                  if 'repository:tok/app:pull' in t['scopes']]
        self.assertGreaterEqual(len(scoped), 1)
        self.assertLessEqual(len(scoped), 2, 'token fetched again for each '
                             'request: %d times' % len(scoped))

    def test_05_many_layers(self):
        """Defect 5: 20,000 layer descriptors (a quarter duplicates): the
        dry run plans each distinct blob once. A 16 MB manifest of distinct
        layers (the most the tool accepts) is planned too: a linear-scan
        de-duplication takes minutes on it, a hash set well under a second;
        the timeout is a hang guard far above either healthy time."""
        src = self.src
        w = self.workdir()
        run = self.transfer(w, self.rule('hostile/many-layers:v1', 'h5/many',
                                         tag='v1'),
                            extra=['--dry-run'], timeout=60, expect_rc=0)
        self.assertIn('(%d new blobs' % (src.many_unique + 1), run.out)
        w2 = self.workdir()
        run = self.transfer(w2, self.rule('hostile/huge-layers:v1',
                                          'h5/huge', tag='v1'),
                            extra=['--dry-run'], timeout=30, expect_rc=0)
        self.assertIsNotNone(src.huge_unique)
        self.assertIn('(%d new blobs' % (src.huge_unique + 1), run.out)

    def test_06a_insecure_is_scoped_to_its_namespace(self):
        """Defect 6: `HOST/team-a: insecure: true` skips TLS verification
        for team-a only; team-b of the same host (self-signed certificate)
        fails certificate verification."""
        tls = self.keep(HostileRegistry(tls=(self.cert, self.key)))
        a = tls.add_image('team-a/app', 'v1', seed=61)
        tls.add_image('team-b/app', 'v1', seed=62)
        secrets = self.secrets('"%s/team-a":\n  insecure: true\n' % tls.host)
        rules = (self.rule('team-a/app:v1', 'h6a/a', src_host=tls.host,
                           tag='v1') +
                 self.rule('team-b/app:v1', 'h6a/b', src_host=tls.host,
                           tag='v1'))
        run = self.transfer(self.workdir(), rules, secrets=secrets,
                            expect_rc=1)
        self.assert_copied(run, 'team-a/app', 'h6a/a', a)
        self.assert_failed(run, 'team-b/app',
                           r'certificate|verif|TLS|SSL')
        self.assertIsNone(self.dst_manifest_digest('h6a/b', 'v1'))

    def test_06b_foreign_token_realm_is_tls_verified(self):
        """Defect 6: the registry is insecure (plain http); its Bearer realm
        is https on another host with an untrusted certificate. The realm
        is verified anyway: the image fails and the realm never got a
        request."""
        realm = self.keep(TokenRealm(tls=(self.cert, self.key)))
        reg = self.keep(HostileRegistry(auth='bearer', realm=realm.realm))
        reg.add_image('realm/app', 'v1', seed=63)
        secrets = self.secrets('%s:\n  insecure: true\n' % reg.host)
        run = self.transfer(self.workdir(),
                            self.rule('realm/app:v1', 'h6b/app',
                                      src_host=reg.host, tag='v1'),
                            secrets=secrets, expect_rc=1)
        self.assert_failed(run, 'realm/app', r'certificate|verif|TLS|SSL')
        self.assertEqual(realm.requests(), [])
        self.assertIsNone(self.dst_manifest_digest('h6b/app', 'v1'))

    def test_06c_realm_downgrade_to_http_is_refused(self):
        """Defect 6: an https registry (trusted through --ca-file, not
        insecure) names an http:// realm: refused ("downgrade"); the realm
        never got a request, so neither the credentials nor anything
        else went out in clear."""
        realm = self.keep(TokenRealm())
        reg = self.keep(HostileRegistry(auth='bearer', realm=realm.realm,
                                        tls=(self.cert, self.key)))
        reg.add_image('down/app', 'v1', seed=64)
        secrets = self.secrets('%s:\n  username: %s\n  password: "%s"\n'
                               % (reg.host, SRC_USER, SRC_PASS))
        run = self.transfer(self.workdir(),
                            self.rule('down/app:v1', 'h6c/app',
                                      src_host=reg.host, tag='v1'),
                            secrets=secrets, extra=['--ca-file', self.cert],
                            expect_rc=1)
        self.assert_failed(run, 'down/app', r'downgrade')
        self.assertEqual(realm.requests(), [])

    def test_06d_no_basic_credentials_to_a_foreign_http_realm(self):
        """Defect 6: a plain-http registry with credentials names a realm on
        another host, also plain http: the realm never receives the basic
        credentials (whether the token request goes anonymous or is
        refused)."""
        realm = self.keep(TokenRealm())
        # "localhost" is another host name than the registry's 127.0.0.1
        # (the same machine, as everything in these tests).
        other = realm.realm.replace('//127.0.0.1:', '//localhost:')
        reg = self.keep(HostileRegistry(auth='bearer', realm=other))
        reg.add_image('cred/app', 'v1', seed=65)
        secrets = self.secrets('%s:\n  username: %s\n  password: "%s"\n'
                               '  insecure: true\n'
                               % (reg.host, SRC_USER, SRC_PASS))
        run = self.transfer(self.workdir(),
                            self.rule('cred/app:v1', 'h6d/app',
                                      src_host=reg.host, tag='v1'),
                            secrets=secrets)
        self.assertIn(run.rc, (0, 1))
        got = [r['authorization'] for r in realm.requests()
               if r['authorization']]
        self.assertEqual(got, [], 'the realm received credentials')

    def test_06e_no_identity_token_to_a_foreign_http_realm(self):
        """Defect 6, identity tokens (issue 16): a credential helper answers
        an identity token for a plain-http registry whose realm is on
        another host, also plain http: refused before anything is sent
        (no connection to the realm); the token never shows."""
        idtok = 'hostile-idt0k-' + 'Z2l2ZW4'
        realm = self.keep(TokenRealm())
        other = realm.realm.replace('//127.0.0.1:', '//localhost:')
        reg = self.keep(HostileRegistry(auth='bearer', realm=other))
        reg.add_image('idtok/app', 'v1', seed=66)
        w = self.workdir()
        bindir = os.path.join(w.dir, 'bin')
        os.makedirs(bindir)
        helper = os.path.join(bindir, 'docker-credential-hostileid')
        with open(helper, 'w') as f:
            f.write('#!/bin/sh\ncat >/dev/null\nprintf \'{"Username":'
                    '"<token>","Secret":"%s"}\'\n' % idtok)
        os.chmod(helper, 0o700)
        os.makedirs(os.path.join(w.dir, '.docker'))
        harness.write_private(
            os.path.join(w.dir, '.docker', 'config.json'),
            json.dumps({'credHelpers': {reg.host: 'hostileid'}}))
        # run_binary passes this process's environment on (HOME = w.dir)
        old_path = os.environ.get('PATH', '')
        self.addCleanup(os.environ.__setitem__, 'PATH', old_path)
        os.environ['PATH'] = bindir + os.pathsep + old_path
        old_dc = os.environ.pop('DOCKER_CONFIG', None)
        if old_dc is not None:
            self.addCleanup(os.environ.__setitem__, 'DOCKER_CONFIG', old_dc)
        secrets = self.secrets('%s:\n  insecure: true\n' % reg.host)
        log = os.path.join(w.dir, 'run.log')
        run = self.transfer(w, self.rule('idtok/app:v1', 'h6e/app',
                                         src_host=reg.host, tag='v1'),
                            secrets=secrets, log_file=log,
                            extra=('--log-level', 'debug'))
        self.assertEqual(run.rc, 1)
        self.assert_failed(run, 'idtok/app',
                           r'not sending the identity token to the token '
                           r'realm http://localhost:\d+/token: another host '
                           r'over plain http \(https required\)')
        self.assertEqual(realm.requests(), [])
        self.assertEqual(realm.connections, 0)
        for text in (run.out, run.err, run.log, run.journal,
                     json.dumps(run.report)):
            self.assertNotIn(idtok, text)

    def test_07_reflected_credentials_are_redacted(self):
        """Defect 7: a registry reflects the credentials it received in its
        error messages: the password, base64(user:password) without "Basic
        ", the URL-encoded password (%20 and + forms), the whole header.
        None reaches stdout, stderr, the report, the log file or the
        journal. Harmless text "/etc/passwd: <marker>" is not swallowed."""
        reg = self.keep(HostileRegistry(auth='basic',
                                        users={SRC_USER: SRC_PASS}))
        raw = '%s:%s' % (SRC_USER, SRC_PASS)
        forms = {
            'password': SRC_PASS,
            'base64': base64.b64encode(raw.encode()).decode(),
            'url-encoded': urllib.parse.quote(SRC_PASS, safe=''),
            'url-encoded+': urllib.parse.quote_plus(SRC_PASS),
        }
        secrets = self.secrets('%s:\n  username: %s\n  password: "%s"\n'
                               '  insecure: true\n'
                               % (reg.host, SRC_USER, SRC_PASS))
        rules = self.rule('hostile/reflect', 'h7/reflect', src_host=reg.host)
        for log_file in (False, True):
            w = self.workdir()
            run = self.transfer(
                w, rules, secrets=secrets, expect_rc=1,
                log_file=os.path.join(w.dir, 'it.log') if log_file else None,
                extra=['--log-level=debug'] if log_file else [])
            self.assertEqual(len(run.images()), 6, run.report)
            # The registry did reflect them (the test checks something).
            self.assertTrue(any('you sent' in e for e in run.errors()),
                            run.errors())
            texts = {'stdout': run.out, 'stderr': run.err,
                     'report': json.dumps(run.report, ensure_ascii=False),
                     'log file': run.log, 'journal': run.journal}
            for where, text in texts.items():
                for name, value in forms.items():
                    self.assertNotIn(value, text, '%s form of the password '
                                     'in %s' % (name, where))
            # Harmless prose is not taken for a password.
            self.assertIn('harmless-marker-4711',
                          run.log if log_file else run.err)

    def test_09_redirect_schemes(self):
        """Defect 9: a blob or manifest GET redirected to file:///etc/passwd
        fails with "unsupported redirect" (and never becomes a path on the
        registry); one redirected to upper-case HTTP:// on another port is
        followed like http:// and the image is copied."""
        self.src.clear_logs()
        rules = ''.join(self.rule('hostile/%s:v1' % c, 'h9/%s' % c, tag='v1')
                        for c in ('redir-blob-file', 'redir-manifest-file',
                                  'redir-blob-upper',
                                  'redir-manifest-upper'))
        run = self.transfer(self.workdir(), rules, expect_rc=1)
        for c in ('redir-blob-file', 'redir-manifest-file'):
            self.assert_failed(run, 'hostile/%s:' % c, r'unsupported redirect')
            self.assertIsNone(self.dst_manifest_digest('h9/%s' % c, 'v1'))
        bad = [r['path'] for r in self.src.requests()
               if 'passwd' in r['path'] or not r['path'].startswith('/v2/')]
        self.assertEqual(bad, [], 'redirect targets taken for paths')
        for c in ('redir-blob-upper', 'redir-manifest-upper'):
            body, _ = self.src.manifests[('hostile/' + c, 'v1')]
            self.assert_copied(run, 'hostile/%s:' % c, 'h9/%s' % c,
                               {'digest': harness.sha256_digest(body)})
        hits = [h['path'] for h in self.src.store_hits()]
        self.assertTrue(any('/store/blobs/' in p for p in hits), hits)
        self.assertTrue(any('/store/manifests/' in p for p in hits), hits)

    def test_10_what_stays_true(self):
        """Already true today, kept: a blob whose bytes do not match its
        digest is never committed; redirect loops end with an error;
        hostile tag names (paths, queries, escapes, spaces) never become a
        URL on either side; a registry's error body is sanitized."""
        self.src.clear_logs()
        self.rec.clear()
        rules = (self.rule('hostile/wrong-bytes:v1', 'h10/wrong', tag='v1') +
                 self.rule('hostile/redir-loop-blob:v1', 'h10/loopb',
                           tag='v1') +
                 self.rule('hostile/redir-loop-manifest:v1', 'h10/loopm',
                           tag='v1') +
                 self.rule('hostile/bad-names', 'h10/names'))
        run = self.transfer(self.workdir(), rules, expect_rc=1)
        # Wrong bytes: failed, the blob is not on the target, no tag.
        self.assert_failed(run, 'hostile/wrong-bytes', r'digest')
        body, _ = self.src.manifests[('hostile/wrong-bytes', 'v1')]
        layer = json.loads(body)['layers'][0]['digest']
        status, _, _ = self.dst.request('HEAD', '/v2/h10/wrong/blobs/' +
                                        layer)
        self.assertEqual(status, 404)
        self.assertIsNone(self.dst_manifest_digest('h10/wrong', 'v1'))
        # Redirect loops end, after a bounded number of requests.
        self.assert_failed(run, 'hostile/redir-loop-blob', r'redirect')
        self.assert_failed(run, 'hostile/redir-loop-manifest', r'redirect')
        loops = [r for r in self.src.requests() if '/redir-loop-' in
                 r['path']]
        self.assertLess(len(loops), 60, len(loops))
        # Hostile tag names: each image failed, none became a URL.
        names = [i for i in run.images() if 'hostile/bad-names' in
                 i['source']]
        self.assertEqual(len(names), len(self.src.tags['hostile/bad-names']),
                         run.report)
        for img in names:
            self.assertEqual(img['status'], 'failed', img)
        src_paths = [r['path'] for r in self.src.requests()
                     if '/hostile/bad-names/' in r['path'] and
                     not r['path'].endswith('/tags/list')]
        self.assertEqual(src_paths, [])
        dst_paths = [p for _, p in self.rec.request_lines()
                     if '/h10/names/' in p and not p.endswith('/tags/list')]
        self.assertEqual(dst_paths, [])
        self.assertNotIn(b'..', b''.join(
            p.encode() for _, p in self.rec.request_lines()))
        # Error bodies with escapes (hostile/esc-tags:ok) come out sanitized:
        # covered by test_02's checks of the whole output.


if __name__ == '__main__':
    unittest.main(verbosity=2)
