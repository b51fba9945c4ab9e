"""End-to-end tests of the generic mode: the image-transfer binary against
real docker-registry processes, checked with skopeo."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Registry, seed_image, make_layer, skopeo_raw  # noqa


def run_it(args, timeout=300, env=None):
    return harness.run_binary(
        args, timeout=timeout, env=env,
        unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'),
        home=os.environ.get('IT_TEST_HOME'))


def secrets_yaml(*regs):
    lines = []
    for r in regs:
        lines.append('%s:' % r.host)
        if r.username:
            lines.append('  username: %s' % r.username)
            lines.append('  password: "%s"' % r.password)
        lines.append('  insecure: true')
    return '\n'.join(lines) + '\n'


PASSWORD = 'S3cret-pa55-word'


class GenericModeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        cls.src2 = Registry(auth='basic',
                            users={'alice': 'Alice-Src-Pw-77'}).start()
        cls.dst = Registry(auth='basic', users={'bob': PASSWORD}).start()
        base = [make_layer(1, 40 * 1024), make_layer(2, 20 * 1024)]
        cls.base = base
        cls.images = {}
        for repo, kinds in (('team/web', ['v2s2', 'oci', 'list', 'index']),
                            ('team/api', ['v2s2', 'oci']),
                            ('tools/cli', ['v2s2', 'index'])):
            for i, kind in enumerate(kinds):
                tag = 'v%d' % (i + 1)
                cls.images[(repo, tag)] = seed_image(
                    cls.src, repo, tag, kind=kind, shared=base,
                    seed=hash((repo, tag)) & 0xffff)
        cls.images[('other/db', '1.0')] = seed_image(
            cls.src2, 'other/db', '1.0', kind='v2s2', shared=base, seed=99)

    @classmethod
    def tearDownClass(cls):
        for r in (cls.src, cls.src2, cls.dst):
            r.stop()

    def assert_same(self, src_repo, tag, dst_repo, dst_tag=None, src=None):
        src = src or self.src
        want = skopeo_raw(src, src_repo, tag)
        got = skopeo_raw(self.dst, dst_repo, dst_tag or tag)
        self.assertEqual(harness.sha256_digest(want),
                         harness.sha256_digest(got),
                         '%s:%s -> %s' % (src_repo, tag, dst_repo))
        self.assertEqual(want, got)

    def workdir(self):
        w = harness.Workdir(prefix='it-generic-')
        self.addCleanup(w.cleanup)
        return w

    def common_args(self, w, secrets, rules):
        return ['--securityFile', w.write('registry-secret.yaml', secrets),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--qps=0', '--routines=4']

    # -------------------------------------------------------------------
    def test_1_every_rule_form_then_rerun(self):
        s, d = self.src.host, self.dst.host
        rules = (
            '# one tag, renamed target\n'
            '%s/team/web:v1: %s/mirror/web:first\n'
            '# every tag of a repository\n'
            '%s/team/web: %s/mirror/web\n'
            '# a tag list\n'
            '"%s/team/api:v1,v2": %s/mirror/api\n'
            '# empty target: --registry and --ns\n'
            '%s/tools/cli:\n'
            '# a digest\n'
            '%s/team/api@%s: %s/pinned/api:pinned\n' % (
                s, d, s, d, s, d, s, s,
                self.images[('team/api', 'v2')]['digest'], d))
        w = self.workdir()
        rc, out, err = run_it(self.common_args(
            w, secrets_yaml(self.src, self.dst), rules) +
            ['--registry', d, '--ns', 'defns'])
        self.assertEqual(rc, 0, out + err)
        rep = w.load_report()
        # The one-line summary on stderr agrees with the report.
        self.assertIn('summary: 10 images: %d copied' %
                      rep['summary']['images_copied'], err)
        self.assertEqual(rep['version'], 1)
        self.assertEqual(rep['mode'], 'generic')
        summ = rep['summary']
        # web:v1 twice (renamed + all tags), web v1..v4, api v1,v2,
        # cli v1,v2, pinned
        self.assertEqual(summ['images_total'], 10, rep)
        self.assertEqual(summ['images_failed'], 0, rep)
        self.assertGreater(summ['blobs_mounted'], 0, rep)
        for img in rep['images']:
            self.assertIn(img['status'], ('copied', 'skipped'), img)
        self.assert_same('team/web', 'v1', 'mirror/web', 'first')
        for t in ('v1', 'v2', 'v3', 'v4'):
            self.assert_same('team/web', t, 'mirror/web')
        for t in ('v1', 'v2'):
            self.assert_same('team/api', t, 'mirror/api')
            self.assert_same('tools/cli', t, 'defns/cli')
        self.assert_same('team/api', 'v2', 'pinned/api', 'pinned')
        # Each distinct blob crossed the wire once: everything else was
        # mounted or skipped.
        distinct = set()
        for (repo, tag), info in self.images.items():
            if repo != 'other/db':
                distinct.update(info['blobs'])
        self.assertEqual(summ['blobs_copied'], len(distinct), summ)
        self.assertGreaterEqual(harness_journal_blobs(w),
                                summ['blobs_copied'] + summ['blobs_mounted'])
        # The second run moves nothing.
        rc, out, err = run_it(self.common_args(
            w, secrets_yaml(self.src, self.dst), rules) +
            ['--registry', d, '--ns', 'defns'])
        self.assertEqual(rc, 0, out + err)
        rep = w.load_report()
        self.assertEqual(rep['summary']['images_skipped'], 10, rep)
        self.assertEqual(rep['summary']['blobs_copied'], 0)
        self.assertEqual(rep['summary']['bytes_copied'], 0)
        # With the journal, an unchanged tag costs one HEAD on the source.
        for img in rep['images']:
            self.assertIn('journal', img['error'], img)
        # Without a journal (a new state dir) the digests are compared on
        # both sides; what is found already present is journaled, so the
        # next run with that state dir uses the journal.
        w2 = self.workdir()
        for journaled in (False, True):
            rc, out, err = run_it(self.common_args(
                w2, secrets_yaml(self.src, self.dst), rules) +
                ['--registry', d, '--ns', 'defns'])
            self.assertEqual(rc, 0, out + err)
            for img in w2.load_report()['images']:
                self.assertEqual(img['status'], 'skipped', img)
                self.assertIn('same digest', img['error'], img)
                self.assertEqual('journal' in img['error'], journaled, img)
        # Secrets never show.
        for text in (out, err, w.journal(), json.dumps(rep)):
            self.assertNotIn(PASSWORD, text)

    def test_2_tag_exist_not_overridden(self):
        d = self.dst.host
        # The target already has web:v2 under another digest.
        other = seed_image(self.dst, 'keep/web', 'v2', kind='v2s2', seed=4242)
        rules = '%s/team/web:v2: %s/keep/web:v2\n' % (self.src.host, d)
        w = self.workdir()
        rc, out, err = run_it(self.common_args(
            w, secrets_yaml(self.src, self.dst), rules) +
            ['--tag-exist-overridden=false'])
        self.assertEqual(rc, 0, out + err)
        rep = w.load_report()
        self.assertEqual(rep['images'][0]['status'], 'skipped')
        self.assertIn('tag-exist-overridden', rep['images'][0]['error'])
        got = skopeo_raw(self.dst, 'keep/web', 'v2')
        self.assertEqual(harness.sha256_digest(got), other['digest'])
        # ... and with the default (true) it is overwritten.
        rc, out, err = run_it(self.common_args(
            w, secrets_yaml(self.src, self.dst), rules))
        self.assertEqual(rc, 0, out + err)
        self.assert_same('team/web', 'v2', 'keep/web')

    def test_3_bad_source_credentials_fail_alone(self):
        d = self.dst.host
        secrets = secrets_yaml(self.src, self.dst) + (
            '%s:\n  username: alice\n  password: "wrong-Pw-123"\n'
            '  insecure: true\n' % self.src2.host)
        rules = ('%s/other/db:1.0: %s/mixed/db:1.0\n'
                 '%s/team/api:v1: %s/mixed/api:v1\n' % (
                     self.src2.host, d, self.src.host, d))
        w = self.workdir()
        rc, out, err = run_it(self.common_args(w, secrets, rules) +
                              ['--retry=0', '--retry-window=0'])
        self.assertEqual(rc, 1, out + err)
        rep = w.load_report()
        by_src = {i['source']: i for i in rep['images']}
        failed = [i for i in rep['images'] if i['status'] == 'failed']
        self.assertEqual(len(failed), 1, rep)
        self.assertIn('other/db', failed[0]['source'])
        self.assertTrue(failed[0]['error'])
        ok = by_src['%s/team/api:v1' % self.src.host]
        self.assertEqual(ok['status'], 'copied')
        self.assert_same('team/api', 'v1', 'mixed/api')
        for text in (out, err, json.dumps(rep), w.journal()):
            self.assertNotIn('wrong-Pw-123', text)
            self.assertNotIn(PASSWORD, text)

    def test_4_dry_run_writes_nothing(self):
        d = self.dst.host
        rules = '%s/team/web: %s/dry/web\n' % (self.src.host, d)
        w = self.workdir()
        rc, out, err = run_it(self.common_args(
            w, secrets_yaml(self.src, self.dst), rules) + ['--dry-run'])
        self.assertEqual(rc, 0, out + err)
        self.assertIn('dry run', out)
        self.assertEqual(
            sum(1 for l in out.splitlines() if l.startswith('copy ')), 4, out)
        status, _, _ = self.dst.request(
            'GET', '/v2/dry/web/tags/list', scope='repository:dry/web:pull')
        self.assertEqual(status, 404)
        self.assertFalse(os.path.exists(os.path.join(w.state,
                                                     'journal.db')))

    def test_5_bad_config_exit_2(self):
        w = self.workdir()
        good_rules = w.write('r.yaml', '%s/team/web:v1: %s/x/web:v1\n' % (
            self.src.host, self.dst.host))
        good_sec = w.write('s.yaml', secrets_yaml(self.src, self.dst))
        cases = [
            (['--ruleFile', w.write('bad1.yaml', 'a: [1, 2\n'),
              '--securityFile', good_sec], 'bad1.yaml:'),
            (['--ruleFile', w.write('bad2.yaml', '- a\n- b\n'),
              '--securityFile', good_sec], 'bad2.yaml:1'),
            (['--ruleFile', good_rules, '--securityFile',
              w.write('bad3.yaml', '%s:\n  user: x\n' % self.dst.host)],
             'bad3.yaml:2'),
            (['--ruleFile', w.write('bad4.yaml',
                                    '%s/a/b:1,2: %s/c/d:tag\n' % (
                                        self.src.host, self.dst.host)),
              '--securityFile', good_sec], 'bad4.yaml:1'),
            (['--ruleFile', os.path.join(w.dir, 'missing.yaml'),
              '--securityFile', good_sec], 'missing.yaml'),
            (['--ruleFile', w.write('bad6.yaml', '%s/team/web:\n' %
                                    self.src.host),
              '--securityFile', good_sec], 'bad6.yaml:1'),
            (['--ruleFile', good_rules, '--routines', 'many'],
             '--routines'),
        ]
        for args, needle in cases:
            rc, out, err = run_it(args + ['--state-dir', w.state,
                                          '--no-tui'])
            self.assertEqual(rc, 2, (args, out, err))
            self.assertIn(needle, err, (args, err))
        status, _, _ = self.dst.request(
            'GET', '/v2/x/web/tags/list', scope='repository:x/web:pull')
        self.assertEqual(status, 404)

    def test_6_sigkill_then_rerun_finishes(self):
        d = self.dst.host
        # Enough bytes that the kill lands mid-copy.
        big = [make_layer(500 + i, 3 * 1024 * 1024) for i in range(6)]
        for i in range(3):
            seed_image(self.src, 'heavy/app', 't%d' % i,
                       layers=big[i * 2:i * 2 + 2], seed=700 + i)
        rules = '%s/heavy/app: %s/heavy/app\n' % (self.src.host, d)
        w = self.workdir()
        args = self.common_args(w, secrets_yaml(self.src, self.dst), rules)
        args += ['--bandwidth=4M', '--routines=2']
        p = subprocess.Popen([harness.binary()] + args,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None:
            if w.journal().count('"blob"') >= 2:
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        # Simulate a torn write from the crash, too: half a WAL frame
        # (header and a partial page) after the last one written.
        wal = os.path.join(w.state, 'journal.db-wal')
        self.assertTrue(os.path.exists(wal), 'killed: the WAL is left')
        with open(wal, 'ab') as f:
            f.write(b'\x00\x00\x00\x02' + b'\xa5' * 1000)
        rc, out, err = run_it(self.common_args(
            w, secrets_yaml(self.src, self.dst), rules))
        self.assertEqual(rc, 0, out + err)
        for i in range(3):
            self.assert_same('heavy/app', 't%d' % i, 'heavy/app')

    def test_7_interrupt_is_graceful(self):
        d = self.dst.host
        big = [make_layer(800 + i, 2 * 1024 * 1024) for i in range(4)]
        for i in range(4):
            seed_image(self.src, 'slow/app', 's%d' % i, layers=[big[i]],
                       seed=900 + i)
        rules = '%s/slow/app: %s/slow/app\n' % (self.src.host, d)
        w = self.workdir()
        args = self.common_args(w, secrets_yaml(self.src, self.dst), rules)
        args += ['--bandwidth=2M', '--routines=1']
        p = subprocess.Popen([harness.binary()] + args,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None:
            if w.journal().count('"blob"') >= 1:
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 130, err)
        rep = w.load_report()
        self.assertTrue(rep['interrupted'])
        # Whatever was reported copied is really there, intact.
        for img in rep['images']:
            if img['status'] == 'copied':
                tag = img['target'].rsplit(':', 1)[1]
                self.assert_same('slow/app', tag, 'slow/app')

    def test_8_journal_rerun_still_sees_changes(self):
        """A rerun trusts the journal only for what it can see unchanged:
        a tag deleted on the target is copied again, a tag moved on the
        source is copied again, the rest is skipped."""
        d = self.dst.host
        for t, sd in (('a', 31), ('b', 32)):
            seed_image(self.src, 'jr/app', t, kind='v2s2', seed=sd)
        rules = '%s/jr/app: %s/jr/app\n' % (self.src.host, d)
        w = self.workdir()
        args = self.common_args(w, secrets_yaml(self.src, self.dst), rules)
        rc, out, err = run_it(args)
        self.assertEqual(rc, 0, out + err)
        # Delete b on the target; move a on the source.
        b_digest = harness.sha256_digest(skopeo_raw(self.dst, 'jr/app', 'b'))
        status, _, body = self.dst.request(
            'DELETE', '/v2/jr/app/manifests/%s' % b_digest,
            scope='repository:jr/app:pull,push,delete')
        self.assertEqual(status, 202, body)
        seed_image(self.src, 'jr/app', 'a', kind='oci', seed=33)
        rc, out, err = run_it(args)
        self.assertEqual(rc, 0, out + err)
        by_tag = {i['target'].rsplit(':', 1)[1]: i
                  for i in w.load_report()['images']}
        self.assertEqual(by_tag['a']['status'], 'copied', by_tag)
        self.assertEqual(by_tag['b']['status'], 'copied', by_tag)
        self.assert_same('jr/app', 'a', 'jr/app')
        self.assert_same('jr/app', 'b', 'jr/app')
        # And now both are settled by the journal.
        rc, out, err = run_it(args)
        self.assertEqual(rc, 0, out + err)
        for img in w.load_report()['images']:
            self.assertEqual(img['status'], 'skipped', img)
            self.assertIn('journal', img['error'], img)


    def test_9_tag_limit_fails_that_repository_alone(self):
        # team/web has 4 tags: with --max-tags=2 its listing stops with a
        # clear error; the other rule is copied and the run goes on.
        d = self.dst.host
        rules = ('%s/team/web: %s/capped/web\n'
                 '%s/team/api:v1: %s/capped/api:v1\n' % (
                     self.src.host, d, self.src.host, d))
        w = self.workdir()
        args = self.common_args(w, secrets_yaml(self.src, self.dst), rules)
        rc, out, err = run_it(args + ['--max-tags=2'])
        self.assertEqual(rc, 1, out + err)
        rep = w.load_report()
        failed = [i for i in rep['images'] if i['status'] == 'failed']
        self.assertEqual(len(failed), 1, rep)
        self.assertTrue(failed[0]['source'].endswith('/team/web'), failed)
        self.assertIn('more than 2 tags', failed[0]['error'])
        self.assertIn('--max-tags', failed[0]['error'])
        by_src = {i['source']: i for i in rep['images']}
        api = by_src['%s/team/api:v1' % self.src.host]
        self.assertEqual(api['status'], 'copied', api)
        self.assert_same('team/api', 'v1', 'capped/api')
        self.assertIn('more than 2 tags', out + err)
        # A limit that is not a number, or 0, is a usage error.
        for bad in ('--max-tags=0', '--max-pages=x'):
            rc, out, err = run_it(args + [bad])
            self.assertEqual(rc, 2, bad + out + err)


def harness_journal_blobs(w):
    return sum(1 for line in w.journal().splitlines()
               if '"t":"blob"' in line)


if __name__ == '__main__':
    unittest.main(verbosity=2)
