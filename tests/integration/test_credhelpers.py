"""Logins from where they already are (issue #16 §1): Docker credential
helpers named by ~/.docker/config.json ("credsStore", "credHelpers"), and a
registry-secret.yaml entry holding only `insecure: true` that leaves the
Docker config's login in force.

The image-transfer binary copies between real docker-registry processes
(htpasswd basic auth on the target). The real helper is Debian's
docker-credential-pass over a throw-away gpg key and password store; the
error cases use small shell scripts named docker-credential-<x> on a
temporary PATH. The password never appears in stdout, stderr, the report,
the journal or the log.

An identity token (a helper answering Username "<token>") is exchanged at
the token server with docker's OAuth2 refresh-token POST; the harness's
token server checks it against a registry configured for token auth."""
import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Registry, seed_image, skopeo_raw  # noqa: E402

USER = 'carol'
PW = 'Cr3d-Helper-Pa55'
# What must never be shown: the password, base64 of user:password, and
# what the scripted helpers print on stdout.
IDTOK = 'idt0k-Refresh+/=' + 'Qm9i'
WRONG_IDTOK = 'wr0ng-idt0k-Refresh'
NEVER = [PW, base64.b64encode(('%s:%s' % (USER, PW)).encode()).decode(),
         'stdout-sekrit', IDTOK, WRONG_IDTOK,
         urllib.parse.quote(IDTOK, safe=''), 'idt0k-Refresh']


class CredHelpersTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        cls.tls_dst = Registry(auth='basic', tls=True,
                               users={USER: PW}).start()
        cls.http_dst = Registry(auth='basic', users={USER: PW}).start()
        cls.tok_dst = Registry(auth='token', tls=True,
                               users={USER: PW}).start()
        cls.tok_dst.token_server.identity_tokens[IDTOK] = USER
        seed_image(cls.src, 'team/app', 'v1', kind='v2s2', seed=1601)
        seed_image(cls.src, 'team/app', 'v2', kind='oci', seed=1602)

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.tls_dst.stop()
        cls.http_dst.stop()
        cls.tok_dst.stop()

    # ------------------------------------------------------------ helpers
    def workdir(self):
        w = harness.Workdir(prefix='it-credhelper-')
        self.addCleanup(w.cleanup)
        w.bin = os.path.join(w.dir, 'bin')
        w.docker = os.path.join(w.dir, 'docker')
        os.makedirs(w.bin)
        os.makedirs(w.docker)
        w.log = os.path.join(w.dir, 'run.log')
        return w

    def docker_config(self, w, cfg):
        harness.write_private(os.path.join(w.docker, 'config.json'),
                              json.dumps(cfg))
        return os.path.join(w.docker, 'config.json')

    def script(self, w, name, body):
        path = os.path.join(w.bin, 'docker-credential-' + name)
        with open(path, 'w') as f:
            f.write('#!/bin/sh\n' + body + '\n')
        os.chmod(path, stat.S_IRWXU)
        return path

    def run_it(self, w, dst, secrets, env=None, tags=('v1',), timeout=180):
        rules = ''.join('%s/team/app:%s: %s/copied/app:%s\n' % (
            self.src.host, t, dst.host, t) for t in tags)
        args = ['--securityFile', w.write('registry-secret.yaml', secrets),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--qps=0', '--routines=2', '--retry=0', '--retry-window=0',
                '--log-file', w.log, '--log-level', 'debug']
        if dst.ca_file:
            args += ['--ca-file', dst.ca_file]
        e = {'DOCKER_CONFIG': w.docker,
             'PATH': w.bin + os.pathsep + os.environ.get('PATH', '')}
        e.update(env or {})
        rc, out, err = harness.run_binary(
            args, timeout=timeout, env=e, home=w.dir,
            unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'))
        self.assert_no_secret(w, out, err)
        return rc, out, err

    def assert_no_secret(self, w, out, err):
        texts = {'stdout': out, 'stderr': err}
        for name, path in (('report', w.report), ('log', w.log),
                           ('journal', os.path.join(w.state,
                                                    'journal.jsonl'))):
            if os.path.exists(path):
                with open(path, errors='replace') as f:
                    texts[name] = f.read()
        if os.path.isdir(w.state):
            texts['journal.db'] = w.journal()
        for name, text in texts.items():
            for secret in NEVER:
                self.assertNotIn(secret, text, (name, secret))
            self.assertNotIn('\x1b', text, name)
        # the raw bytes of every file of the state dir (SQLite and its WAL)
        for root, _, files in os.walk(w.state):
            for fn in files:
                with open(os.path.join(root, fn), 'rb') as f:
                    raw = f.read()
                for secret in NEVER:
                    self.assertNotIn(secret.encode(), raw, (fn, secret))

    def secrets_src(self):
        return '%s:\n  insecure: true\n' % self.src.host

    def images(self, w):
        return {i['source']: i for i in w.load_report()['images']}

    def assert_copied(self, dst, tags=('v1',)):
        for t in tags:
            self.assertEqual(skopeo_raw(self.src, 'team/app', t),
                             skopeo_raw(dst, 'copied/app', t))

    def assert_failed_with(self, w, rc, out, err, text):
        self.assertEqual(rc, 1, out + err)
        imgs = w.load_report()['images']
        self.assertTrue(imgs)
        for i in imgs:
            self.assertEqual(i['status'], 'failed', i)
            self.assertIn(text, i['error'] or '', i)

    # ------------------------------------------- the real helper: pass
    def pass_store(self, w):
        """A throw-away gpg key and password store holding the target's
        login, stored with docker-credential-pass itself. Returns the
        environment that finds them."""
        for prog in ('docker-credential-pass', 'pass', 'gpg', 'gpgconf'):
            if shutil.which(prog) is None:
                self.skipTest('%s not installed (deploy/install-deps.sh '
                              'installs golang-docker-credential-helpers and '
                              'pass)' % prog)
        gnupg = os.path.join(w.dir, 'gnupg')
        os.makedirs(gnupg, mode=0o700)
        env = dict(os.environ, GNUPGHOME=gnupg,
                   PASSWORD_STORE_DIR=os.path.join(w.dir, 'store'))
        self.addCleanup(subprocess.run, ['gpgconf', '--kill', 'gpg-agent'],
                        env=env, capture_output=True, timeout=30)
        harness.run(['gpg', '--batch', '--passphrase', '',
                     '--quick-gen-key', 'it test <it@example.invalid>',
                     'default', 'default', 'never'], env=env, timeout=120)
        out = harness.run(['gpg', '--list-keys', '--with-colons'],
                          env=env).stdout.decode()
        fpr = [ln.split(':')[9] for ln in out.splitlines()
               if ln.startswith('fpr:')][0]
        harness.run(['pass', 'init', fpr], env=env)
        creds = json.dumps({'ServerURL': self.tls_dst.host,
                            'Username': USER, 'Secret': PW})
        p = subprocess.run(['docker-credential-pass', 'store'],
                           input=creds.encode(), env=env,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return {'GNUPGHOME': env['GNUPGHOME'],
                'PASSWORD_STORE_DIR': env['PASSWORD_STORE_DIR']}

    def test_pass_helper(self):
        """credsStore "pass" and credHelpers {host: "pass"}: the run logs
        in to the target with the login docker-credential-pass keeps."""
        w = self.workdir()
        env = self.pass_store(w)
        dst = self.tls_dst
        cfg = self.docker_config(w, {'auths': {dst.host: {}},
                                     'credsStore': 'pass'})
        rc, out, err = self.run_it(w, dst, self.secrets_src(), env=env,
                                   tags=('v1', 'v2'))
        self.assertEqual(rc, 0, out + err)
        self.assert_copied(dst, ('v1', 'v2'))
        with open(w.log) as f:
            log = f.read()
        self.assertIn('registry %s: login of user "%s" from '
                      'docker-credential-pass (credsStore in %s)' % (
                          dst.host, USER, cfg), log)
        # the source has nothing in the store: anonymous, no error
        self.assertIn('registry %s: docker-credential-pass has no login '
                      'for it' % self.src.host, log)

        # credHelpers for the target alone, a fresh tag
        w2 = self.workdir()
        cfg = self.docker_config(w2, {'credHelpers': {dst.host: 'pass'}})
        rc, out, err = self.run_it(w2, dst, self.secrets_src(), env=env)
        self.assertEqual(rc, 0, out + err)
        with open(w2.log) as f:
            self.assertIn('(credHelpers in %s)' % cfg, f.read())

        # without the helper's login the target refuses: the login above
        # did come from the helper
        w3 = self.workdir()
        self.docker_config(w3, {})
        rc, out, err = self.run_it(w3, dst, self.secrets_src(), env=env)
        self.assertEqual(rc, 1, out + err)

    # ------------------------------------------- scripted helpers: errors
    def test_missing_helper(self):
        w = self.workdir()
        cfg = self.docker_config(w, {'credsStore': 'nope'})
        rc, out, err = self.run_it(w, self.tls_dst, self.secrets_src())
        self.assert_failed_with(
            w, rc, out, err, 'docker-credential-nope not found on PATH '
            '(credsStore in %s)' % cfg)

    def test_failing_helper(self):
        """Exit status and stderr's first line (escapes made harmless);
        stdout is never shown."""
        w = self.workdir()
        self.script(w, 'fails', "echo 'stdout-sekrit'\n"
                    "printf 'store \\033]0;pwned\\007locked\\nmore\\n' >&2\n"
                    'exit 4')
        cfg = self.docker_config(w, {'credHelpers': {self.tls_dst.host:
                                                     'fails'}})
        rc, out, err = self.run_it(w, self.tls_dst, self.secrets_src())
        self.assert_failed_with(
            w, rc, out, err, 'docker-credential-fails get failed (exit '
            'status 4): store ?]0;pwned?locked (credHelpers in %s)' % cfg)

    def test_garbage_answer(self):
        w = self.workdir()
        self.script(w, 'junk', "echo 'Username: stdout-sekrit'")
        self.docker_config(w, {'credHelpers': {self.tls_dst.host: 'junk'}})
        rc, out, err = self.run_it(w, self.tls_dst, self.secrets_src())
        self.assert_failed_with(w, rc, out, err, 'not a JSON object')

    def test_secret_with_newline_is_refused(self):
        w = self.workdir()
        self.script(w, 'nl', 'printf \'{"Username":"%s","Secret":'
                    '"stdout-sekrit\\\\r\\\\nX-Evil: 1"}\'' % USER)
        self.docker_config(w, {'credHelpers': {self.tls_dst.host: 'nl'}})
        rc, out, err = self.run_it(w, self.tls_dst, self.secrets_src())
        self.assert_failed_with(w, rc, out, err, 'control character')

    def test_hanging_helper_is_killed(self):
        w = self.workdir()
        pidfile = os.path.join(w.dir, 'helper.pid')
        self.script(w, 'hang', "echo $$ > '%s'\nexec sleep 300" % pidfile)
        self.docker_config(w, {'credHelpers': {self.tls_dst.host: 'hang'}})
        rc, out, err = self.run_it(w, self.tls_dst, self.secrets_src())
        self.assert_failed_with(
            w, rc, out, err, 'docker-credential-hang get did not answer '
            'within 10 s; killed')
        with open(pidfile) as f:
            pid = int(f.read())
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)

    def test_flooding_helper_is_bounded(self):
        w = self.workdir()
        self.script(w, 'flood', "exec yes 'stdout-sekrit'")
        self.docker_config(w, {'credHelpers': {self.tls_dst.host: 'flood'}})
        rc, out, err = self.run_it(w, self.tls_dst, self.secrets_src())
        self.assert_failed_with(
            w, rc, out, err, 'printed more than 64 KiB; killed')

    def test_once_per_host(self):
        """Three images to the target: one run of the helper; the source
        (no helper for it) never runs it."""
        w = self.workdir()
        runs = os.path.join(w.dir, 'runs')
        self.script(w, 'count', "cat >> '%s'\necho >> '%s'\n"
                    'printf \'{"Username":"%s","Secret":"%s"}\'' % (
                        runs, runs, USER, PW))
        self.docker_config(w, {'credHelpers': {self.tls_dst.host: 'count'}})
        rc, out, err = self.run_it(w, self.tls_dst, self.secrets_src(),
                                   tags=('v1', 'v2'))
        self.assertEqual(rc, 0, out + err)
        with open(runs) as f:
            self.assertEqual(f.read().splitlines(), [self.tls_dst.host])

    # --------------------------------------------- identity tokens
    def idtok_helper(self, w, token):
        self.script(w, 'idtok', 'cat >/dev/null\nprintf \'{"ServerURL":"%s",'
                    '"Username":"<token>","Secret":"%s"}\'' % (
                        self.tok_dst.host, token))
        self.docker_config(w, {'credHelpers': {self.tok_dst.host: 'idtok'}})

    def token_requests(self, before):
        ts = self.tok_dst.token_server
        with ts.lock:
            return list(ts.requests[before:])

    def test_identity_token(self):
        """The helper's identity token is exchanged for bearer tokens with
        the OAuth2 refresh-token POST; the images are copied; the token
        never shows."""
        w = self.workdir()
        self.idtok_helper(w, IDTOK)
        before = self.tok_dst.token_server.count()
        rc, out, err = self.run_it(w, self.tok_dst, self.secrets_src(),
                                   tags=('v1', 'v2'))
        self.assertEqual(rc, 0, out + err)
        reqs = self.token_requests(before)  # skopeo's come after
        self.assert_copied(self.tok_dst, ('v1', 'v2'))
        self.assertTrue(reqs)
        for r in reqs:
            self.assertEqual(r['method'], 'POST', r)
            self.assertEqual(r['grant'], 'refresh_token', r)
            self.assertEqual(r['client_id'], 'image-transfer', r)
            self.assertEqual(r['service'], 'it-registry', r)
            self.assertEqual(r['content_type'],
                             'application/x-www-form-urlencoded', r)
            self.assertEqual(r['user'], USER, r)
        self.assertTrue(any('repository:copied/app:pull,push' in r['scopes']
                            for r in reqs), reqs)
        with open(w.log) as f:
            self.assertIn('identity token from docker-credential-idtok',
                          f.read())

    def test_wrong_identity_token(self):
        """A token the token server does not know: 400 invalid_grant, the
        images fail with a clear message, nothing falls back to a GET."""
        w = self.workdir()
        self.idtok_helper(w, WRONG_IDTOK)
        before = self.tok_dst.token_server.count()
        rc, out, err = self.run_it(w, self.tok_dst, self.secrets_src())
        self.assert_failed_with(
            w, rc, out, err, 'authentication failed: the token server '
            'refused the identity token (HTTP 400)')
        reqs = self.token_requests(before)
        self.assertTrue(reqs)
        self.assertEqual({r['method'] for r in reqs}, {'POST'})

    def test_identity_token_post_404_falls_back_to_anonymous_get(self):
        """A token server without the OAuth2 endpoint (404): the GET is
        asked instead, without the identity token; the registry then
        refuses the anonymous token."""
        ts = self.tok_dst.token_server
        ts.oauth_404 = True
        self.addCleanup(setattr, ts, 'oauth_404', False)
        w = self.workdir()
        self.idtok_helper(w, IDTOK)
        before = ts.count()
        rc, out, err = self.run_it(w, self.tok_dst, self.secrets_src())
        self.assert_failed_with(
            w, rc, out, err, 'authentication failed with the identity token '
            '(HTTP 401)')
        reqs = self.token_requests(before)
        gets = [r for r in reqs if r['method'] == 'GET']
        self.assertTrue(gets, reqs)
        self.assertEqual([r['user'] for r in gets], [None] * len(gets))

    # ------------------------------------- insecure: true alone (§1 end)
    def test_insecure_only_entry_keeps_docker_login(self):
        """registry-secret.yaml holds only `insecure: true` for the target
        (plain HTTP); its login comes from the Docker config's auths."""
        dst = self.http_dst
        w = self.workdir()
        auth = base64.b64encode(('%s:%s' % (USER, PW)).encode()).decode()
        self.docker_config(w, {'auths': {dst.host: {'auth': auth}}})
        secrets = self.secrets_src() + '%s:\n  insecure: true\n' % dst.host
        rc, out, err = self.run_it(w, dst, secrets)
        self.assertEqual(rc, 0, out + err)
        self.assert_copied(dst)

        # and from a credential helper
        w = self.workdir()
        self.script(w, 'ok', 'cat >/dev/null\nprintf \'{"Username":"%s",'
                    '"Secret":"%s"}\'' % (USER, PW))
        self.docker_config(w, {'credHelpers': {dst.host: 'ok'}})
        rc, out, err = self.run_it(w, dst, secrets, tags=('v2',))
        self.assertEqual(rc, 0, out + err)
        self.assert_copied(dst, ('v2',))


if __name__ == '__main__':
    unittest.main(verbosity=2)
