#!/usr/bin/env python3
"""Sharded runs (--shard=I/N, issue 6): N processes, each taking the
repositories whose FNV-1a 64-bit hash of the source path is I modulo N,
together do exactly what one unsharded run does.

Generic mode, against real docker-registry processes: 18 repositories in
one rule file (every rule form: all tags, one tag, a tag list, a digest,
an empty target), three shards started at once (each with its own state dir
and report) compared with an unsharded run into another target; the same
three shards one after the other sharing one state dir, and three at once
sharing one state dir; bad --shard values
(exit 2, nothing done); the shard in the dashboard's title bar (tmux).

CCR -> TCR mode, against the Tencent Cloud API double
(tests/fakes/fake_tc_api.py): three shards at once against the same fake
and the same target; every missing namespace (empty ones too) created by
exactly one successful CreateNamespace, the parallel shards' conflicts
(the API reference's FailedOperation.ErrorTcrResourceConflict) re-checked
and accepted, each repository's tags listed by exactly one shard.

The shard of each repository is computed here, in Python, independently of
the C code. skopeo checks that every image landed byte for byte.
"""
import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tcfake  # noqa: E402
from harness import Registry, make_layer, seed_image, skopeo_raw  # noqa

N = 3
CONFLICT = 'FailedOperation.ErrorTcrResourceConflict'
DST_PW = 'Shard-Dst-Pw-5150'


def fnv1a64(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001b3) % (1 << 64)
    return h


def shard_of(path, n=N):
    return fnv1a64(path) % n


def split_ref(ref):
    """'host:port/a/b:tag' or 'host/a/b@sha256:...' -> ('a/b', 'tag' or
    'sha256:...')."""
    host, _, rest = ref.partition('/')
    if '@' in rest:
        path, _, dig = rest.partition('@')
        return path, dig
    path, _, tag = rest.rpartition(':')
    return path, tag


def env_for_run():
    e = dict(os.environ)
    for k in ('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE', 'DOCKER_CONFIG',
              'TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY'):
        e.pop(k, None)
    e['HOME'] = tempfile.gettempdir()
    return e


