#!/usr/bin/env python3
"""End-to-end tests of where the Tencent Cloud API keys come from (issue
16 §1): a CCR -> TCR run with no --secretFile and no TENCENTCLOUD_SECRET_*
against the fake TC API (tests/fakes/fake_tc_api.py, which checks
X-TC-Token for temporary keys), with the keys from

  - the profile file (~/.tencentcloud/credentials, --tc-profile NAME),
  - the CVM instance role (tests/fakes/fake_tc_metadata.py, reached through
    IT_TC_METADATA_URL), renewed during the run when due,
  - the TKE OIDC web identity exchanged with STS AssumeRoleWithWebIdentity
    (tests/fakes/fake_tc_sts.py, reached through IT_TC_STS_ENDPOINT),

and the failures: no role (metadata 404: the chain moves on), a role that
answers no credentials and an STS error (exit 3), a token the API does not
accept. The log names the source, never a key or a token.

The registries and the account are test_ccr.py's (the same fixture).
"""
import copy
import json
import os
import select
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tcfake  # noqa: E402
import test_ccr  # noqa: E402
from test_ccr import ALL_TAGS, BASE, CCR_KEY  # noqa: E402

FAKES = os.path.join(tcfake.TESTS_DIR, 'fakes')
ROLE = 'CVM_QcsRole'
ROLE_ARN = 'qcs::cam::uin/100000000001:roleName/it-tke-role'
PROVIDER = 'cls-it-oidc'
JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNlY3JldA'
# Temporary credentials, one per fetch (the doubles hand them out in turn).
TEMP = [{'secret_id': 'AKIDtmp%02d000000000000000000000' % i,
         'secret_key': 'TmpSecretKey%02d000000000000000000' % i,
         'token': 'TmpToken%02d-0000000000000000000000000000' % i}
        for i in range(1, 41)]
SECRETS = test_ccr.SECRETS + [t['secret_key'] for t in TEMP] + \
    [t['token'] for t in TEMP] + [JWT, CCR_KEY['secret_key']]


