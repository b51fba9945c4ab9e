"""Tag filters (issue 14) end to end: the rule mapping form (tags,
exclude, semver, latest), the global flags, and "the newest N" by semver
and by the images' creation time (read from their configs, cached in the
journal), against real docker-registry processes, checked with skopeo."""
import gzip
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Registry, make_layer, push_blob, push_manifest,  # noqa
                     skopeo_tags, MT)


def run_it(args, timeout=300):
    return harness.run_binary(
        args, timeout=timeout,
        unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'),
        home=os.environ.get('IT_TEST_HOME'))


def push_image(reg, repo, tag, seed, created=None):
    """A one-layer Docker v2s2 image whose config says `created` (left
    out when None)."""
    layer = make_layer(seed, 2048)
    cfg = {'architecture': 'amd64', 'os': 'linux',
           'rootfs': {'type': 'layers',
                      'diff_ids': [harness.sha256_digest(
                          gzip.decompress(layer))]}}
    if created:
        cfg['created'] = created
    cbytes = json.dumps(cfg, sort_keys=True).encode()
    cdig = push_blob(reg, repo, cbytes)
    ldig = push_blob(reg, repo, layer)
    body = json.dumps({
        'schemaVersion': 2, 'mediaType': MT['v2s2'],
        'config': {'mediaType': MT['docker_config'], 'size': len(cbytes),
                   'digest': cdig},
        'layers': [{'mediaType': MT['docker_layer'], 'size': len(layer),
                    'digest': ldig}]}).encode()
    return push_manifest(reg, repo, tag, body, MT['v2s2'])


APP_TAGS = ['v1.3.0', 'v1.4.0', 'v1.5.0-rc1', 'v2.0.0', 'v2.1.0', 'v3.0.0',
            'dev-1', 'latest']
CREATED = {'a': '2022-01-01T00:00:00Z', 'b': '2025-06-01T12:00:00.5Z',
           'c': '2023-03-01T00:00:00+01:00', 'd': None,
           'skip-new': '2026-01-01T00:00:00Z'}


class TagFilterTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        cls.dst = Registry().start()
        for i, tag in enumerate(APP_TAGS):
            push_image(cls.src, 'team/app', tag, 10 + i,
                       created='2024-01-01T00:00:00Z')
        for i, (tag, created) in enumerate(sorted(CREATED.items())):
            push_image(cls.src, 'team/created', tag, 50 + i, created)

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.dst.stop()

    def workdir(self):
        w = harness.Workdir(prefix='it-filters-')
        self.addCleanup(w.cleanup)
        return w

    def args(self, w, rules):
        secrets = ''.join('%s:\n  insecure: true\n' % r.host
                          for r in (self.src, self.dst))
        return ['--securityFile', w.write('registry-secret.yaml', secrets),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--routines=3']

    def test_1_mapping_rule_and_global_flags(self):
        s, d = self.src.host, self.dst.host
        rules = (
            '# the issue\'s example\n'
            '%s/team/app:\n'
            '  target: %s/mirror/app\n'
            '  tags: [\'^v\\d+\\.\\d+\\.\\d+\']\n'
            '  exclude: [\'-rc\', \'^dev-\']\n'
            '  semver: \'>=1.4 <3\'\n'
            '  latest: 2\n'
            '%s/team/created: %s/mirror/created\n' % (s, d, s, d))
        w = self.workdir()
        # global flags: every rule that does not say otherwise
        args = self.args(w, rules) + ['--exclude-tags=^skip', '--latest=2']
        rc, out, err = run_it(args)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(skopeo_tags(self.dst, 'mirror/app'),
                         ['v2.0.0', 'v2.1.0'])
        # by creation time: b (2025), c (2023); d has none: oldest
        self.assertEqual(skopeo_tags(self.dst, 'mirror/created'), ['b', 'c'])
        rep = w.load_report()
        repos = {e['target']: e for e in rep['repositories']}
        app = repos['%s/mirror/app' % d]
        self.assertEqual(app['order'], 'semver')
        self.assertEqual(app['filtered'], {'regex': 2, 'exclude': 1,
                                           'semver': 2, 'latest': 1})
        cr = repos['%s/mirror/created' % d]
        self.assertEqual(cr['order'], 'created')
        self.assertEqual(cr['filtered'], {'regex': 0, 'exclude': 1,
                                          'semver': 0, 'latest': 2})
        self.assertEqual(rep['summary']['tags_filtered'],
                         {'regex': 2, 'exclude': 2, 'semver': 2,
                          'latest': 3})
        self.assertIn('Filtered: 6 tag(s) left out', out)
        self.assertIn('3 older tags were left out by --latest=2', out)

        # the creation times are in the journal, by manifest digest
        db = sqlite3.connect(os.path.join(w.state, 'journal.db'))
        rows = db.execute('SELECT repo, created FROM created').fetchall()
        db.close()
        self.assertEqual(
            sorted((-1 if r[1] is None else r[1]) for r in rows
                   if r[0] == 'team/created'),
            [-1, 1640995200, 1677625200, 1748779200])

        # a rerun reads no config again and changes nothing
        rc, out, err = run_it(args + ['--log-level=debug'])
        self.assertEqual(rc, 0, out + err)
        rep = w.load_report()
        self.assertEqual(rep['summary']['images_skipped'], 4, rep)
        self.assertNotIn('no creation time', err)

    def test_2_global_flags_on_one_line_rules(self):
        s, d = self.src.host, self.dst.host
        w = self.workdir()
        rules = '%s/team/app: %s/global/app\n' % (s, d)
        rc, out, err = run_it(self.args(w, rules) +
                              ['--tags=^v2,^v1', '--semver=>=1.4 <2.1 || 3'])
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(skopeo_tags(self.dst, 'global/app'),
                         ['v1.4.0', 'v2.0.0'])
        rep = w.load_report()
        (e,) = rep['repositories']
        self.assertIsNone(e['order'])
        # dev-1, latest, v3.0.0 by --tags; v1.3.0, v1.5.0-rc1, v2.1.0 by
        # --semver (a prerelease needs a constraint naming one)
        self.assertEqual(e['filtered'], {'regex': 3, 'exclude': 0,
                                         'semver': 3, 'latest': 0})

    def test_3_bad_filters_are_configuration_errors(self):
        s, d = self.src.host, self.dst.host
        w = self.workdir()
        rules = ('%s/team/app:\n'
                 '  target: %s/bad/app\n'
                 '  tags: [ok, \'v(1\']\n' % (s, d))
        rc, out, err = run_it(self.args(w, rules))
        self.assertEqual(rc, 2, out + err)
        self.assertIn('transfer-rule.yaml:3:14: tags of', err)
        self.assertIn("regex 'v(1'", err)
        rules = '%s/team/app: %s/bad/app\n' % (s, d)
        rc, out, err = run_it(self.args(w, rules) + ['--semver=>=1 <<2'])
        self.assertEqual(rc, 2, out + err)
        self.assertIn('--semver: semver constraint', err)
        with self.assertRaises(Exception):
            skopeo_tags(self.dst, 'bad/app')


if __name__ == '__main__':
    unittest.main(verbosity=2)