def run_parallel(arg_lists, timeout=300):
    """Starts every command line at once; returns [(rc, out, err)]."""
    procs = [subprocess.Popen([harness.binary()] + a, env=env_for_run(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for a in arg_lists]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            results.append((p.returncode, out.decode(errors='replace'),
                            err.decode(errors='replace')))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    return results


def run_one(args, timeout=300):
    return run_parallel([args], timeout)[0]


def pairs_of(report):
    return [(i['source'], i['target']) for i in report['images']]


# ------------------------------------------------------------ generic mode

# (source path, rule form). Forms: all = every tag, one = v1 only,
# list = "v1,v2", digest = v2 by digest, empty = empty target (--registry
# and --ns).
GENERIC = [
    ('team-a/web', 'all'), ('team-a/api', 'all'),
    ('team-a/tools/builder', 'all'), ('team-b/db', 'all'),
    ('team-b/cache', 'all'), ('ops/agent', 'all'), ('ops/exporter', 'all'),
    ('data/etl', 'all'), ('data/loader', 'all'),
    ('ml/train', 'one'), ('ml/serve', 'one'), ('edge/proxy', 'one'),
    ('edge/gw', 'list'), ('lib/base', 'list'), ('lib/python', 'list'),
    ('deep/a/b/c', 'digest'), ('solo-ns/app', 'digest'),
    ('team-c/ui', 'empty'),
]
KINDS = ('v2s2', 'oci', 'list', 'index')


class GenericShardTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        cls.dst_ref = Registry(auth='basic', users={'bob': DST_PW}).start()
        cls.dst = Registry(auth='basic', users={'bob': DST_PW}).start()
        cls.dst_seq = Registry(auth='basic', users={'bob': DST_PW}).start()
        cls.dst_none = Registry(auth='basic', users={'bob': DST_PW}).start()
        base = [make_layer(7, 24 * 1024)]
        cls.digests = {}
        for k, (repo, _) in enumerate(GENERIC):
            for t, tag in enumerate(('v1', 'v2')):
                img = seed_image(cls.src, repo, tag,
                                 kind=KINDS[(k + t) % len(KINDS)],
                                 shared=base, seed=1000 + 10 * k + t)
                cls.digests[(repo, tag)] = img['digest']

    @classmethod
    def tearDownClass(cls):
        for r in (cls.src, cls.dst_ref, cls.dst, cls.dst_seq, cls.dst_none):
            r.stop()

    def workdir(self):
        w = harness.Workdir(prefix='it-shard-')
        self.addCleanup(w.cleanup)
        return w

    def rules(self, dst):
        s, d = self.src.host, dst.host
        lines = []
        for repo, form in GENERIC:
            if form == 'all':
                lines.append('%s/%s: %s/%s' % (s, repo, d, repo))
            elif form == 'one':
                lines.append('%s/%s:v1: %s/%s:v1' % (s, repo, d, repo))
            elif form == 'list':
                lines.append('"%s/%s:v1,v2": %s/%s' % (s, repo, d, repo))
            elif form == 'digest':
                lines.append('%s/%s@%s: %s/%s:pinned' % (
                    s, repo, self.digests[(repo, 'v2')], d, repo))
            else:
                lines.append('%s/%s:' % (s, repo))
        return '\n'.join(lines) + '\n'

    def args(self, w, dst, extra=(), state=None, report=None):
        secrets = ('%s:\n  insecure: true\n'
                   '%s:\n  username: bob\n  password: "%s"\n'
                   '  insecure: true\n' % (self.src.host, dst.host, DST_PW))
        return ['--securityFile', w.write('registry-secret.yaml', secrets),
                '--ruleFile', w.write('transfer-rule.yaml', self.rules(dst)),
                '--registry', dst.host, '--ns', 'defns', '--no-tui',
                '--qps=0', '--routines=3',
                '--state-dir', state or w.state,
                '--report', report or w.report] + list(extra)

    def expected_images(self, dst):
        """(source, target) of every image the rule file names: what an
        unsharded run must report."""
        s, d = self.src.host, dst.host
        out = []
        for repo, form in GENERIC:
            tags = ('v1',) if form == 'one' else ('v1', 'v2')
            if form == 'digest':
                dig = self.digests[(repo, 'v2')]
                out.append(('%s/%s@%s' % (s, repo, dig),
                            '%s/%s:pinned' % (d, repo)))
                continue
            for t in tags:
                target = repo if form != 'empty' else \
                    'defns/' + repo.split('/', 1)[1]
                out.append(('%s/%s:%s' % (s, repo, t),
                            '%s/%s:%s' % (d, target, t)))
        return out

    def check_landed(self, dst, pairs):
        """skopeo: every target holds exactly the source's manifest."""
        for source, target in pairs:
            spath, sref = split_ref(source)
            tpath, tref = split_ref(target)
            want = skopeo_raw(self.src, spath, sref)
            got = skopeo_raw(dst, tpath, tref)
            self.assertEqual(harness.sha256_digest(got),
                             harness.sha256_digest(want), target)
            self.assertEqual(got, want, target)

    def check_shards(self, reports, ref_pairs, dst_ref, dst):
        """The N reports cover the unsharded run's images exactly once,
        each in the shard its source path hashes to."""
        self.assertEqual(len(reports), N)
        union = []
        for i, rep in enumerate(reports):
            self.assertEqual(rep['shard'], {'index': i, 'count': N}, rep)
            for source, target in pairs_of(rep):
                path, _ = split_ref(source)
                self.assertEqual(shard_of(path), i,
                                 '%s reported by shard %d' % (source, i))
            union += pairs_of(rep)
        self.assertEqual(len(union), len(set(union)),
                         'an image in two shards')
        ref = sorted((s, t.replace(dst_ref.host, dst.host, 1))
                     for s, t in ref_pairs)
        self.assertEqual(sorted(union), ref)
        # Every repository in exactly one shard.
        repos = {}
        for i, rep in enumerate(reports):
            for source, _ in pairs_of(rep):
                repos.setdefault(split_ref(source)[0], set()).add(i)
        self.assertEqual(sorted(repos), sorted(r for r, _ in GENERIC))
        for repo, shards in repos.items():
            self.assertEqual(len(shards), 1, (repo, shards))

    def test_1_parallel_shards_equal_unsharded_run(self):
        # The test means something only if each shard has work.
        per_shard = [sum(1 for r, _ in GENERIC if shard_of(r) == i)
                     for i in range(N)]
        self.assertTrue(all(per_shard), per_shard)

        ref = self.workdir()
        rc, out, err = run_one(self.args(ref, self.dst_ref))
        self.assertEqual(rc, 0, out + err)
        ref_rep = ref.load_report()
        self.assertNotIn('shard', ref_rep)
        ref_pairs = pairs_of(ref_rep)
        self.assertEqual(sorted(ref_pairs),
                         sorted(self.expected_images(self.dst_ref)))

        ws = [self.workdir() for _ in range(N)]
        results = run_parallel([
            self.args(ws[i], self.dst, ['--shard=%d/%d' % (i, N)])
            for i in range(N)])
        reports = []
        for i, (rc, out, err) in enumerate(results):
            self.assertEqual(rc, 0, out + err)
            rep = ws[i].load_report()
            reports.append(rep)
            self.assertEqual(rep['summary']['images_failed'], 0, rep)
            for img in rep['images']:
                self.assertEqual(img['status'], 'copied', img)
            # The shard on the summary, in the log's summary line and in
            # the rule count.
            self.assertIn('Shard:   %d/%d' % (i, N), out)
            self.assertIn('summary: shard %d/%d: %d images: %d copied' % (
                i, N, len(rep['images']), len(rep['images'])), err)
            self.assertIn('shard %d/%d: %d of %d rules' % (
                i, N, per_shard[i], len(GENERIC)), err)
            self.assertNotIn(DST_PW, out + err + ws[i].journal())
        self.check_shards(reports, ref_pairs, self.dst_ref, self.dst)
        self.check_landed(self.dst, sum((pairs_of(r) for r in reports), []))

        # A rerun of one shard with its own state dir: nothing to do.
        rc, out, err = run_one(self.args(ws[1], self.dst, ['--shard=1/3']))
        self.assertEqual(rc, 0, out + err)
        rep = ws[1].load_report()
        self.assertEqual(rep['summary']['images_skipped'],
                         len(reports[1]['images']), rep)
        self.assertEqual(rep['summary']['bytes_copied'], 0, rep)

    def test_2_same_state_dir_in_sequence(self):
        ref = sorted(self.expected_images(self.dst_seq))
        w = self.workdir()
        reports = []
        for i in range(N):
            report = os.path.join(w.dir, 'report-%d.json' % i)
            rc, out, err = run_one(self.args(
                w, self.dst_seq, ['--shard', '%d/%d' % (i, N)],
                report=report))
            self.assertEqual(rc, 0, out + err)
            with open(report) as f:
                reports.append(json.load(f))
        self.check_shards(reports, ref, self.dst_seq, self.dst_seq)
        self.check_landed(self.dst_seq,
                          sum((pairs_of(r) for r in reports), []))
        # One journal holds the finished images of all three shards.
        journal = [json.loads(l) for l in w.journal().splitlines() if l]
        journaled = {(r.get('source'), r.get('target')) for r in journal}
        for rep in reports:
            for pair in pairs_of(rep):
                self.assertIn(pair, journaled)
        # Each shard again, same state dir: everything of that shard is
        # known to the journal and skipped; no other shard's image shows.
        for i in range(N):
            rc, out, err = run_one(self.args(
                w, self.dst_seq, ['-shard=%d/%d' % (i, N)]))
            self.assertEqual(rc, 0, out + err)
            rep = w.load_report()
            self.assertEqual(sorted(pairs_of(rep)),
                             sorted(pairs_of(reports[i])))
            for img in rep['images']:
                self.assertEqual(img['status'], 'skipped', img)
                self.assertIn('journal', img['error'], img)

    def test_3_bad_shard_exits_2_and_does_nothing(self):
        cases = [
            ('--shard=3/3', 'the shard index I must be less than N'),
            ('--shard=0/0', 'the shard count N must be from 1 to 65536'),
            ('--shard=1', "expected I/N such as 0/3"),
            ('--shard=-1/3', "got '-1/3'"),
            ('--shard=1/3x', "got '1/3x'"),
            ('--shard=a/3', "got 'a/3'"),
            ('--shard=0/70000', 'the shard count N must be from 1 to 65536'),
        ]
        for flag, want in cases:
            w = self.workdir()
            rc, out, err = run_one(self.args(w, self.dst_none, [flag]))
            self.assertEqual(rc, 2, (flag, out, err))
            self.assertIn('--shard: ', err)
            self.assertIn(want, err, flag)
            self.assertFalse(os.path.exists(w.report), flag)
            self.assertFalse(os.path.exists(w.state), flag)
        status, _, body = self.dst_none.request('GET', '/v2/_catalog')
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body).get('repositories') or [], [])

    def test_6_parallel_runs_share_a_state_dir(self):
        """Shards started at the same time with one --state-dir: the
        journal (SQLite, WAL) takes their records in turns; every shard
        succeeds, the one journal holds the finished images of all of
        them, and each shard again finds all its images there."""
        w = self.workdir()
        dst = harness.Registry(auth='basic', users={'bob': DST_PW}).start()
        self.addCleanup(dst.stop)
        ref = sorted(self.expected_images(dst))
        reports = [os.path.join(w.dir, 'report-%d.json' % i)
                   for i in range(N)]
        results = run_parallel([
            self.args(w, dst, ['--shard=%d/%d' % (i, N)], report=reports[i])
            for i in range(N)])
        reps = []
        for i, (rc, out, err) in enumerate(results):
            self.assertEqual(rc, 0, out + err)
            self.assertNotIn('in use', err)
            with open(reports[i]) as f:
                reps.append(json.load(f))
        self.check_shards(reps, ref, dst, dst)
        journal = [json.loads(l) for l in w.journal().splitlines() if l]
        journaled = {(r.get('source'), r.get('target')) for r in journal}
        for rep in reps:
            for pair in pairs_of(rep):
                self.assertIn(pair, journaled)
        results = run_parallel([
            self.args(w, dst, ['--shard=%d/%d' % (i, N)], report=reports[i])
            for i in range(N)])
        for i, (rc, out, err) in enumerate(results):
            self.assertEqual(rc, 0, out + err)
            with open(reports[i]) as f:
                rep = json.load(f)
            self.assertEqual(sorted(pairs_of(rep)), sorted(pairs_of(reps[i])))
            for img in rep['images']:
                self.assertEqual(img['status'], 'skipped', img)
                self.assertIn('journal', img['error'], img)

    def test_4_dry_run_plans_split_the_same_way(self):
        def planned(extra):
            w = self.workdir()
            rc, out, err = run_one(self.args(w, self.dst_none,
                                             ['--dry-run'] + extra))
            self.assertEqual(rc, 0, out + err)
            shard = [a.split('=')[1] for a in extra if '--shard' in a]
            self.assertIn('dry run: %s' % ''.join(
                'shard %s: ' % s for s in shard), out)
            return sorted(pairs_of(w.load_report()))

        everything = planned([])
        self.assertEqual(len(everything), len(self.expected_images(
            self.dst_none)))
        self.assertEqual(planned(['--shard=0/1']), everything)
        parts = [planned(['--shard=%d/%d' % (i, N)]) for i in range(N)]
        self.assertEqual(sorted(sum(parts, [])), everything)

    def test_5_dashboard_title_shows_the_shard(self):
        if not shutil.which('tmux'):
            self.skipTest('tmux not installed')
        from test_tui import Pane  # noqa: E402
        dst = Registry(auth='basic', users={'bob': DST_PW}).start()
        self.addCleanup(dst.stop)
        w = self.workdir()
        cmd = ' '.join(shlex.quote(a) for a in [harness.binary()] + self.args(
            w, dst, ['--shard=2/3']) if a != '--no-tui') + ' --tui'
        pane = Pane(cmd, width=100, height=30,
                    env={'HOME': shlex.quote(w.dir)})
        self.addCleanup(pane.close)
        screen = pane.wait_for(lambda s: 'Press any key to exit' in s,
                               'the finished dashboard')
        title = screen.splitlines()[0]
        self.assertRegex(title, r'image-transfer .*generic .*shard 2/3 .*'
                         r'DONE')
        # Not repeated among the preparation lines.
        self.assertNotRegex(screen, r'(?m)^ Shard\s')
        self.assertNotIn(DST_PW, screen)
        pane.keys('q')
        self.assertEqual(pane.wait_rc(), 0)
        summary = pane.capture()
        self.assertIn('Shard:   2/3', summary)
        rep = w.load_report()
        self.assertEqual(rep['shard'], {'index': 2, 'count': 3})
        self.assertTrue(rep['images'])


