#!/usr/bin/env python3
"""End-to-end tests of the CCR -> TCR mode (issue 4): the image-transfer
binary against the fake Tencent Cloud API (tests/fakes/fake_tc_api.py), a
real docker-registry standing in for the CCR registry and another for the
TCR instance, checked with skopeo and the fake's /__calls and /__state.

The account is tests/fixtures/tc-e2e-account.json. Its CCR tags carry
seed_kind/seed: the source registry is seeded from them, so the API and
the registry agree. Each test starts its own fake and target registry (the
fake's namespaces and the target's content change during a run); the
source registry is shared and read-only.
"""
import copy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tcfake  # noqa: E402
from harness import Registry, seed_image, skopeo_raw, skopeo_tags  # noqa

BASE = tcfake.load_fixture()

CCR_KEY = BASE['credentials'][0]
TCR_KEY = BASE['credentials'][1]
INSTANCE = next(i for i in BASE['tcr']['instances'] if i['name'] == 'e2e-tcr')
REGID = INSTANCE['id']
UIN = BASE['uin']
TOKEN = INSTANCE['token']  # the CreateInstanceToken password
SRC_USER, SRC_PW = 'ccr-user', 'Ccr-Src-Pw-4242'
TCR_USER, TCR_PW = 'tcr-user', 'Tcr-Dst-Pw-9191'
REPOS = BASE['ccr']['repos']
ALL_TAGS = [(r['name'], t['name']) for r in REPOS for t in r['tags']]
SECRETS = [CCR_KEY['secret_key'], TCR_KEY['secret_key'], TOKEN, SRC_PW,
           TCR_PW]


def newest_tag(repo):
    return max(repo['tags'], key=lambda t: t['push_time'])['name']


class Fake(tcfake.FakeTC):
    """The fake API on a free loopback port, serving `fixture`."""

    def __init__(self, fixture):
        super().__init__(fixture, prefix='it-ccr-fake-')

    def namespaces(self):
        st = self.control('GET', '/__state')
        return {n['name']: n for n in st['tcr_namespaces'].get(REGID, [])}


def run_it(args, timeout=120):
    return harness.run_binary(
        args, timeout=timeout,
        unset=('TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY',
               'DOCKER_CONFIG'))


def tc_secret_yaml(ccr_key=None, tcr_key=None):
    ccr_key = ccr_key or CCR_KEY['secret_key']
    tcr_key = tcr_key or TCR_KEY['secret_key']
    return ('ccr:\n  secretId: %s\n  secretKey: "%s"\n'
            'tcr:\n  secretId: %s\n  secretKey: "%s"\n' % (
                CCR_KEY['secret_id'], ccr_key, TCR_KEY['secret_id'],
                tcr_key))


class CcrToTcrTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry(auth='basic', users={SRC_USER: SRC_PW}).start()
        cls.digests = {}
        for r in REPOS:
            for t in r['tags']:
                img = seed_image(cls.src, r['name'], t['name'],
                                 kind=t['seed_kind'], seed=t['seed'])
                cls.digests[(r['name'], t['name'])] = img['digest']

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()

    def setUp(self):
        self.fake = None
        self.dst = None

    def tearDown(self):
        if self.fake:
            self.fake.close()
        if self.dst:
            self.dst.stop()

    # ------------------------------------------------------------ setup
    def workdir(self):
        w = harness.Workdir(prefix='it-ccr-')
        self.addCleanup(w.cleanup)
        return w

    def start(self, token_auth=True, public_domain=True, faults=None,
              token_ttl=None, mutate=None, hostile=None):
        """Target registry plus fake. token_auth: the target accepts the
        instance token (CreateInstanceToken); else TCR_USER/TCR_PW.
        public_domain: the instance's PublicDomain is the target's
        host:port (otherwise --tcr-registry must point at it)."""
        users = {UIN: TOKEN} if token_auth else {TCR_USER: TCR_PW}
        self.dst = Registry(auth='basic', users=users).start()
        fx = copy.deepcopy(BASE)
        for r in fx['ccr']['repos']:  # the API reports what was seeded
            for t in r['tags']:
                t['digest'] = self.digests[(r['name'], t['name'])]
        for inst in fx['tcr']['instances']:
            if inst['id'] == REGID and public_domain:
                inst['public_domain'] = self.dst.host
        fx['options']['faults'] = faults or []
        if token_ttl is not None:
            fx['options']['token_ttl'] = token_ttl
        if hostile is not None:
            fx['options']['hostile'] = hostile
        if mutate:
            mutate(fx)
        self.fake = Fake(fx)

    def args(self, w, dst_creds=False, tcr_name='e2e-tcr', tc_secret=None,
             tcr_registry=False):
        sec = ('%s:\n  username: %s\n  password: "%s"\n  insecure: true\n'
               % (self.src.host, SRC_USER, SRC_PW))
        if dst_creds:
            sec += ('%s:\n  username: %s\n  password: "%s"\n'
                    '  insecure: true\n' % (self.dst.host, TCR_USER, TCR_PW))
        else:  # plain HTTP only: the login must come from the API
            sec += '%s:\n  insecure: true\n' % self.dst.host
        a = ['--ccrToTcr=true',
             '--securityFile=' + w.write('registry-secret.yaml', sec),
             '--secretFile=' + w.write('tencentcloud-secret.yaml',
                                       tc_secret or tc_secret_yaml()),
             '--tcrName=' + tcr_name, '--tcrRegion=ap-guangzhou',
             '--ccrRegion=ap-guangzhou', '--ccr-registry=' + self.src.host,
             '--tc-endpoint=' + self.fake.endpoint, '--no-tui', '--qps=0',
             '--routines=4', '--state-dir=' + w.state,
             '--report=' + w.report]
        if tcr_registry:
            a.append('--tcr-registry=' + self.dst.host)
        return a

    # ----------------------------------------------------------- checks
    def assert_copied(self, pairs):
        for repo, tag in pairs:
            want = skopeo_raw(self.src, repo, tag)
            got = skopeo_raw(self.dst, repo, tag)
            self.assertEqual(harness.sha256_digest(got),
                             self.digests[(repo, tag)], '%s:%s' % (repo, tag))
            self.assertEqual(want, got, '%s:%s' % (repo, tag))

    def dst_catalog(self):
        status, _, body = self.dst.request('GET', '/v2/_catalog')
        self.assertEqual(status, 200, body)
        return json.loads(body).get('repositories') or []

    def assert_no_secrets(self, w, *texts):
        journal = w.journal()
        report = ''
        if os.path.exists(w.report):
            with open(w.report) as f:
                report = f.read()
        for text in texts + (journal, report):
            for s in SECRETS:
                self.assertNotIn(s, text)

    def assert_namespaces_synced(self, before, public):
        after = self.fake.namespaces()
        for name, ns in before.items():  # left alone
            self.assertEqual(after[name], ns)
        for ns in BASE['ccr']['namespaces']:
            self.assertIn(ns['name'], after)
            if ns['name'] not in before:
                self.assertEqual(after[ns['name']]['public'], public)
        created = sorted(c['params']['NamespaceName']
                         for c in self.fake.calls('CreateNamespace'))
        self.assertEqual(created, sorted(
            n['name'] for n in BASE['ccr']['namespaces']
            if n['name'] not in before))

    # ------------------------------------------------------------ tests
    def test_1_instance_token_then_rerun(self):
        self.start(token_auth=True, public_domain=True)
        before = self.fake.namespaces()
        w = self.workdir()
        rc, out, err = run_it(self.args(w))
        self.assertEqual(rc, 0, out + err)
        rep = w.load_report()
        self.assertEqual(rep['mode'], 'ccrToTcr')
        self.assertEqual(rep['summary']['images_total'], len(ALL_TAGS), rep)
        self.assertEqual(rep['summary']['images_failed'], 0, rep)
        got = sorted((i['source'], i['target'], i['status'])
                     for i in rep['images'])
        want = sorted(('%s/%s:%s' % (self.src.host, r, t),
                       '%s/%s:%s' % (self.dst.host, r, t), 'copied')
                      for r, t in ALL_TAGS)
        self.assertEqual(got, want)
        for i in rep['images']:
            src_repo, tag = i['source'].split('/', 1)[1].rsplit(':', 1)
            self.assertEqual(i['digest'], self.digests[(src_repo, tag)])
        self.assert_namespaces_synced(before, public=False)
        self.assert_copied(ALL_TAGS)
        # The exact instance was picked among the near matches.
        tokens = self.fake.calls('CreateInstanceToken')
        self.assertEqual(len(tokens), 1, tokens)
        self.assertEqual(tokens[0]['params']['RegistryId'], REGID)
        self.assertEqual(tokens[0]['secret_id'], TCR_KEY['secret_id'])
        for c in self.fake.calls():
            side = CCR_KEY if c['action'].endswith('Personal') else TCR_KEY
            self.assertEqual(c['secret_id'], side['secret_id'], c)
        self.assert_no_secrets(w, out, err)

        # The rerun copies nothing and creates nothing.
        self.fake.control('POST', '/__reset')
        rc, out, err = run_it(self.args(w))
        self.assertEqual(rc, 0, out + err)
        rep = w.load_report()
        self.assertEqual(rep['summary']['images_skipped'], len(ALL_TAGS),
                         rep)
        self.assertEqual(rep['summary']['blobs_copied'], 0, rep)
        self.assertEqual(rep['summary']['bytes_copied'], 0, rep)
        self.assertEqual(self.fake.calls('CreateNamespace'), [])
        self.assert_no_secrets(w, out, err)

    def test_2_registry_secret_credentials_public_namespaces(self):
        self.start(token_auth=False, public_domain=False)
        before = self.fake.namespaces()
        w = self.workdir()
        rc, out, err = run_it(self.args(w, dst_creds=True, tcr_registry=True)
                              + ['--tcr-namespace-public'])
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(w.load_report()['summary']['images_copied'],
                         len(ALL_TAGS))
        self.assertEqual(self.fake.calls('CreateInstanceToken'), [])
        self.assert_namespaces_synced(before, public=True)
        self.assert_copied(ALL_TAGS)
        self.assert_no_secrets(w, out, err)

    def test_3_tag_nums_keeps_newest(self):
        self.start()
        w = self.workdir()
        rc, out, err = run_it(self.args(w) + ['--ccrTagNums=1'])
        self.assertEqual(rc, 0, out + err)
        left_out = sum(len(r['tags']) - 1 for r in REPOS)
        self.assertIn('%d older tags were left out' % left_out, out + err)
        kept = [(r['name'], newest_tag(r)) for r in REPOS]
        rep = w.load_report()
        self.assertEqual(sorted(i['target'] for i in rep['images']),
                         sorted('%s/%s:%s' % (self.dst.host, r, t)
                                for r, t in kept))
        for r in REPOS:
            self.assertEqual(skopeo_tags(self.dst, r['name']),
                             [newest_tag(r)])
        self.assert_copied(kept)

    def test_3b_latest_after_the_tag_filters(self):
        """--latest is --ccrTagNums by its new name (issue 14): the newest
        pushed tags among those the other filters keep."""
        self.start()
        w = self.workdir()
        rc, out, err = run_it(self.args(w) + ['--latest=1',
                                              '--exclude-tags=^v2$,^15$'])
        self.assertEqual(rc, 0, out + err)
        excluded = [('team-a/web', 'v2'), ('team-c/db', '15')]
        kept = {}
        for r in REPOS:
            tags = [t for t in r['tags'] if (r['name'], t['name'])
                    not in excluded]
            kept[r['name']] = max(tags, key=lambda t: t['push_time'])['name']
        self.assertEqual(kept['team-a/web'], 'latest')
        for name, tag in kept.items():
            self.assertEqual(skopeo_tags(self.dst, name), [tag])
        rep = w.load_report()
        by_src = {e['source'].split('/', 1)[1]: e
                  for e in rep['repositories']}
        web = by_src['team-a/web']
        self.assertEqual(web['order'], 'push_time')
        self.assertEqual(web['filtered'], {'regex': 0, 'exclude': 1,
                                           'semver': 0, 'latest': 1})
        self.assertEqual(rep['summary']['tags_filtered']['exclude'], 2)
        left_out = sum(len(r['tags']) for r in REPOS) - len(kept) - 2
        self.assertIn('%d older tags were left out by --latest=1' % left_out,
                      out + err)
        # the two names of one flag must agree
        rc, out, err = run_it(self.args(w) + ['--latest=1',
                                              '--ccrTagNums=2'])
        self.assertEqual(rc, 2, out + err)
        self.assertIn('same flag', out + err)

    def test_4_namespace_creation_failure(self):
        reason = 'namespace quota reached (injected)'
        self.start(faults=[{'action': 'CreateNamespace', 'nth': [1],
                            'code': 'LimitExceeded', 'message': reason}])
        before = self.fake.namespaces()
        bad = next(n['name'] for n in BASE['ccr']['namespaces']
                   if n['name'] not in before)
        w = self.workdir()
        rc, out, err = run_it(self.args(w))
        self.assertEqual(rc, 1, out + err)
        self.assertNotIn(bad, self.fake.namespaces())
        rep = w.load_report()
        bad_repos = [r['name'] for r in REPOS
                     if r['name'].split('/')[0] == bad]
        self.assertTrue(bad_repos)
        failed = [i for i in rep['images'] if i['status'] == 'failed']
        self.assertEqual(sorted(i['source'] for i in failed),
                         sorted('%s/%s' % (self.src.host, r)
                                for r in bad_repos), rep)
        for i in failed:
            self.assertIn(bad, i['error'])
            self.assertIn(reason, i['error'])
        good = [(r, t) for r, t in ALL_TAGS if r.split('/')[0] != bad]
        self.assertEqual(rep['summary']['images_copied'], len(good), rep)
        self.assert_copied(good)
        catalog = self.dst_catalog()
        for r in bad_repos:
            self.assertNotIn(r, catalog)

    def test_5_dry_run_changes_nothing(self):
        self.start()
        before = self.fake.namespaces()
        w = self.workdir()
        rc, out, err = run_it(self.args(w) + ['--dry-run'])
        self.assertEqual(rc, 0, out + err)
        for ns in BASE['ccr']['namespaces']:
            if ns['name'] not in before:
                self.assertIn('create namespace %s' % ns['name'], out)
            else:
                self.assertNotIn('create namespace %s ' % ns['name'], out)
        copies = [l for l in out.splitlines() if l.startswith('copy ')]
        self.assertEqual(len(copies), len(ALL_TAGS), out)
        for r, t in ALL_TAGS:
            self.assertTrue(any('%s:%s' % (r, t) in l for l in copies),
                            (r, t, out))
        self.assertIn('dry run', out)
        self.assertEqual(self.fake.calls('CreateNamespace'), [])
        self.assertEqual(self.fake.namespaces(), before)
        self.assertEqual(self.dst_catalog(), [])
        self.assertEqual(w.journal(), '')
        self.assert_no_secrets(w, out, err)
        # --output=json: stdout is the plan document and nothing else (no
        # "create namespace" line before it), one entry per tag.
        w = self.workdir()
        rc, out, err = run_it(self.args(w) + ['--dry-run', '--output=json'])
        self.assertEqual(rc, 0, out + err)
        plan = json.loads(out)
        self.assertEqual(len(plan['images']), len(ALL_TAGS), out)
        self.assertEqual(plan['summary']['images_planned'], len(ALL_TAGS))
        self.assertEqual([t['images'] for t in plan['targets']],
                         [len(ALL_TAGS)])
        self.assertEqual(self.fake.calls('CreateNamespace'), [])

    def test_6_wrong_secret_key_exits_3(self):
        self.start()
        before = self.fake.namespaces()
        for side, wrong in (('tcr', 'Wrong-Tcr-Key-000111'),
                            ('ccr', 'Wrong-Ccr-Key-000222')):
            w = self.workdir()
            yaml = tc_secret_yaml(**{side + '_key': wrong})
            rc, out, err = run_it(self.args(w, tc_secret=yaml))
            self.assertEqual(rc, 3, (side, out, err))
            self.assertIn('%s key' % side, err)
            key = CCR_KEY if side == 'ccr' else TCR_KEY
            self.assertIn(key['secret_id'], err)
            self.assertIn('secretKey', err)
            self.assertNotIn(wrong, out + err)
            self.assert_no_secrets(w, out, err)
            self.assertEqual(self.fake.calls('CreateNamespace'), [])
            self.assertEqual(self.fake.namespaces(), before)
            self.assertEqual(self.dst_catalog(), [])
            if os.path.exists(w.report):
                self.assertEqual(
                    w.load_report()['summary']['images_copied'], 0)
        # A key that may not call CreateInstanceToken: found before
        # anything is created or copied.
        self.fake.control('POST', '/__faults', [
            {'action': 'CreateInstanceToken', 'nth': [1],
             'code': 'UnauthorizedOperation',
             'message': 'CAM policy denies tcr:CreateInstanceToken'}])
        w = self.workdir()
        rc, out, err = run_it(self.args(w))
        self.assertEqual(rc, 3, out + err)
        self.assertIn('tcr key', err)
        self.assertIn('CreateInstanceToken', err)
        self.assertIn('registry-secret.yaml', err)
        self.assert_no_secrets(w, out, err)
        self.assertEqual(self.fake.calls('CreateNamespace'), [])
        self.assertEqual(self.fake.namespaces(), before)
        self.assertEqual(self.dst_catalog(), [])

    def test_7_unknown_or_not_running_instance_exits_2(self):
        self.start()
        w = self.workdir()
        # "e2e" loosely matches e2e-tcr and e2e-tcr-2: neither is exact.
        rc, out, err = run_it(self.args(w, tcr_name='e2e'))
        self.assertEqual(rc, 2, out + err)
        self.assertIn("'e2e' not found", err)
        self.assertIn('e2e-tcr-2', err)
        rc, out, err = run_it(self.args(w, tcr_name='nosuch-tcr'))
        self.assertEqual(rc, 2, out + err)
        self.assertIn("'nosuch-tcr' not found", err)
        self.assertIn('none', err)
        rc, out, err = run_it(self.args(w, tcr_name='e2e-deploying'))
        self.assertEqual(rc, 2, out + err)
        self.assertIn('Deploying', err)
        self.assertIn('not Running', err)
        self.assertEqual(self.fake.calls('CreateNamespace'), [])
        self.assertEqual(self.fake.calls('CreateInstanceToken'), [])
        self.assertEqual(self.dst_catalog(), [])

    def test_8_throttling_and_token_renewal(self):
        # Every 4th API call is throttled, the first token request too;
        # tokens live 200 s, under the engine's 5-minute renewal margin,
        # so each new target client asks for a fresh one.
        self.start(faults=[
            {'action': 'CreateInstanceToken', 'nth': [1],
             'code': 'RequestLimitExceeded'},
            {'action': '*', 'every': 4, 'code': 'RequestLimitExceeded'},
            {'action': 'DescribeImagePersonal', 'nth': [2],
             'code': 'InternalError'},
        ], token_ttl=200)
        w = self.workdir()
        rc, out, err = run_it(self.args(w))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(w.load_report()['summary']['images_copied'],
                         len(ALL_TAGS))
        self.assert_copied(ALL_TAGS)
        throttled = [c for c in self.fake.calls()
                     if c['error'] == 'RequestLimitExceeded']
        self.assertGreaterEqual(len(throttled), 3, throttled)
        ok_tokens = [c for c in self.fake.calls('CreateInstanceToken')
                     if c['error'] is None]
        self.assertGreater(len(ok_tokens), 1)
        self.assert_no_secrets(w, out, err)

    def test_9_namespace_conflict_and_unlisted_namespace(self):
        # The first CreateNamespace succeeds but its answer is lost: the
        # client's retry meets "already exists", which is re-checked and
        # accepted. team-c is missing from the CCR namespace list although
        # team-c/db is listed: it is created all the same.
        def drop_team_c(fx):
            fx['ccr']['namespaces'] = [n for n in fx['ccr']['namespaces']
                                       if n['name'] != 'team-c']
        self.start(mutate=drop_team_c, faults=[
            {'action': 'CreateNamespace', 'nth': [1], 'after': True,
             'code': 'InternalError', 'message': 'connection reset'}])
        before = self.fake.namespaces()
        w = self.workdir()
        rc, out, err = run_it(self.args(w))
        self.assertEqual(rc, 0, out + err)
        creates = self.fake.calls('CreateNamespace')
        first = creates[0]['params']['NamespaceName']
        self.assertEqual([c['error'] for c in creates[:2]], [
            'InternalError', 'FailedOperation.ErrorTcrResourceConflict'])
        self.assertEqual(creates[1]['params']['NamespaceName'], first)
        self.assertTrue(any(
            c['params'].get('NamespaceName') == first
            for c in self.fake.calls('DescribeNamespaces')), 'no re-check')
        after = self.fake.namespaces()
        self.assertEqual(set(after), set(before) | {
            n['name'] for n in BASE['ccr']['namespaces']})
        self.assertEqual(w.load_report()['summary']['images_copied'],
                         len(ALL_TAGS))
        self.assert_copied([(r, t) for r, t in ALL_TAGS
                            if r.startswith('team-c/')])

    # Enumeration runs while copying runs: repositories are handed to the
    # engine page by page, and their tags are listed by the engine's
    # workers before the account's last page of repositories is asked for.
    def test_10_repositories_stream_in(self):
        def many(fx):
            # 250 more (tagless) repositories: three pages of 100.
            for k in range(250):
                fx['ccr']['repos'].append(
                    {'name': 'team-a/bulk%03d' % k, 'public': 0,
                     'tags': []})
            # The last page waits (10 s at most) until some repository's
            # tags have been listed: a planner that streams gets them
            # listed meanwhile; one that lists every page first does not,
            # and the order check below fails. Without the hold the order
            # would be a race between the planner and the workers.
            fx['options']['holds'] = [{
                'action': 'DescribeRepositoryOwnerPersonal', 'nth': [3],
                'until': 'DescribeImagePersonal', 'timeout': 10}]
        self.start(mutate=many)
        w = self.workdir()
        rc, out, err = run_it(self.args(w))
        self.assertEqual(rc, 0, out + err)
        calls = [c['action'] for c in self.fake.calls()]
        pages = [i for i, a in enumerate(calls)
                 if a == 'DescribeRepositoryOwnerPersonal']
        tags = [i for i, a in enumerate(calls)
                if a == 'DescribeImagePersonal']
        self.assertGreaterEqual(len(pages), 3, calls)
        self.assertEqual(len(tags), len(REPOS) + 250)
        # Some tags were listed before the last page was requested.
        self.assertLess(tags[0], pages[-1], calls)
        for repo, tag in ALL_TAGS:
            self.assertEqual(
                harness.sha256_digest(skopeo_raw(self.dst, repo, tag)),
                self.digests[(repo, tag)])

    # ------------------------------------------------- hostile API (#10)
    def test_11_implausible_exp_time_one_token(self):
        # An ExpTime in seconds (or 1e300) is no millisecond time in the
        # future: the login is taken as valid for 5 minutes, with one
        # warning, and the whole run (a few seconds) needs one token.
        for exp_time in ('seconds', 1e300):
            self.start(hostile={'exp_time': exp_time})
            w = self.workdir()
            rc, out, err = run_it(self.args(w))
            self.assertEqual(rc, 0, out + err)
            self.assertEqual(w.load_report()['summary']['images_copied'],
                             len(ALL_TAGS))
            self.assert_copied(ALL_TAGS)
            tokens = self.fake.calls('CreateInstanceToken')
            self.assertEqual(len(tokens), 1, exp_time)
            self.assertEqual((out + err).count('ExpTime'), 1, out + err)
            self.assertIn('5 minutes', err)
            self.assert_no_secrets(w, out, err)
            self.fake.close()
            self.dst.stop()
            self.fake = self.dst = None

    def test_12_describe_instances_failure_says_what(self):
        cases = [
            ({'raw': {'DescribeInstances': 'not json at all'}},
             None, 'malformed response'),
            ({'raw': {'DescribeInstances':
                      '{"Response": {"Registries": {"a": 1}, '
                      '"RequestId": "rid-1"}}'}},
             None, 'no Registries list'),
            ({'raw': {'DescribeInstances':
                      '{"Response": {"Registries": ["e2e-tcr"], '
                      '"TotalCount": 1, "RequestId": "rid-2"}}'}},
             None, 'not an object'),
            (None, [{'action': 'DescribeInstances', 'every': 1,
                     'code': 'FailedOperation',
                     'message': 'instance list unavailable'}],
             'FailedOperation'),
        ]
        self.start()
        for hostile, faults, want in cases:
            self.fake.control('POST', '/__hostile', hostile or {})
            self.fake.control('POST', '/__faults', faults or [])
            w = self.workdir()
            rc, out, err = run_it(self.args(w))
            self.assertEqual(rc, 1, (want, out, err))
            self.assertNotIn('nothing to copy', out)
            # the summary says what failed, the log says what to check
            self.assertIn('DescribeInstances', out, (want, out))
            self.assertIn(want, out + err)
            self.assertIn('--tcrRegion', err)
            self.assertEqual(self.fake.calls('CreateNamespace'), [])
            self.assertEqual(self.dst_catalog(), [])
        # the key refused: exit 3, as before
        self.fake.control('POST', '/__hostile', {})
        self.fake.control('POST', '/__faults', [
            {'action': 'DescribeInstances', 'every': 1,
             'code': 'UnauthorizedOperation', 'message': 'CAM denies'}])
        w = self.workdir()
        rc, out, err = run_it(self.args(w))
        self.assertEqual(rc, 3, out + err)
        self.assertIn('DescribeInstances', err)
        self.assertIn('tcr key', err)

    def test_13_hostile_listings_fail_their_repository(self):
        # team-b/api's tags come back as the same pages over and over;
        # team-c/db's never end (pages of 20,000 new tags, past the
        # default cap of 1,000,000 tags). Each fails alone; the rest of
        # the account is copied.
        self.start(hostile={
            'repeat': {'action': 'DescribeImagePersonal',
                       'repo': 'team-b/api', 'cycle': 2},
            'endless': {'action': 'DescribeImagePersonal',
                        'repo': 'team-c/db', 'page_items': 20000,
                        'minimal': True}})
        w = self.workdir()
        rc, out, err = run_it(self.args(w), timeout=300)
        self.assertEqual(rc, 1, out + err)
        rep = w.load_report()
        failed = {i['source']: i['error'] for i in rep['images']
                  if i['status'] == 'failed'}
        self.assertEqual(sorted(failed), sorted(
            '%s/%s' % (self.src.host, r) for r in ('team-b/api',
                                                   'team-c/db')), rep)
        self.assertIn('same page again',
                      failed['%s/team-b/api' % self.src.host])
        self.assertIn('more than 1000000',
                      failed['%s/team-c/db' % self.src.host])
        good = [(r, t) for r, t in ALL_TAGS
                if r not in ('team-b/api', 'team-c/db')]
        self.assertEqual(rep['summary']['images_copied'], len(good), rep)
        self.assert_copied(good)
        self.assertEqual(len(self.fake.calls('DescribeImagePersonal')),
                         len(REPOS) - 2 + 3 + 51)

    def test_14_hostile_names_never_reach_a_request(self):
        esc_ns = 'evil\x1b[2Jns'
        bad_repos = ['team-a/web\x1b]0;pwned\x07', 'team-a/x\nResult: ok',
                     'team-a/../../etc/passwd', 'team-a/' + 'a' * 300,
                     esc_ns + '/app']

        def hostile_names(fx):
            fx['ccr']['namespaces'].append({'name': esc_ns})
            fx['ccr']['namespaces'].append({'name': 'x/../y'})
            for name in bad_repos:
                fx['ccr']['repos'].append(
                    {'name': name, 'tags': [{'name': 'v1'}]})
            fx['ccr']['repos'].append({'name': 'team-a/hostile-tags', 'tags': [
                {'name': 'v1\x1b[2J', 'push_time': '2024-01-01 00:00:00'},
                {'name': '../../v2', 'push_time': '2024-01-01 00:00:00'}]})
        self.start(mutate=hostile_names)
        for dry in (True, False):
            w = self.workdir()
            rc, out, err = run_it(self.args(w) + (['--dry-run'] if dry
                                                  else []))
            self.assertEqual(rc, 1, out + err)
            self.assertNotIn('\x1b', out)
            self.assertNotIn('\x07', out)
            self.assertNotIn('\nResult: ok', out)
            self.assertNotIn('create namespace evil', out)
            created = [c['params']['NamespaceName']
                       for c in self.fake.calls('CreateNamespace')]
            self.assertFalse([n for n in created if 'evil' in n or
                              '/' in n], created)
            rep = w.load_report()
            failed = [i for i in rep['images'] if i['status'] == 'failed']
            # every hostile repository failed with a clear reason
            self.assertEqual(len(failed), len(bad_repos) + 1, failed)
            for i in failed:
                self.assertNotIn('\x1b', i['source'] + i['error'])
                self.assertRegex(i['error'], 'not a valid (repository|tag)')
            tag_fail = [i for i in failed if 'hostile-tags' in i['source']]
            self.assertEqual(len(tag_fail), 1, failed)
            # the API was never asked about a hostile repository's tags
            asked = [c['params']['RepoName']
                     for c in self.fake.calls('DescribeImagePersonal')]
            self.assertFalse(set(asked) & set(bad_repos), asked)
            good = ALL_TAGS
            if not dry:
                self.assert_copied(good)
            self.fake.control('POST', '/__reset')
        catalog = self.dst_catalog()
        self.assertFalse([r for r in catalog if 'hostile' in r or
                          'etc' in r or 'evil' in r], catalog)


if __name__ == '__main__':
    unittest.main(verbosity=2)
