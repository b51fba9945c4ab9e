#!/usr/bin/env python3
"""Whole namespaces and --prune (issue 14), generic mode, against real
docker-registry processes (storage.delete.enabled: true, see harness.py),
checked with skopeo.

  * a source registry/team/<star> copies every repository below team and
    nothing else, paths kept; registry/<star> copies every repository;
  * a Harbor-style double (tests/fakes/harbor_catalog.py) that refuses
    /v2/_catalog: the Harbor API v2 listing finds the repositories; a
    double that refuses the catalog without a Harbor API: the rule fails
    with a message naming the fix, exit 1;
  * --prune: a tag deleted at the source goes from the target, the others
    stay, the report and the summary list it; --dry-run --prune deletes
    nothing and lists it; a failed source listing prunes nothing.
"""
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'fakes'))
import harness  # noqa: E402
from harness import Registry, make_layer, seed_image, skopeo_raw  # noqa
from harbor_catalog import HarborCatalog  # noqa: E402

SRC_USER, SRC_PW = 'harbor-user', 'Harbor-Pw-4242'


def run_it(args, timeout=300):
    return harness.run_binary(args, timeout=timeout,
                              unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'))


def secrets_yaml(hosts_users):
    lines = []
    for host, user, pw in hosts_users:
        lines.append('%s:' % host)
        if user:
            lines.append('  username: %s' % user)
            lines.append('  password: "%s"' % pw)
        lines.append('  insecure: true')
    return '\n'.join(lines) + '\n'


def tags_of(reg, repo):
    status, _, body = reg.request('GET', '/v2/%s/tags/list' % repo)
    if status == 404:
        return None
    return sorted(json.loads(body).get('tags') or [])


def catalog(reg):
    status, _, body = reg.request('GET', '/v2/_catalog?n=1000')
    return sorted(json.loads(body).get('repositories') or [])


def delete_tag(reg, repo, tag):
    """Deletes repo:tag at the source through the registry API (by
    digest: distribution 2.8 has no delete by tag)."""
    status, headers, _ = reg.request(
        'HEAD', '/v2/%s/manifests/%s' % (repo, tag),
        headers={'Accept': harness.MT['v2s2']})
    assert status == 200, status
    digest = headers['Docker-Content-Digest']
    status, _, body = reg.request('DELETE',
                                  '/v2/%s/manifests/%s' % (repo, digest))
    assert status == 202, (status, body)


class NamespaceTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        base = [make_layer(7, 8 * 1024)]
        cls.repos = {'team/web': ['v1', 'v2'], 'team/api': ['1.0'],
                     'team/deep/svc': ['a'], 'teamx/other': ['z'],
                     'tools/cli': ['t1']}
        for i, (repo, tags) in enumerate(sorted(cls.repos.items())):
            for j, tag in enumerate(tags):
                seed_image(cls.src, repo, tag, shared=base,
                           seed=1000 + 10 * i + j)

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()

    def setUp(self):
        self.dst = Registry().start()
        self.addCleanup(self.dst.stop)
        self.w = harness.Workdir(prefix='it-ns-')
        self.addCleanup(self.w.cleanup)

    def args(self, rules, hosts, *extra):
        w = self.w
        return ['--securityFile', w.write('registry-secret.yaml',
                                          secrets_yaml(hosts)),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--routines=4'] + list(extra)

    def plain_hosts(self, *more):
        return [(self.src.host, None, None),
                (self.dst.host, None, None)] + list(more)

    # -------------------------------------------------------------------
    def test_1_team_star_copies_below_team_only(self):
        rules = '%s/team/*: %s/mirror\n' % (self.src.host, self.dst.host)
        rc, out, err = run_it(self.args(rules, self.plain_hosts()))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(catalog(self.dst),
                         ['mirror/api', 'mirror/deep/svc', 'mirror/web'])
        for repo in ('team/web', 'team/api', 'team/deep/svc'):
            dst_repo = 'mirror/' + repo[len('team/'):]
            self.assertEqual(tags_of(self.dst, dst_repo), self.repos[repo])
            for tag in self.repos[repo]:
                self.assertEqual(skopeo_raw(self.src, repo, tag),
                                 skopeo_raw(self.dst, dst_repo, tag))
        self.assertIn('3 repositories found', err)
        self.assertIn('Found:   3 repositories', out)
        # the totals count the repositories found, not the rule's own row
        self.assertIn('Repos:   3 of 3 done', out)
        rep = self.w.load_report()
        self.assertEqual(rep['summary']['repositories_found'], 3)
        self.assertEqual(rep['summary']['images_copied'], 4)

    def test_2_registry_star_copies_everything(self):
        rules = '%s/*: %s/all\n' % (self.src.host, self.dst.host)
        rc, out, err = run_it(self.args(rules, self.plain_hosts()))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(catalog(self.dst),
                         sorted('all/' + r for r in self.repos))
        self.assertEqual(tags_of(self.dst, 'all/teamx/other'), ['z'])

    def test_2b_wildcard_that_finds_nothing_says_so(self):
        rules = ('%s/nothing/*: %s/none\n%s/tools/cli: %s/tools/cli\n' % (
            self.src.host, self.dst.host, self.src.host, self.dst.host))
        rc, out, err = run_it(self.args(rules, self.plain_hosts()))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(catalog(self.dst), ['tools/cli'])
        self.assertIn('%s/nothing/*: no repositories found below nothing: '
                      'the rule copies nothing' % self.src.host, err)
        self.assertIn('Repos:   1 of 1 done', out)
        self.assertNotIn('Found:', out)

    def test_3_bad_wildcard_rules_are_config_errors(self):
        s, d = self.src.host, self.dst.host
        for text in ('"%s/team/*:v1": %s/m\n' % (s, d),
                     '%s/te*m/*: %s/m\n' % (s, d),
                     'team/*: %s/m\n' % d,
                     '%s/team/*: %s/m:v1\n' % (s, d)):
            rc, out, err = run_it(self.args(text, self.plain_hosts()))
            self.assertEqual(rc, 2, text + out + err)
            self.assertIn('transfer-rule.yaml:1', err)
            self.assertEqual(catalog(self.dst), [])

    def test_4_harbor_fallback_finds_the_repositories(self):
        for refuse in (401, 403):
            with self.subTest(refuse=refuse), \
                    HarborCatalog(self.src, SRC_USER, SRC_PW,
                                  refuse=refuse) as h:
                d = Registry().start()
                self.addCleanup(d.stop)
                rules = '%s/team/*: %s/h\n' % (h.host, d.host)
                hosts = [(h.host, SRC_USER, SRC_PW), (d.host, None, None)]
                rc, out, err = run_it(self.args(rules, hosts))
                self.assertEqual(rc, 0, out + err)
                self.assertGreaterEqual(h.catalog_calls, 1)
                self.assertTrue(any('/api/v2.0/projects/team/repositories'
                                    in c for c in h.api_calls), h.api_calls)
                self.assertEqual(catalog(d),
                                 ['h/api', 'h/deep/svc', 'h/web'])
                self.assertIn('(Harbor API)', err)
                self.assertNotIn(SRC_PW, out + err)
        # the whole registry: projects first
        with HarborCatalog(self.src, SRC_USER, SRC_PW) as h:
            d = Registry().start()
            self.addCleanup(d.stop)
            rules = '%s/*: %s\n' % (h.host, d.host)
            hosts = [(h.host, SRC_USER, SRC_PW), (d.host, None, None)]
            rc, out, err = run_it(self.args(rules, hosts))
            self.assertEqual(rc, 0, out + err)
            self.assertIn('/api/v2.0/projects?page=1&page_size=100',
                          h.api_calls)
            self.assertEqual(catalog(d), sorted(self.repos))

    def test_5_refused_catalog_without_harbor_fails_the_rule(self):
        with HarborCatalog(self.src, SRC_USER, SRC_PW, harbor=False) as h:
            rules = ('%s/team/*: %s/x\n%s/tools/cli: %s/tools/cli\n'
                     % (h.host, self.dst.host, self.src.host, self.dst.host))
            hosts = [(h.host, SRC_USER, SRC_PW)] + self.plain_hosts()
            rc, out, err = run_it(self.args(rules, hosts))
            self.assertEqual(rc, 1, out + err)
            self.assertIn('Grant this account catalog access', err)
            self.assertIn('list the repositories in the rule file', err)
            # the other rule is copied all the same
            self.assertEqual(catalog(self.dst), ['tools/cli'])
            rep = self.w.load_report()
            failed = [e for e in rep['images'] if e['status'] == 'failed']
            self.assertEqual(len(failed), 1, rep['images'])
            self.assertIn('catalog', failed[0]['error'])

    # -------------------------------------------------------------------
    def seed_prune_source(self):
        """A source repository of its own (the class's is shared)."""
        src = Registry().start()
        self.addCleanup(src.stop)
        base = [make_layer(9, 4 * 1024)]
        for i, tag in enumerate(('p1', 'p2', 'p3')):
            seed_image(src, 'proj/app', tag, shared=base, seed=2000 + i)
        return src

    def test_6_prune_deletes_what_the_source_lost(self):
        src = self.seed_prune_source()
        rules = '%s/proj/app: %s/proj/app\n' % (src.host, self.dst.host)
        hosts = [(src.host, None, None), (self.dst.host, None, None)]
        rc, out, err = run_it(self.args(rules, hosts))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(tags_of(self.dst, 'proj/app'), ['p1', 'p2', 'p3'])
        delete_tag(src, 'proj/app', 'p2')

        # --dry-run --prune: listed, nothing deleted
        rc, out, err = run_it(self.args(rules, hosts, '--dry-run',
                                        '--prune'))
        self.assertEqual(rc, 0, out + err)
        self.assertIn('prune %s/proj/app:p2' % self.dst.host, out)
        self.assertIn('Pruned:  1 tags would be pruned (dry run: none deleted)', out)
        self.assertEqual(harness.skopeo_tags(self.dst, 'proj/app'),
                         ['p1', 'p2', 'p3'])
        entries = self.w.load_report()['images']
        self.assertIn({'target': '%s/proj/app:p2' % self.dst.host,
                       'status': 'prune-planned'},
                      [{'target': e['target'], 'status': e['status']}
                       for e in entries])

        # the JSON plan lists it too
        rc, out, err = run_it(self.args(rules, hosts, '--dry-run',
                                        '--prune', '--output=json'))
        self.assertEqual(rc, 0, out + err)
        plan = json.loads(out)
        self.assertEqual([e['target'] for e in plan['images']
                          if e['status'] == 'prune-planned'],
                         ['%s/proj/app:p2' % self.dst.host])
        self.assertEqual(plan['summary']['tags_prune_planned'], 1)
        self.assertEqual(harness.skopeo_tags(self.dst, 'proj/app'),
                         ['p1', 'p2', 'p3'])

        # without --prune nothing goes
        rc, out, err = run_it(self.args(rules, hosts))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(harness.skopeo_tags(self.dst, 'proj/app'),
                         ['p1', 'p2', 'p3'])

        # --prune: p2 goes (distribution 2.8 deletes by digest only: the
        # fallback), the others stay byte for byte
        rc, out, err = run_it(self.args(rules, hosts, '--prune'))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(harness.skopeo_tags(self.dst, 'proj/app'),
                         ['p1', 'p3'])
        for tag in ('p1', 'p3'):
            self.assertEqual(skopeo_raw(src, 'proj/app', tag),
                             skopeo_raw(self.dst, 'proj/app', tag))
        self.assertIn('Pruned:  1 tags pruned', out)
        rep = self.w.load_report()
        self.assertEqual(rep['summary']['tags_pruned'], 1)
        pruned = [e for e in rep['images'] if e['status'] == 'pruned']
        self.assertEqual([e['target'] for e in pruned],
                         ['%s/proj/app:p2' % self.dst.host])

    def test_7_prune_keeps_a_tag_sharing_a_kept_digest(self):
        src = self.seed_prune_source()
        rules = '%s/proj/app: %s/proj/app\n' % (src.host, self.dst.host)
        hosts = [(src.host, None, None), (self.dst.host, None, None)]
        # the target has an extra tag "old" on p1's manifest
        rc, out, err = run_it(self.args(rules, hosts))
        self.assertEqual(rc, 0, out + err)
        body = skopeo_raw(self.dst, 'proj/app', 'p1')
        harness.push_manifest(self.dst, 'proj/app', 'old', body,
                              harness.MT['v2s2'])
        rc, out, err = run_it(self.args(rules, hosts, '--prune'))
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(harness.skopeo_tags(self.dst, 'proj/app'),
                         ['old', 'p1', 'p2', 'p3'])
        self.assertIn('deletes by digest only', err)
        rep = self.w.load_report()
        self.assertEqual(rep['summary']['tags_not_pruned'], 1)

    def test_8_failed_source_listing_prunes_nothing(self):
        src = self.seed_prune_source()
        rules = '%s/proj/app: %s/proj/app\n' % (src.host, self.dst.host)
        hosts = [(src.host, None, None), (self.dst.host, None, None)]
        rc, out, err = run_it(self.args(rules, hosts))
        self.assertEqual(rc, 0, out + err)
        src.stop()  # the source is gone: its listing fails
        rc, out, err = run_it(self.args(rules, hosts, '--prune',
                                        '--retry=0', '--retry-window=0'))
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(harness.skopeo_tags(self.dst, 'proj/app'),
                         ['p1', 'p2', 'p3'])
        # a missing source repository: nothing pruned either
        rules = '%s/proj/gone: %s/proj/app\n' % (self.src.host,
                                                 self.dst.host)
        hosts = self.plain_hosts()
        rc, out, err = run_it(self.args(rules, hosts, '--prune'))
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(harness.skopeo_tags(self.dst, 'proj/app'),
                         ['p1', 'p2', 'p3'])


if __name__ == '__main__':
    unittest.main(verbosity=2)