class Double:
    """One of the Python doubles on a free loopback port."""

    def __init__(self, script, args):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(FAKES, script)] + args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if ready else ''
        if not line.startswith('LISTENING '):
            self.close()
            raise RuntimeError('%s did not start: %r' % (script, line))
        self.port = int(line.split()[1])
        self.url = 'http://127.0.0.1:%d' % self.port

    def get(self, path):
        import http.client
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
        try:
            conn.request('GET', path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for s in (self.proc.stdout, self.proc.stderr):
            s.close()


class TcCredsTest(unittest.TestCase):
    # The registries, the fake and the checks of test_ccr.py.
    setUpClass = test_ccr.CcrToTcrTest.__dict__['setUpClass']
    tearDownClass = test_ccr.CcrToTcrTest.__dict__['tearDownClass']
    setUp = test_ccr.CcrToTcrTest.setUp
    tearDown = test_ccr.CcrToTcrTest.tearDown
    workdir = test_ccr.CcrToTcrTest.workdir
    start = test_ccr.CcrToTcrTest.start
    assert_copied = test_ccr.CcrToTcrTest.assert_copied

    def double(self, script, args):
        d = Double(script, args)
        self.addCleanup(d.close)
        return d

    def start_with_temp_keys(self, temp=TEMP):
        """The fake API accepts the permanent keys and the temporary ones
        (each with its token)."""
        def mutate(fx):
            fx['credentials'] = copy.deepcopy(BASE['credentials']) + \
                copy.deepcopy(temp)
        self.start(token_auth=True, public_domain=True, mutate=mutate)

    def args(self, w):
        a = test_ccr.CcrToTcrTest.args(self, w)
        return [x for x in a if not x.startswith('--secretFile=')]

    def run_it(self, w, args, env):
        e = {'IT_TC_METADATA_URL': 'off'}
        e.update(env)
        return harness.run_binary(
            args, timeout=180, home=self.home(w),
            unset=('TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY',
                   'TENCENTCLOUD_SESSION_TOKEN',
                   'TENCENTCLOUD_CREDENTIALS_FILE', 'DOCKER_CONFIG',
                   'TKE_ROLE_ARN', 'TKE_WEB_IDENTITY_TOKEN_FILE',
                   'TKE_IDENTITY_TOKEN_FILE', 'TKE_PROVIDER_ID',
                   'TKE_REGION'),
            env=e)

    def home(self, w):
        h = os.path.join(w.dir, 'home')
        os.makedirs(os.path.join(h, '.tencentcloud'), exist_ok=True)
        return h

    def assert_clean(self, w, *texts):
        report = ''
        if os.path.exists(w.report):
            with open(w.report) as f:
                report = f.read()
        for text in texts + (w.journal(), report):
            for s in SECRETS:
                self.assertNotIn(s, text)

    def assert_run_ok(self, w, rc, out, err):
        self.assertEqual(rc, 0, out + err)
        rep = w.load_report()
        self.assertEqual(rep['summary']['images_copied'], len(ALL_TAGS), rep)
        self.assert_copied(ALL_TAGS)
        for c in self.fake.calls():
            self.assertTrue(c['verified'], c)
            self.assertIsNone(c['error'], c)
        self.assert_clean(w, out, err)

    def creds_file(self, w, temp=TEMP):
        return w.write('temp-creds.json', json.dumps(temp))

    # ------------------------------------------------------------ tests
    def test_profile_file_named_section(self):
        self.start(token_auth=True, public_domain=True)
        w = self.workdir()
        home = self.home(w)
        harness.write_private(
            os.path.join(home, '.tencentcloud', 'credentials'),
            '[default]\nsecret_id = AKIDnotThisOne\nsecret_key = x\n\n'
            '[prod]\nsecret_id = %s\nsecret_key = "%s"\n' % (
                CCR_KEY['secret_id'], CCR_KEY['secret_key']))
        rc, out, err = harness.run_binary(
            self.args(w) + ['--tc-profile=prod'], timeout=180, home=home,
            unset=('TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY',
                   'DOCKER_CONFIG'),
            env={'IT_TC_METADATA_URL': 'off'})
        self.assert_run_ok(w, rc, out, err)
        self.assertIn('Tencent Cloud credentials: profile file %s/'
                      '.tencentcloud/credentials [prod]' % home, err)
        ids = {c['secret_id'] for c in self.fake.calls()}
        self.assertEqual(ids, {CCR_KEY['secret_id']})

    def test_cvm_role_renewed_during_the_run(self):
        # ExpiredTime 299 s ahead: always inside the 5-minute margin, so
        # (with IT_TC_RENEW_MIN_S=0) every API call renews them first.
        self.start_with_temp_keys()
        w = self.workdir()
        md = self.double('fake_tc_metadata.py',
                         ['--role', ROLE, '--creds', self.creds_file(w),
                          '--ttl', '299'])
        rc, out, err = self.run_it(
            w, self.args(w),
            {'IT_TC_METADATA_URL': md.url + '/latest/meta-data/',
             'IT_TC_RENEW_MIN_S': '0', 'HOME': self.home(w)})
        self.assert_run_ok(w, rc, out, err)
        self.assertIn('Tencent Cloud credentials: CVM role %s' % ROLE, err)
        count = md.get('/__count')
        calls = self.fake.calls()
        self.assertEqual(count['list'], 1, count)
        self.assertGreaterEqual(count['creds'], len(calls), count)
        ids = [c['secret_id'] for c in calls]
        self.assertGreater(len(set(ids)), 1, ids)  # renewed keys were used

    def test_cvm_role_fetched_once_while_valid(self):
        self.start_with_temp_keys()
        w = self.workdir()
        md = self.double('fake_tc_metadata.py',
                         ['--role', ROLE, '--creds', self.creds_file(w)])
        rc, out, err = self.run_it(
            w, self.args(w),
            {'IT_TC_METADATA_URL': md.url + '/latest/meta-data/',
             'HOME': self.home(w)})
        self.assert_run_ok(w, rc, out, err)
        self.assertEqual(md.get('/__count'), {'list': 1, 'creds': 1})
        self.assertEqual({c['secret_id'] for c in self.fake.calls()},
                         {TEMP[0]['secret_id']})

    def test_wrong_token_refused_by_the_api(self):
        # The double hands out a token the API does not know for that key:
        # the fake refuses it, the run stops with exit 3.
        bad = copy.deepcopy(TEMP)
        bad[0]['token'] = 'TmpToken99-not-the-right-one-000000000'
        self.start_with_temp_keys()
        w = self.workdir()
        md = self.double('fake_tc_metadata.py',
                         ['--role', ROLE, '--creds', self.creds_file(w, bad)])
        rc, out, err = self.run_it(
            w, self.args(w),
            {'IT_TC_METADATA_URL': md.url + '/latest/meta-data/',
             'HOME': self.home(w)})
        self.assertEqual(rc, 3, out + err)
        self.assertIn('AuthFailure.TokenFailure', err)
        self.assertIn('SecretId %s' % bad[0]['secret_id'], err)
        self.assertNotIn('SecretId ?', err)
        self.assertIn('Check the credentials of the CVM role %s' % ROLE, err)
        self.assertNotIn(bad[0]['token'], out + err)

    def test_no_role_moves_on_then_no_key(self):
        w = self.workdir()
        md = self.double('fake_tc_metadata.py',
                         ['--no-role', '--creds', self.creds_file(w)])
        rc, out, err = self.run_it(
            w, ['--ccrToTcr=true', '--tcrName=x', '--no-tui'],
            {'IT_TC_METADATA_URL': md.url + '/latest/meta-data/',
             'HOME': self.home(w)})
        self.assertEqual(rc, 2, out + err)
        self.assertIn('no Tencent Cloud API key', err)
        self.assertIn('no CVM role (metadata service: HTTP 404)', err)
        self.assertEqual(md.get('/__count'), {'list': 1, 'creds': 0})

    def test_role_without_credentials_exit_3(self):
        w = self.workdir()
        md = self.double('fake_tc_metadata.py',
                         ['--role', ROLE, '--creds', self.creds_file(w),
                          '--code', 'Failed'])
        rc, out, err = self.run_it(
            w, ['--ccrToTcr=true', '--tcrName=x', '--no-tui'],
            {'IT_TC_METADATA_URL': md.url + '/latest/meta-data/',
             'HOME': self.home(w)})
        self.assertEqual(rc, 3, out + err)
        self.assertIn('CVM role %s: CVM role credentials: Code is Failed'
                      % ROLE, err)

    def tke(self, w, sts_args):
        jwt = w.write('token', JWT + '\n')
        sts = self.double('fake_tc_sts.py',
                          ['--creds', self.creds_file(w), '--role-arn',
                           ROLE_ARN, '--provider-id', PROVIDER, '--jwt-file',
                           jwt, '--region', 'ap-shanghai'] + sts_args)
        env = {'TKE_ROLE_ARN': ROLE_ARN, 'TKE_PROVIDER_ID': PROVIDER,
               'TKE_WEB_IDENTITY_TOKEN_FILE': jwt,
               'TKE_REGION': 'ap-shanghai', 'IT_TC_STS_ENDPOINT': sts.url,
               'HOME': self.home(w)}
        return sts, env

    def test_tke_oidc_renewed_during_the_run(self):
        self.start_with_temp_keys()
        w = self.workdir()
        sts, env = self.tke(w, ['--ttl', '299'])
        env['IT_TC_RENEW_MIN_S'] = '0'
        rc, out, err = self.run_it(w, self.args(w), env)
        self.assert_run_ok(w, rc, out, err)
        self.assertIn('Tencent Cloud credentials: TKE OIDC role %s'
                      % ROLE_ARN, err)
        count = sts.get('/__count')
        calls = self.fake.calls()
        self.assertGreaterEqual(count['calls'], len(calls), count)
        self.assertGreater(len({c['secret_id'] for c in calls}), 1)
        req = sts.get('/__requests')[0]
        self.assertEqual(req['DurationSeconds'], 7200)
        self.assertTrue(req['RoleSessionName'].startswith('image-transfer-'))

    def test_tke_sts_error_exit_3(self):
        w = self.workdir()
        sts, env = self.tke(w, ['--error', 'InvalidParameter.'
                                'WebIdentityTokenError'])
        rc, out, err = self.run_it(
            w, ['--ccrToTcr=true', '--tcrName=x', '--no-tui'], env)
        self.assertEqual(rc, 3, out + err)
        self.assertIn('TKE OIDC role %s: STS AssumeRoleWithWebIdentity '
                      'failed: InvalidParameter.WebIdentityTokenError'
                      % ROLE_ARN, err)
        self.assert_clean(w, out, err)


if __name__ == '__main__':
    unittest.main(verbosity=2)