# -------------------------------------------------------------- CCR -> TCR

BASE = tcfake.load_fixture()
CCR_KEY, TCR_KEY = BASE['credentials'][0], BASE['credentials'][1]
INSTANCE = next(i for i in BASE['tcr']['instances'] if i['name'] == 'e2e-tcr')
REGID, UIN, TOKEN = INSTANCE['id'], BASE['uin'], INSTANCE['token']
SRC_USER, SRC_PW = 'ccr-user', 'Ccr-Shard-Pw-2323'

# More repositories and namespaces than the e2e account: new namespaces
# whose repositories fall into several shards, and empty ones.
EXTRA_NS = ['team-d', 'team-e', 'empty-2', 'empty-3']
EXTRA_REPOS = ['team-a/svc%d' % k for k in range(4)] + \
    ['team-b/job%d' % k for k in range(3)] + \
    ['team-d/app%d' % k for k in range(4)] + \
    ['team-e/lib%d' % k for k in range(3)]


def account():
    fx = copy.deepcopy(BASE)
    for n in EXTRA_NS:
        fx['ccr']['namespaces'].append(
            {'name': n, 'creation_time': '2024-07-01 10:00:00'})
    for k, name in enumerate(EXTRA_REPOS):
        fx['ccr']['repos'].append({'name': name, 'public': 0, 'tags': [
            {'name': 'v1', 'seed_kind': 'v2s2', 'seed': 5000 + 2 * k,
             'size': 20000, 'push_time': '2024-07-02 10:00:00'},
            {'name': 'v2', 'seed_kind': 'oci', 'seed': 5001 + 2 * k,
             'size': 20000, 'push_time': '2024-07-03 10:00:00'}]})
    return fx


class CcrShardTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.fx = account()
        cls.src = Registry(auth='basic', users={SRC_USER: SRC_PW}).start()
        cls.digests = {}
        for r in cls.fx['ccr']['repos']:
            for t in r['tags']:
                img = seed_image(cls.src, r['name'], t['name'],
                                 kind=t['seed_kind'], seed=t['seed'])
                cls.digests[(r['name'], t['name'])] = img['digest']
                t['digest'] = img['digest']

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()

    def setUp(self):
        self.dst = Registry(auth='basic', users={UIN: TOKEN}).start()
        self.addCleanup(self.dst.stop)

    def fake(self, faults=None):
        fx = copy.deepcopy(self.fx)
        for inst in fx['tcr']['instances']:
            if inst['id'] == REGID:
                inst['public_domain'] = self.dst.host
        fx['options']['faults'] = faults or []
        f = tcfake.FakeTC(fx, prefix='it-shard-fake-')
        self.addCleanup(f.close)
        return f

    def workdir(self):
        w = harness.Workdir(prefix='it-shard-ccr-')
        self.addCleanup(w.cleanup)
        return w

    def args(self, w, fake, extra=()):
        sec = ('%s:\n  username: %s\n  password: "%s"\n  insecure: true\n'
               '%s:\n  insecure: true\n' % (self.src.host, SRC_USER, SRC_PW,
                                            self.dst.host))
        tc = ('ccr:\n  secretId: %s\n  secretKey: "%s"\n'
              'tcr:\n  secretId: %s\n  secretKey: "%s"\n' % (
                  CCR_KEY['secret_id'], CCR_KEY['secret_key'],
                  TCR_KEY['secret_id'], TCR_KEY['secret_key']))
        return ['--ccrToTcr=true',
                '--securityFile=' + w.write('registry-secret.yaml', sec),
                '--secretFile=' + w.write('tencentcloud-secret.yaml', tc),
                '--tcrName=e2e-tcr', '--ccr-registry=' + self.src.host,
                '--tc-endpoint=' + fake.endpoint, '--no-tui', '--qps=0',
                '--routines=3', '--state-dir=' + w.state,
                '--report=' + w.report] + list(extra)

    def tcr_namespaces(self, fake):
        st = fake.control('GET', '/__state')
        return {n['name'] for n in st['tcr_namespaces'].get(REGID, [])}

    def test_1_parallel_shards_same_fake_same_target(self):
        repos = [r['name'] for r in self.fx['ccr']['repos']]
        all_ns = [n['name'] for n in self.fx['ccr']['namespaces']]
        fake = self.fake()
        before = self.tcr_namespaces(fake)
        missing = [n for n in all_ns if n not in before]
        # Preconditions that make this test mean something: every shard
        # has repositories; some missing namespace is needed by a shard
        # that does not own it (created on demand, racing its owner);
        # some missing namespace is empty (only its owner creates it).
        self.assertTrue(all(any(shard_of(r) == i for r in repos)
                            for i in range(N)))
        self.assertTrue(any(shard_of(r) != shard_of(r.split('/')[0])
                            for r in repos if r.split('/')[0] in missing))
        empty = [n for n in missing
                 if not any(r.split('/')[0] == n for r in repos)]
        self.assertGreaterEqual(len(empty), 2, empty)

        ws = [self.workdir() for _ in range(N)]
        results = run_parallel([self.args(ws[i], fake, ['--shard=%d/%d' %
                                                         (i, N)])
                                for i in range(N)])
        union = []
        for i, (rc, out, err) in enumerate(results):
            self.assertEqual(rc, 0, out + err)
            rep = ws[i].load_report()
            self.assertEqual(rep['mode'], 'ccrToTcr')
            self.assertEqual(rep['shard'], {'index': i, 'count': N})
            self.assertEqual(rep['summary']['images_failed'], 0, rep)
            for source, target in pairs_of(rep):
                self.assertEqual(shard_of(split_ref(source)[0]), i, source)
            union += pairs_of(rep)
            self.assertIn('Shard:   %d/%d' % (i, N), out)
            owned = sum(1 for n in all_ns if shard_of(n) == i)
            self.assertIn('namespaces: %d in CCR (shard %d/%d looks after '
                          '%d of them' % (len(all_ns), i, N, owned), err)
            for s in (CCR_KEY['secret_key'], TCR_KEY['secret_key'], TOKEN,
                      SRC_PW):
                self.assertNotIn(s, out + err + ws[i].journal())
        want = sorted(('%s/%s:%s' % (self.src.host, r['name'], t['name']),
                       '%s/%s:%s' % (self.dst.host, r['name'], t['name']))
                      for r in self.fx['ccr']['repos'] for t in r['tags'])
        self.assertEqual(len(union), len(set(union)), 'image in two shards')
        self.assertEqual(sorted(union), want)

        # Each repository's tags were listed by exactly one shard: the
        # others dropped it as it streamed in.
        listed = sorted(c['params']['RepoName']
                        for c in fake.calls('DescribeImagePersonal'))
        self.assertEqual(listed, sorted(repos))

        # Every missing namespace, empty ones included, now exists, made
        # by exactly one successful CreateNamespace; what failed was only
        # the conflict of a parallel shard, re-checked by name.
        self.assertEqual(self.tcr_namespaces(fake), before | set(all_ns))
        creates = fake.calls('CreateNamespace')
        ok = sorted(c['params']['NamespaceName'] for c in creates
                    if c['error'] is None)
        self.assertEqual(ok, sorted(missing))
        rechecked = {c['params'].get('NamespaceName')
                     for c in fake.calls('DescribeNamespaces')}
        for c in creates:
            if c['error'] is not None:
                self.assertEqual(c['error'], CONFLICT, c)
                self.assertIn(c['params']['NamespaceName'], rechecked)
            self.assertNotIn(c['params']['NamespaceName'], before)
        conflicts = sum(1 for c in creates if c['error'] is not None)
        sys.stderr.write('(%d CreateNamespace conflicts between the '
                         'parallel shards)\n' % conflicts)
        for source, target in union:
            path, tag = split_ref(target)
            got = skopeo_raw(self.dst, path, tag)
            self.assertEqual(harness.sha256_digest(got),
                             self.digests[(path, tag)], target)

    def conflict_run(self, carried_out):
        """Shard 0/3 whose first CreateNamespace is answered with the
        conflict code (carried out first or not); returns (the fake,
        stderr, the namespace, the report) after checking the run."""
        fake = self.fake(faults=[{'action': 'CreateNamespace', 'nth': [1],
                                  'after': carried_out, 'code': CONFLICT,
                                  'message': 'project named x already '
                                  'exists'}])
        w = self.workdir()
        rc, out, err = run_one(self.args(w, fake, ['--shard=0/3']))
        self.assertEqual(rc, 0, out + err)
        creates = fake.calls('CreateNamespace')
        self.assertTrue(creates, 'shard 0/3 created no namespace')
        self.assertEqual(creates[0]['error'], CONFLICT)
        rep = w.load_report()
        self.assertEqual(rep['summary']['images_failed'], 0, rep)
        return fake, err, creates[0]['params']['NamespaceName'], rep

    def test_2_conflict_from_a_parallel_shard_is_accepted(self):
        # Deterministic stand-in for the race: the first CreateNamespace is
        # carried out, but answered with the conflict code, as when another
        # shard created the namespace between this shard's list and its
        # create. The shard re-checks and goes on: nothing fails.
        fake, err, first, rep = self.conflict_run(carried_out=True)
        self.assertTrue(any(c['params'].get('NamespaceName') == first
                            for c in fake.calls('DescribeNamespaces')),
                        'no re-check after the conflict')
        self.assertIn('TCR namespace %s already exists' % first, err)
        self.assertIn(first, self.tcr_namespaces(fake))
        self.assertEqual(rep['shard'], {'index': 0, 'count': 3})

    def test_3_conflict_not_listed_yet_is_taken_as_existing(self):
        # The API answers the create with the conflict code but does not
        # list the namespace (it was created a moment ago elsewhere and the
        # listing lags): the shard re-checks a few times, warns, and goes
        # on; its repositories do not fail on a namespace that exists.
        fake, err, first, rep = self.conflict_run(carried_out=False)
        rechecks = [c for c in fake.calls('DescribeNamespaces')
                    if c['params'].get('NamespaceName') == first]
        self.assertEqual(len(rechecks), 3, rechecks)
        self.assertIn('TCR says namespace %s already exists' % first, err)
        self.assertNotIn('could not be created', err)

if __name__ == '__main__':
    unittest.main(verbosity=2)
