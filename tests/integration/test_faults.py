"""Fault-injection tests of the generic mode: the image-transfer binary
copies between two real docker-registry processes through fault_proxy.py
(tests/fakes/), which answers 503/429/500/404, drops connections, cuts or
corrupts bodies on chosen requests. skopeo, talking to the registries
directly (not through the proxies), is the independent checker.

The promise under test (ARCHITECTURE.md, "Limits and retries", "Data
flow"): never lose or corrupt an image; transient failures (connection
errors, 5xx, 429) are retried --retry times per request with backoff,
429/503 honour Retry-After; other 4xx are not retried; a failed image is
retried once more at the end of the run; what still fails is reported,
exit code 1, and its target tag never points at a partial image.

Faults are few and Retry-After is 1 s, so the whole file runs in well
under 90 s. Assertions are about outcomes and request logs. The only
timing checks (Retry-After honoured) are lower bounds: a retry that
comes at least Retry-After later cannot be flaky on a slow machine.
"""
import json
import os
import re
import subprocess
import sys
import shutil
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ.get('TESTS_DIR',
                                               os.path.dirname(HERE)),
                                'fakes'))
import harness  # noqa: E402
from harness import (Registry, seed_image, make_layer, skopeo_raw,  # noqa
                     skopeo_tags, sha256_digest)
from fault_proxy import FaultProxy  # noqa: E402

DST_USER, DST_PASS = 'carol', 'Fault-Dst-Pw-31'
# Retry-After must be honoured: the retry comes no sooner than this after
# the faulted answer (1 s minus clock slack). The engine's own first
# backoff without Retry-After is at most 0.75 s, so this tells them apart.
# Retry-After used by the tests: 2 s, a delay the engine's own backoff
# never picks for the first two retries (at most 1.5 s), so its log line
# "retry N/M in 2.0s" proves the header was honoured (no clock needed).
RETRY_AFTER = 2


def run_it(args, timeout=120):
    return harness.run_binary(args, timeout=timeout,
                              unset=('DEFAULT_REGISTRY', 'DEFAULT_NAMESPACE'))


def blob_path(repo, digest):
    return '^/v2/%s/blobs/%s$' % (repo, digest)


class FaultTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        cls.dst = Registry(auth='basic', users={DST_USER: DST_PASS}).start()
        cls.base = [make_layer(11, 64 * 1024), make_layer(12, 20 * 1024)]
        cls.big = make_layer(13, 1024 * 1024)  # streams in several chunks

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.dst.stop()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='it-faults-')
        self.psrc = FaultProxy(self.src.host, seed=1234).start()
        self.pdst = FaultProxy(self.dst.host, seed=4321).start()

    def tearDown(self):
        self.psrc.stop()
        self.pdst.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---------------------------------------------------------- helpers

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def transfer(self, rules, retry=3, extra=()):
        """Runs the binary through the proxies; returns (rc, out, err,
        report)."""
        secrets = ('%s:\n  insecure: true\n'
                   '%s:\n  username: %s\n  password: "%s"\n'
                   '  insecure: true\n' % (self.psrc.host, self.pdst.host,
                                           DST_USER, DST_PASS))
        report = os.path.join(self.dir, 'report.json')
        args = ['--securityFile', self.write('secret.yaml', secrets),
                '--ruleFile', self.write('rule.yaml', rules),
                '--state-dir', os.path.join(self.dir, 'state'),
                '--report=' + report, '--no-tui', '--qps=0',
                '--routines=4', '--retry=%d' % retry,
                # the count-based policy under test: no time budget (issue
                # 15's --retry-window has its own tests, test_outage.py)
                '--retry-window=0'] + list(extra)
        rc, out, err = run_it(args)
        rep = None
        if os.path.exists(report):
            with open(report) as f:
                rep = json.load(f)
        for text in (out, err, json.dumps(rep)):
            self.assertNotIn(DST_PASS, text)
        # Under -DIT_SANITIZE=ON, UBSan reports do not change the exit code.
        for needle in ('runtime error:', 'Sanitizer'):
            self.assertNotIn(needle, err)
        return rc, out, err, rep

    def rule(self, src_repo, dst_repo, tag=None):
        t = ':' + tag if tag else ''
        return '%s/%s%s: %s/%s\n' % (self.psrc.host, src_repo, t,
                                     self.pdst.host, dst_repo)

    def assert_same(self, src_repo, tag, dst_repo):
        want = skopeo_raw(self.src, src_repo, tag)
        got = skopeo_raw(self.dst, dst_repo, tag)
        self.assertEqual(sha256_digest(want), sha256_digest(got),
                         '%s:%s -> %s' % (src_repo, tag, dst_repo))
        self.assertEqual(want, got)

    def assert_blobs_intact(self, dst_repo, digests):
        """Every blob is on the target and its bytes hash to its digest."""
        for d in digests:
            status, _, data = self.dst.request(
                'GET', '/v2/%s/blobs/%s' % (dst_repo, d))
            self.assertEqual(status, 200, d)
            self.assertEqual(sha256_digest(data), d)

    def dst_has_tag(self, repo, tag):
        status, _, _ = self.dst.request(
            'HEAD', '/v2/%s/manifests/%s' % (repo, tag),
            headers={'Accept': ', '.join(harness.MT.values())})
        self.assertIn(status, (200, 404))
        return status == 200

    @staticmethod
    def hits(proxy, method, path_re):
        rx = re.compile(path_re)
        return [e for e in proxy.log()
                if e['method'] == method and rx.search(e['path'])]

    def fired(self, proxy, rule_id):
        for r in proxy.faults()['rules']:
            if r['id'] == rule_id:
                return r['fired']
        self.fail('no rule %s' % rule_id)

    def assert_retried_after(self, log, stderr):
        """Each faulted request of log is retried, and the engine said it
        waited for the answer's Retry-After (not its own backoff)."""
        faulted = 0
        for i, e in enumerate(log):
            if e['fault'] is None:
                continue
            faulted += 1
            later = [x for x in log[i + 1:]
                     if (x['method'], x['path']) == (e['method'], e['path'])]
            self.assertTrue(later, 'never retried: %r' % e)
        waits = stderr.count(' in %d.0s' % RETRY_AFTER)
        self.assertGreaterEqual(waits, faulted, stderr)

    def by_target_tag(self, rep, tag):
        for img in rep['images']:
            if img['target'].endswith(':' + tag):
                return img
        self.fail('no report entry for tag %s: %r' % (tag, rep))

    # ------------------------------------------------------------ tests

    def test_0_the_proxy_itself(self):
        """The double: stand-alone mode, control endpoints, Location
        rewriting, basic-auth pass-through, nth counting, the log."""
        script = os.path.join(os.path.dirname(HERE), 'fakes',
                              'fault_proxy.py')
        p = subprocess.Popen([sys.executable, script, '--upstream',
                              self.dst.host, '--seed', '5'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            self.assertRegex(line, r'^LISTENING \d+$')
            base = 'http://127.0.0.1:%d' % int(line.split()[1])
            rules = {'seed': 5, 'rules': [
                {'id': 'x', 'method': 'GET', 'path': '^/v2/$',
                 'action': '503', 'nth': 2}]}
            status, _, body = self.dst.request(
                'POST', base + '/__faults', data=json.dumps(rules).encode(),
                auth=False)
            self.assertEqual(status, 200, body)
            got = [self.dst.request('GET', base + '/v2/')[0]
                   for _ in range(3)]
            self.assertEqual(got, [200, 503, 200])
            # Without credentials the registry's own 401 comes through.
            self.assertEqual(self.dst.request('GET', base + '/v2/',
                                              auth=False)[0], 401)
            status, headers, _ = self.dst.request(
                'POST', base + '/v2/px/test/blobs/uploads/', data=b'')
            self.assertEqual(status, 202)
            self.assertNotIn(self.dst.host, headers['Location'])
            if headers['Location'].startswith('http'):
                self.assertTrue(headers['Location'].startswith(base))
            status, _, body = self.dst.request('GET', base + '/__log',
                                               auth=False)
            log = json.loads(body)
            self.assertEqual([(e['method'], e['status'], e['fault'])
                              for e in log],
                             [('GET', 200, None), ('GET', 503, '503'),
                              ('GET', 200, None), ('GET', 401, None),
                              ('POST', 202, None)])
            status, _, body = self.dst.request(
                'POST', base + '/__faults', data=b'[{"action": "nope"}]',
                auth=False)
            self.assertEqual(status, 400)
        finally:
            p.terminate()
            p.wait(timeout=10)
            p.stdout.close()
            p.stderr.close()

    def test_1_transient_faults_are_survived(self):
        """503 + Retry-After on every 3rd source blob GET, dropped target
        uploads, a 500 on an upload start: all retried per request."""
        repo = 'f1/app'
        imgs = {
            'v1': seed_image(self.src, repo, 'v1', kind='v2s2',
                             layers=[self.big], shared=self.base, seed=101),
            'v2': seed_image(self.src, repo, 'v2', kind='oci',
                             shared=self.base, seed=102),
            'v3': seed_image(self.src, repo, 'v3', kind='index',
                             shared=self.base, seed=103),
        }
        self.psrc.set_rules([
            {'id': 'blob503', 'method': 'GET', 'path': '/blobs/sha256:',
             'action': '503', 'every': 3, 'times': 3},
            {'id': 'slow', 'method': 'GET', 'path': '/manifests/',
             'action': 'delay', 'delay_ms': 50, 'prob': 0.5},
        ])
        self.pdst.set_rules([
            {'id': 'drop', 'method': 'PUT', 'path': '/blobs/uploads/',
             'action': 'drop', 'nth': [2, 4]},
            {'id': 'post500', 'method': 'POST', 'path': '/blobs/uploads/',
             'action': '500', 'nth': 3},
        ])
        # At most 3 + 2 + 1 faults can hit one blob copy: --retry=6 always
        # outlasts them, so no image may need the final pass.
        rc, out, err, rep = self.transfer(self.rule(repo, 'm1/app'), retry=6)
        self.assertEqual(rc, 0, err)
        self.assertEqual(rep['summary']['images_failed'], 0, rep)
        self.assertEqual(rep['summary']['images_copied'], 3, rep)
        self.assertNotIn('will retry at the end', err)
        for tag, info in imgs.items():
            self.assert_same(repo, tag, 'm1/app')
            self.assert_blobs_intact('m1/app', info['blobs'])
        for child in imgs['v3']['children']:
            self.assertEqual(
                sha256_digest(skopeo_raw(self.dst, 'm1/app', child)), child)
        # The faults really happened, and each was followed by success.
        self.assertEqual(self.fired(self.psrc, 'blob503'), 3)
        self.assertEqual(self.fired(self.pdst, 'drop'), 2)
        self.assertEqual(self.fired(self.pdst, 'post500'), 1)
        log = self.psrc.log()
        for e in log:
            if e['rule'] == 'blob503':
                self.assertEqual(e['status'], 503)
                ok = [x for x in log if x['path'] == e['path'] and
                      x['status'] == 200 and x['seq'] > e['seq']]
                self.assertTrue(ok, 'blob never fetched after 503: %r' % e)
        dlog = self.pdst.log()
        drops = [e for e in dlog if e['rule'] == 'drop']
        self.assertEqual([e['status'] for e in drops], [0, 0])
        # Each distinct blob was committed exactly once (201), the dropped
        # uploads never: nothing copied twice, nothing lost.
        distinct = set()
        for info in imgs.values():
            distinct.update(info['blobs'])
        committed = [e for e in dlog if e['method'] == 'PUT' and
                     '/blobs/uploads/' in e['path'] and e['status'] == 201]
        self.assertEqual(len(committed),
                         rep['summary']['blobs_copied'], rep['summary'])
        self.assertLessEqual(len(committed), len(distinct))

    def test_2_blob_503_retry_after_is_honoured(self):
        """A 503 with Retry-After on a source blob GET: the retry waits."""
        repo = 'f2b/app'
        layer = make_layer(201, 30 * 1024)
        seed_image(self.src, repo, 'v1', layers=[layer], seed=201)
        self.psrc.set_rules([
            {'id': 'ra', 'method': 'GET',
             'path': blob_path(repo, sha256_digest(layer)),
             'action': '503', 'nth': 1, 'retry_after': RETRY_AFTER}])
        rc, out, err, rep = self.transfer(self.rule(repo, 'm2b/app'))
        self.assertEqual(rc, 0, err)
        self.assert_same(repo, 'v1', 'm2b/app')
        self.assertEqual(self.fired(self.psrc, 'ra'), 1)
        self.assert_retried_after(
            self.hits(self.psrc, 'GET', blob_path(repo, sha256_digest(
                layer))), err)

    def test_3_manifest_429_with_retry_after(self):
        """429 + Retry-After on tag lists and manifest HEAD/GET, both
        sides: survived, and each retry waited for Retry-After."""
        repo = 'f2/app'
        seed_image(self.src, repo, 'v1', kind='v2s2', shared=self.base,
                   seed=301)
        # The target has v1 under another digest: HEAD both sides, then a
        # GET of the source manifest by digest.
        old = seed_image(self.dst, 'm2/app', 'v1', kind='v2s2', seed=302)
        self.psrc.set_rules([
            {'id': 's-tags', 'method': 'GET', 'path': '/tags/list',
             'action': '429', 'nth': 1, 'retry_after': RETRY_AFTER},
            {'id': 's-head', 'method': 'HEAD', 'path': '/manifests/',
             'action': '429', 'nth': 1, 'retry_after': RETRY_AFTER},
            {'id': 's-get', 'method': 'GET', 'path': '/manifests/',
             'action': '429', 'nth': 1, 'retry_after': RETRY_AFTER},
        ])
        self.pdst.set_rules([
            {'id': 'd-tags', 'method': 'GET', 'path': '/tags/list',
             'action': '429', 'nth': 1, 'retry_after': RETRY_AFTER},
            {'id': 'd-head', 'method': 'HEAD', 'path': '/manifests/',
             'action': '429', 'nth': 1, 'retry_after': RETRY_AFTER},
        ])
        rc, out, err, rep = self.transfer(self.rule(repo, 'm2/app'))
        self.assertEqual(rc, 0, err)
        self.assertEqual(rep['summary']['images_copied'], 1, rep)
        self.assert_same(repo, 'v1', 'm2/app')
        self.assertNotEqual(
            sha256_digest(skopeo_raw(self.dst, 'm2/app', 'v1')),
            old['digest'])
        for p, ids in ((self.psrc, ('s-tags', 's-head', 's-get')),
                       (self.pdst, ('d-tags', 'd-head'))):
            for rid in ids:
                self.assertEqual(self.fired(p, rid), 1, rid)
            log = p.log()
            self.assertTrue(all(e['status'] == 429 for e in log
                                if e['fault']), log)
            self.assert_retried_after(log, err)

    def test_4_damaged_source_bodies_never_reach_the_target(self):
        """A blob response cut mid-body (Content-Length kept: continued
        with a Range), one cut without Content-Length (the short body ends
        "cleanly"), and one with a flipped byte: none is committed; the
        image ends correct."""
        repo = 'f3/app'
        cut = make_layer(401, 300 * 1024)
        trunc = make_layer(402, 200 * 1024)
        flip = make_layer(403, 100 * 1024)
        info = seed_image(self.src, repo, 'v1', layers=[cut, trunc, flip],
                          seed=401)
        self.psrc.set_rules([
            {'id': 'cut', 'method': 'GET',
             'path': blob_path(repo, sha256_digest(cut)),
             'action': 'cut', 'nth': 1},
            {'id': 'trunc', 'method': 'GET',
             'path': blob_path(repo, sha256_digest(trunc)),
             'action': 'truncate', 'nth': 1},
            {'id': 'flip', 'method': 'GET',
             'path': blob_path(repo, sha256_digest(flip)),
             'action': 'corrupt', 'nth': 1},
        ])
        rc, out, err, rep = self.transfer(self.rule(repo, 'm3/app'))
        self.assertEqual(rc, 0, err)
        self.assert_same(repo, 'v1', 'm3/app')
        self.assert_blobs_intact('m3/app', info['blobs'])
        for rid in ('cut', 'trunc', 'flip'):
            self.assertEqual(self.fired(self.psrc, rid), 1, rid)
        log = self.psrc.log()
        for layer, how in ((cut, 'cut'), (trunc, 'truncate'),
                           (flip, 'corrupt')):
            gets = [e for e in log
                    if e['path'].endswith(sha256_digest(layer))]
            self.assertEqual(gets[0]['damaged'], how, gets)
            if how != 'corrupt':
                self.assertLess(gets[0]['bytes'], len(layer))
            if how == 'cut':
                # resume inside the blob: the rest, with a Range
                n = gets[0]['bytes']
                rest = [e for e in gets[1:] if e['status'] == 206 and
                        e['range'] == 'bytes=%d-' % n and
                        e['bytes'] == len(layer) - n]
                self.assertTrue(rest, 'never resumed: %r' % gets)
                continue
            whole = [e for e in gets[1:] if e['status'] == 200 and
                     e['bytes'] == len(layer) and e['damaged'] is None]
            self.assertTrue(whole, 'never fetched whole again: %r' % gets)
        # The damaged attempts never committed an upload: each blob was
        # committed exactly once.
        committed = [e for e in self.pdst.log() if e['method'] == 'PUT' and
                     '/blobs/uploads/' in e['path'] and e['status'] == 201]
        self.assertEqual(len(committed), len(info['blobs']), committed)

    def test_5_permanent_failure_fails_alone_and_leaves_no_tag(self):
        """One blob of an index always answers 500: that image fails after
        the per-request retries and the final pass; the others copy; the
        failed tag does not exist on the target."""
        repo = 'f4/app'
        ok1 = seed_image(self.src, repo, 'ok1', kind='v2s2',
                         shared=self.base, seed=501)
        ok2 = seed_image(self.src, repo, 'ok2', kind='oci', seed=502)
        bad = seed_image(self.src, repo, 'bad', kind='index',
                         shared=self.base, seed=503)
        # seed_image's arm64 child has this one layer of its own.
        bad_layer = sha256_digest(make_layer(503 * 7 + 100 + 1, 8 * 1024))
        self.assertIn(bad_layer, bad['blobs'])
        self.psrc.set_rules([{'id': 'perm', 'method': 'GET',
                              'path': blob_path(repo, bad_layer),
                              'action': '500'}])
        retry = 1
        rc, out, err, rep = self.transfer(self.rule(repo, 'm4/app'),
                                          retry=retry)
        self.assertEqual(rc, 1, err)
        self.assertEqual(rep['summary']['images_failed'], 1, rep)
        self.assertEqual(rep['summary']['images_copied'], 2, rep)
        failed = self.by_target_tag(rep, 'bad')
        self.assertEqual(failed['status'], 'failed')
        self.assertIn(bad_layer[:19], failed['error'])
        self.assertIn('500', failed['error'])
        for tag in ('ok1', 'ok2'):
            self.assertEqual(self.by_target_tag(rep, tag)['status'],
                             'copied')
            self.assert_same(repo, tag, 'm4/app')
        self.assert_blobs_intact('m4/app', ok1['blobs'] + ok2['blobs'])
        # No partial image behind the tag: it is simply not there.
        self.assertFalse(self.dst_has_tag('m4/app', 'bad'))
        self.assertNotIn('bad', skopeo_tags(self.dst, 'm4/app'))
        # The final retry pass ran, and was logged.
        self.assertIn('will retry at the end', err)
        self.assertIn('retrying', err)
        # 1 + --retry GETs per attempt, two attempts (first + final pass).
        gets = self.hits(self.psrc, 'GET', blob_path(repo, bad_layer))
        self.assertEqual(len(gets), 2 * (1 + retry), gets)
        self.assertTrue(all(e['status'] == 500 for e in gets))

    def test_5b_shared_failing_blob_is_not_retried_per_image(self):
        """Three images share a layer that always answers 500: one image
        spends the retries, the others waiting for that blob fail at once
        (and the final pass tries once more), instead of every image
        repeating the whole backoff."""
        repo = 'f4b/app'
        shared = make_layer(551, 12 * 1024)
        for i in range(3):
            seed_image(self.src, repo, 's%d' % i, kind='v2s2',
                       layers=[shared, make_layer(560 + i, 4096)],
                       seed=560 + i)
        bad = sha256_digest(shared)
        self.psrc.set_rules([{'id': 'perm', 'method': 'GET',
                              'path': blob_path(repo, bad),
                              'action': '500'}])
        retry = 1
        rc, out, err, rep = self.transfer(self.rule(repo, 'm4b/app'),
                                          retry=retry)
        self.assertEqual(rc, 1, err)
        self.assertEqual(rep['summary']['images_failed'], 3, rep)
        for img in rep['images']:
            self.assertIn(bad[:19], img['error'], img)
        for t in ('s0', 's1', 's2'):
            self.assertFalse(self.dst_has_tag('m4b/app', t))
        # First pass: one owner, 1 + --retry GETs; the final pass the same.
        gets = self.hits(self.psrc, 'GET', blob_path(repo, bad))
        self.assertEqual(len(gets), 2 * (1 + retry), gets)

    def test_6_404_is_not_retried(self):
        """A 404 on a blob fails fast: no per-request retries, only the
        final pass asks once more."""
        repo = 'f5/app'
        layer = make_layer(601, 10 * 1024)
        seed_image(self.src, repo, 'v1', layers=[layer], seed=601)
        digest = sha256_digest(layer)
        self.psrc.set_rules([{'id': 'gone', 'method': 'GET',
                              'path': blob_path(repo, digest),
                              'action': '404'}])
        rc, out, err, rep = self.transfer(self.rule(repo, 'm5/app'),
                                          retry=4)
        self.assertEqual(rc, 1, err)
        failed = self.by_target_tag(rep, 'v1')
        self.assertEqual(failed['status'], 'failed')
        self.assertIn(digest[:19], failed['error'])
        gets = self.hits(self.psrc, 'GET', blob_path(repo, digest))
        self.assertGreaterEqual(len(gets), 1)
        self.assertLessEqual(len(gets), 2, gets)  # not 1 + --retry
        self.assertNotIn('retry 1/4', err)
        self.assertFalse(self.dst_has_tag('m5/app', 'v1'))

    def test_7_retry_0_then_the_final_pass(self):
        """--retry=0: a transient failure fails the image on the first
        try; the final retry pass (ARCHITECTURE: "a failed image is
        retried once more at the end of the run") saves it. Two failures
        in a row: the image fails, after exactly one more attempt."""
        repo = 'f6/app'
        layer = make_layer(701, 12 * 1024)
        seed_image(self.src, repo, 'v1', layers=[layer], seed=701)
        path = blob_path(repo, sha256_digest(layer))
        self.psrc.set_rules([{'id': 'once', 'method': 'GET', 'path': path,
                              'action': '503', 'nth': 1}])
        rc, out, err, rep = self.transfer(self.rule(repo, 'm6/app'),
                                          retry=0)
        self.assertEqual(rc, 0, err)
        self.assertEqual(rep['summary']['images_copied'], 1, rep)
        self.assert_same(repo, 'v1', 'm6/app')
        self.assertIn('will retry at the end', err)
        self.assertIn('retrying', err)
        gets = self.hits(self.psrc, 'GET', path)
        self.assertEqual([e['status'] for e in gets], [503, 200])

        # Again into a fresh repository (and a fresh journal, which would
        # otherwise offer a mount from m6/app), failing twice.
        shutil.rmtree(os.path.join(self.dir, 'state'))
        self.psrc.clear_log()
        self.psrc.set_rules([{'id': 'twice', 'method': 'GET', 'path': path,
                              'action': '503', 'nth': [1, 2]}])
        rc, out, err, rep = self.transfer(self.rule(repo, 'm6b/app'),
                                          retry=0)
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.by_target_tag(rep, 'v1')['status'], 'failed')
        gets = self.hits(self.psrc, 'GET', path)
        self.assertEqual([e['status'] for e in gets], [503, 503])
        self.assertFalse(self.dst_has_tag('m6b/app', 'v1'))


if __name__ == '__main__':
    unittest.main(verbosity=2)
