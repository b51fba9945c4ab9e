"""--preflight (issue 13 §3) against real docker-registry processes (and the
Tencent Cloud API double for CCR -> TCR): a checklist of what would fail,
with nothing created on any registry.

Pull-only access: htpasswd cannot say "pull only", so the target runs with
token auth (the harness's token server) and the test narrows what the token
server grants one user to "pull" (as a registry's read-only role would)."""
import copy
import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.environ.get('TESTS_DIR', os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..')), 'fakes'))
import harness  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
import tcfake  # noqa: E402
from harness import Registry, seed_image, make_layer  # noqa: E402


def run_it(args, timeout=300, env=None):
    return harness.run_binary(
        args, timeout=timeout, env=env,
        unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'),
        home=os.environ.get('IT_TEST_HOME'))


def secrets_yaml(entries):
    """entries: (host, user, password) with user None for anonymous."""
    lines = []
    for host, user, pw in entries:
        lines.append('%s:' % host)
        if user:
            lines.append('  username: %s' % user)
            lines.append('  password: "%s"' % pw)
        lines.append('  insecure: true')
    return '\n'.join(lines) + '\n'


def lines_with(out, prefix):
    return [ln for ln in out.splitlines() if ln.startswith(prefix)]


PW = 'Pre-flight-Pw-42'


class PreflightGenericTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        cls.dst = Registry(auth='basic', users={'bob': PW}).start()
        # a token registry whose token server grants pull only, whatever
        # is asked (a read-only role)
        cls.tok = Registry(auth='token',
                           users={'reader': 'Reader-Pw-2'}).start()
        ts = cls.tok.token_server
        grant = ts._grant

        def pull_only(scopes, authorized):
            access = grant(scopes, authorized)
            for a in access:
                a['actions'] = [x for x in a['actions'] if x == 'pull']
            return access
        ts._grant = pull_only
        base = [make_layer(11, 300 * 1024), make_layer(12, 20 * 1024)]
        for repo, tag, kind in (('team/web', 'v1', 'v2s2'),
                                ('team/web', 'v2', 'index'),
                                ('team/api', 'v1', 'oci')):
            seed_image(cls.src, repo, tag, kind=kind, shared=base,
                       seed=hash((repo, tag)) & 0xffff)
        # the target already holds something: it must be left as it is
        seed_image(cls.dst, 'keep/this', 'v1', kind='v2s2', seed=5)

    @classmethod
    def tearDownClass(cls):
        for r in (cls.src, cls.dst, cls.tok):
            r.stop()

    def workdir(self):
        w = harness.Workdir(prefix='it-preflight-')
        self.addCleanup(w.cleanup)
        return w

    def args(self, w, secrets, rules):
        return ['--preflight',
                '--securityFile', w.write('registry-secret.yaml', secrets),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--no-tui', '--qps=0', '--retry=0']

    def good_rules(self):
        s, d = self.src.host, self.dst.host
        return ('%s/team/web: %s/mirror/web\n'
                '%s/team/api:v1: %s/mirror/api\n' % (s, d, s, d))

    def good_secrets(self, pw=PW):
        return secrets_yaml([(self.src.host, None, None),
                             (self.dst.host, 'bob', pw)])

    def catalog(self, reg):
        st, _, body = reg.request('GET', '/v2/_catalog')
        self.assertEqual(st, 200)
        return json.loads(body)['repositories']

    def uploads_left(self, reg):
        """Live upload sessions on the registry's disk (sorted): a session
        has its `startedat` (and `data`) files until it is completed or
        cancelled. (docker-registry 2.8 may leave an empty `hashstates`
        stub behind a cancelled session: not a session.)"""
        root = os.path.join(reg.dir, 'storage', 'docker', 'registry', 'v2',
                            'repositories')
        found = []
        for dirpath, dirnames, _ in os.walk(root):
            if os.path.basename(dirpath) != '_uploads':
                continue
            for d in dirnames:
                files = os.listdir(os.path.join(dirpath, d))
                if 'startedat' in files or 'data' in files:
                    found.append(d)
        return sorted(found)

    # -------------------------------------------------------------------
    def test_all_good_nothing_created(self):
        before = self.catalog(self.dst)
        uploads = self.uploads_left(self.dst)
        w = self.workdir()
        code, out, err = run_it(self.args(w, self.good_secrets(),
                                          self.good_rules()))
        self.assertEqual(code, 0, out + err)
        ok = lines_with(out, '[ok]')
        self.assertFalse(lines_with(out, '[FAIL]'), out)
        for want in ('registry %s (source)' % self.src.host,
                     'registry %s (target)' % self.dst.host,
                     'pull from %s/team/web' % self.src.host,
                     'pull from %s/team/api' % self.src.host,
                     'push to %s/mirror/web' % self.dst.host,
                     'push to %s/mirror/api' % self.dst.host):
            self.assertTrue(any(want in ln for ln in ok), want + '\n' + out)
        self.assertIn('upload session opened and cancelled', out)
        # the plan after de-duplication, and an estimate
        plan = [ln for ln in lines_with(out, '[info]') if ' plan:' in ln]
        self.assertTrue(plan, out)
        self.assertRegex(out, r'plan: 3 image\(s\) to copy')
        # a tiny plan reads "under 1s", a larger one "about 3m"
        self.assertRegex(out, r'\[info\] estimate: (under 1s|about '
                         r'\d+[smhd]\S*) to move the bytes above')
        self.assertNotIn('about under', out)
        self.assertIn('every check passed', out)
        # nothing created or left behind on the target
        self.assertEqual(self.catalog(self.dst), before)
        self.assertEqual(self.uploads_left(self.dst), uploads)
        self.assertNotIn(PW, out + err)

    def test_wrong_password_on_target(self):
        w = self.workdir()
        code, out, err = run_it(self.args(
            w, self.good_secrets(pw='Wrong-Pw-99'), self.good_rules()))
        self.assertEqual(code, 1, out + err)
        fail = lines_with(out, '[FAIL] registry %s (target)' % self.dst.host)
        self.assertTrue(fail, out)
        self.assertIn('401', fail[0])
        self.assertRegex(out, r'fix: check the username and password for '
                              r'this registry in registry-secret.yaml')
        self.assertIn('1 problem found', out)
        self.assertNotIn('Wrong-Pw-99', out + err)

    def test_missing_source_repository(self):
        s, d = self.src.host, self.dst.host
        w = self.workdir()
        rules = self.good_rules() + '%s/team/nope: %s/mirror/nope\n' % (s, d)
        code, out, err = run_it(self.args(w, self.good_secrets(), rules))
        self.assertEqual(code, 1, out + err)
        fail = lines_with(out, '[FAIL] pull from %s/team/nope' % s)
        self.assertTrue(fail, out)
        self.assertIn('the source repository does not exist', fail[0])
        self.assertIn("fix: check the rule's source in --ruleFile", out)
        # the good repositories are still checked and planned
        self.assertTrue(lines_with(out, '[ok]   pull from %s/team/web' % s),
                        out)

    def test_unreachable_registry(self):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        dead = '127.0.0.1:%d' % sock.getsockname()[1]
        sock.close()  # nothing listens there now
        w = self.workdir()
        rules = '%s/team/web: %s/mirror/web\n' % (self.src.host, dead)
        code, out, err = run_it(self.args(
            w, secrets_yaml([(self.src.host, None, None),
                             (dead, 'bob', PW)]), rules))
        self.assertEqual(code, 1, out + err)
        fail = lines_with(out, '[FAIL] registry %s (target)' % dead)
        self.assertTrue(fail, out)
        self.assertIn('fix: check the host and port', out)
        self.assertIn('plan: not made', out)

    def test_pull_only_account_on_target(self):
        t = self.tok.host
        w = self.workdir()
        secrets = secrets_yaml([(self.src.host, None, None),
                                (t, 'reader', 'Reader-Pw-2')])
        rules = '%s/team/api:v1: %s/mirror/api\n' % (self.src.host, t)
        code, out, err = run_it(self.args(w, secrets, rules))
        self.assertEqual(code, 1, out + err)
        self.assertTrue(lines_with(out, '[ok]   registry %s (target)' % t),
                        out)
        fail = lines_with(out, '[FAIL] push to %s/mirror/api' % t)
        self.assertTrue(fail, out)
        self.assertIn('fix: the login may not push here', out)

    def test_tls_without_ca_names_the_fix(self):
        with Registry(tls=True) as reg:
            w = self.workdir()
            rules = '%s/team/web: %s/mirror/web\n' % (self.src.host,
                                                      reg.host)
            secrets = secrets_yaml([(self.src.host, None, None)])
            code, out, err = run_it(self.args(w, secrets, rules))
            self.assertEqual(code, 1, out + err)
            fail = lines_with(out, '[FAIL] registry %s (target)' % reg.host)
            self.assertTrue(fail, out)
            self.assertIn('fix: give the registry\'s CA bundle with '
                          '--ca-file=FILE', out)
            # with its CA the same check passes
            code, out, err = run_it(self.args(self.workdir(), secrets, rules)
                                    + ['--ca-file=' + reg.ca_file])
            self.assertTrue(lines_with(out, '[ok]   registry %s (target)'
                                       % reg.host), out + err)

    def test_missing_target_namespace(self):
        """A registry that wants namespaces to exist (Harbor projects, TCR
        namespaces) answers the upload POST with 404 NAME_UNKNOWN: a
        proxy in front of docker-registry answers so for namespace
        "nons"."""
        body = json.dumps({'errors': [{
            'code': 'NAME_UNKNOWN',
            'message': 'project nons not found', 'detail': {}}]})
        with FaultProxy(self.dst.host, seed=1) as p:
            p.set_rules([{'method': 'POST', 'path': r'^/v2/nons/',
                          'action': 'status', 'status': 404,
                          'body': body}])
            w = self.workdir()
            rules = ('%s/team/web: %s/nons/web\n%s/team/api: %s/ok/api\n' % (
                self.src.host, p.host, self.src.host, p.host))
            secrets = secrets_yaml([(self.src.host, None, None),
                                    (p.host, 'bob', PW)])
            code, out, err = run_it(self.args(w, secrets, rules))
        self.assertEqual(code, 1, out + err)
        fail = lines_with(out, '[FAIL] push to %s/nons/web' % p.host)
        self.assertTrue(fail, out)
        self.assertIn('the target namespace does not exist', fail[0])
        self.assertIn('fix: the target namespace does not exist and this '
                      'registry does not create it on push', out)
        self.assertTrue(lines_with(out, '[ok]   push to %s/ok/api' % p.host),
                        out)

    def test_bad_rule_file_is_a_config_error(self):
        w = self.workdir()
        code, out, err = run_it(self.args(w, self.good_secrets(),
                                          'a: [b\n'))
        self.assertEqual(code, 2, out + err)
        self.assertIn('transfer-rule.yaml', err)


# ------------------------------------------------------------ CCR -> TCR

BASE = tcfake.load_fixture()
CCR_KEY, TCR_KEY = BASE['credentials'][0], BASE['credentials'][1]
INSTANCE = next(i for i in BASE['tcr']['instances'] if i['name'] == 'e2e-tcr')
REGID, UIN, TOKEN = INSTANCE['id'], BASE['uin'], INSTANCE['token']
SRC_USER, SRC_PW = 'ccr-user', 'Ccr-Src-Pw-4242'


def tc_secret_yaml(ccr_key=None):
    return ('ccr:\n  secretId: %s\n  secretKey: "%s"\n'
            'tcr:\n  secretId: %s\n  secretKey: "%s"\n' % (
                CCR_KEY['secret_id'], ccr_key or CCR_KEY['secret_key'],
                TCR_KEY['secret_id'], TCR_KEY['secret_key']))


class PreflightCcrTest(unittest.TestCase):
    """The fake Tencent Cloud API, a docker-registry as the CCR registry and
    another as the TCR instance's (its login: the instance token)."""

    @classmethod
    def setUpClass(cls):
        cls.src = Registry(auth='basic', users={SRC_USER: SRC_PW}).start()
        cls.dst = Registry(auth='basic', users={UIN: TOKEN}).start()
        cls.digests = {}
        for r in BASE['ccr']['repos']:
            for t in r['tags']:
                img = seed_image(cls.src, r['name'], t['name'],
                                 kind=t['seed_kind'], seed=t['seed'])
                cls.digests[(r['name'], t['name'])] = img['digest']

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.dst.stop()

    def fake(self, mutate=None):
        fx = copy.deepcopy(BASE)
        for r in fx['ccr']['repos']:
            for t in r['tags']:
                t['digest'] = self.digests[(r['name'], t['name'])]
        for inst in fx['tcr']['instances']:
            if inst['id'] == REGID:
                inst['public_domain'] = self.dst.host
        if mutate:
            mutate(fx)
        f = tcfake.FakeTC(fx, prefix='it-preflight-fake-')
        self.addCleanup(f.close)
        return f

    def run_pf(self, fake, tcr_name='e2e-tcr', ccr_key=None):
        w = harness.Workdir(prefix='it-preflight-ccr-')
        self.addCleanup(w.cleanup)
        sec = ('%s:\n  username: %s\n  password: "%s"\n  insecure: true\n'
               '%s:\n  insecure: true\n' % (self.src.host, SRC_USER, SRC_PW,
                                             self.dst.host))
        args = ['--preflight', '--ccrToTcr=true',
                '--securityFile=' + w.write('registry-secret.yaml', sec),
                '--secretFile=' + w.write('tencentcloud-secret.yaml',
                                          tc_secret_yaml(ccr_key)),
                '--tcrName=' + tcr_name, '--tcrRegion=ap-guangzhou',
                '--ccrRegion=ap-guangzhou', '--ccr-registry=' + self.src.host,
                '--tc-endpoint=' + fake.endpoint, '--no-tui', '--qps=0',
                '--retry=0', '--state-dir=' + w.state]
        code, out, err = harness.run_binary(
            args, timeout=120,
            unset=('TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY',
                   'DOCKER_CONFIG'))
        for secret in (CCR_KEY['secret_key'], TCR_KEY['secret_key'], TOKEN,
                       SRC_PW):
            self.assertNotIn(secret, out + err)
        return code, out, err

    def test_all_good_creates_nothing(self):
        fake = self.fake()
        before = fake.control('GET', '/__state')['tcr_namespaces']
        code, out, err = self.run_pf(fake)
        self.assertEqual(code, 0, out + err)
        self.assertFalse(lines_with(out, '[FAIL]'), out)
        for want in ('[ok]   CCR API key (ap-guangzhou)',
                     '[ok]   TCR API key (ap-guangzhou)',
                     '[ok]   TCR instance e2e-tcr',
                     '[ok]   namespace names',
                     '[ok]   TCR namespace quota',
                     '[ok]   TCR repository quota',
                     '[info] API rate limits',
                     '[ok]   registry %s (source)' % self.src.host,
                     '[ok]   registry %s (target)' % self.dst.host,
                     '[ok]   pull from %s/team-a/web' % self.src.host,
                     '[ok]   push to %s/team-a/web' % self.dst.host):
            self.assertTrue(lines_with(out, want), want + '\n' + out)
        # a small account: "takes under 1s", never "at least 0s"
        self.assertRegex(out, r'the listing takes (under 1s|at least [1-9])')
        self.assertRegex(out, r'plan: \d+ image\(s\) to copy')
        # nothing created: no namespace, no repository
        self.assertEqual(fake.calls('CreateNamespace'), [])
        self.assertEqual(fake.control('GET', '/__state')['tcr_namespaces'],
                         before)
        st, _, body = self.dst.request('GET', '/v2/_catalog')
        self.assertEqual(json.loads(body)['repositories'], [])

    def test_instance_not_running(self):
        code, out, err = self.run_pf(self.fake(), tcr_name='e2e-deploying')
        self.assertEqual(code, 1, out + err)
        fail = lines_with(out, '[FAIL] TCR instance e2e-deploying')
        self.assertTrue(fail, out)
        self.assertIn('is Deploying, not Running', fail[0])
        self.assertIn('fix: wait until the instance is Running', out)

    def test_namespace_quota_too_small(self):
        def crowd(fx):  # a basic instance already holding 50 namespaces
            nss = fx['tcr']['namespaces'][REGID]
            for i in range(50 - len(nss)):
                nss.append({'name': 'filler-%02d' % i, 'public': False,
                            'id': 100 + i})
        code, out, err = self.run_pf(self.fake(crowd))
        self.assertEqual(code, 1, out + err)
        fail = lines_with(out, '[FAIL] TCR namespace quota')
        self.assertTrue(fail, out)
        self.assertIn('50 existing + 3 to create = 53 of 50', fail[0])
        self.assertIn('fix: delete unused namespaces', out)

    def test_invalid_namespace_name(self):
        def bad(fx):
            fx['ccr']['namespaces'].append({'name': 'Team_X',
                                            'creation_time': ''})
            fx['ccr']['namespaces'].append({'name': 'a--b',
                                            'creation_time': ''})
        code, out, err = self.run_pf(self.fake(bad))
        self.assertEqual(code, 1, out + err)
        self.assertIn('[FAIL] namespace Team_X: not a valid TCR namespace '
                      'name: may hold only lowercase letters', out)
        self.assertIn('[FAIL] namespace a--b: not a valid TCR namespace '
                      'name: must not hold two separators', out)

    def test_bad_key_exits_3(self):
        code, out, err = self.run_pf(self.fake(),
                                     ccr_key='Wrong-Secret-Key-0000000000001')
        self.assertEqual(code, 3, out + err)
        fail = lines_with(out, '[FAIL] CCR API key')
        self.assertTrue(fail, out)
        self.assertIn('AuthFailure', fail[0])
        self.assertIn('fix: check the `ccr:` secretId/secretKey', out)
        self.assertNotIn('Wrong-Secret-Key-0000000000001', out + err)


if __name__ == '__main__':
    unittest.main(verbosity=2)
