"""Requests on the wire (issue 15, §4 and §5): the image-transfer binary
copies 12 images between two real docker-registries, each behind
fault_proxy.py (which logs every request and its answer).

test_in_flight_per_host_and_connections (60 ms added to every request,
--routines=2):

- At most --routines requests are in flight to each registry at any time
  (from the proxies' logs: arrival and end of each request).
- One host's round trips overlap the other's: a source manifest GET runs
  while the target has --routines requests in flight (twice as many
  workers as routines; with one worker per routine that cannot happen,
  as every worker would be busy with the target).
- Connections are reused: each proxy sees a handful of connections, not
  one per blob (libcurl sizes its shared pool from the multi handle a
  transfer runs in; the blob copier's own multi handle used to close an
  idle connection each time one came back).

test_journal_rerun_asks_conditionally: a rerun with the journal asks
the source for each tag with If-None-Match: "<the journal's digest>";
docker-registry answers 304 for an unchanged tag without reading its
manifest (nothing to copy), and 200 with the new digest for a tag that
moved since (copied again).

skopeo, talking to the registries directly, checks what landed.
"""
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ.get('TESTS_DIR',
                                               os.path.dirname(HERE)),
                                'fakes'))
import harness  # noqa: E402
from harness import Registry, seed_image, make_layer, skopeo_raw  # noqa
from fault_proxy import FaultProxy  # noqa: E402

ROUTINES = 2
DELAY_MS = 60
# A request counts as overlapping another's arrival only when it is still
# in flight this long after it: the proxy records a request's end after it
# relayed the answer, a moment after the client may have sent its next one.
SLACK = 0.025
REPOS = ['c/app%d' % i for i in range(6)]
TAGS = ['v1', 'v2']


def in_flight_at(log, t):
    """Requests of log in flight at time t (arrived before, ending more
    than SLACK after)."""
    return [e for e in log
            if e['t'] < t and e['done'] is not None and e['done'] > t + SLACK]


class RequestsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        shared = make_layer(2600, 24 * 1024)
        n = 0
        for repo in REPOS:
            for tag in TAGS:
                n += 1
                seed_image(cls.src, repo, tag,
                           layers=[shared, make_layer(2600 + n, 24 * 1024),
                                   make_layer(2700 + n, 24 * 1024)],
                           seed=2600 + n)

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()

    def setUp(self):
        self.w = harness.Workdir(prefix='it-concurrency-')
        self.dst = Registry().start()

    def tearDown(self):
        self.dst.stop()
        self.w.cleanup()

    def run_it(self, sp, dp, extra=()):
        """One run through the proxies sp and dp (same state dir)."""
        secrets = '%s:\n  insecure: true\n%s:\n  insecure: true\n' % (
            sp.host, dp.host)
        rules = ''.join('%s/%s: %s/%s\n' % (sp.host, r, dp.host, r)
                        for r in REPOS)
        rc, _, err = harness.run_binary(
            ['--securityFile', self.w.write('secret.yaml', secrets),
             '--ruleFile', self.w.write('rule.yaml', rules),
             '--state-dir', self.w.state, '--report=' + self.w.report,
             '--no-tui', '--qps=0', '--routines=%d' % ROUTINES] +
            list(extra), timeout=300, home=self.w.dir)
        self.assertEqual(rc, 0, err[-2000:])
        return self.w.load_report()

    def test_journal_rerun_asks_conditionally(self):
        with FaultProxy(self.src.host) as sp, FaultProxy(self.dst.host) as dp:
            rep = self.run_it(sp, dp)
            self.assertEqual(rep['summary']['images_copied'], 12)
            # unchanged: every tag settled by a 304, nothing read
            sp.clear_log()
            rep = self.run_it(sp, dp)
            self.assertEqual(rep['summary']['images_skipped'], 12, rep)
            for img in rep['images']:
                self.assertIn('journal', img['error'], img)
            heads = [e for e in sp.log() if e['method'] == 'HEAD']
            self.assertEqual(len(heads), 12)
            self.assertEqual({e['status'] for e in heads}, {304})
            self.assertFalse([e for e in sp.log() if e['method'] == 'GET' and
                              '/manifests/' in e['path']])
            # a tag moved on the source: 200 with its new digest, copied
            # (moved back at the end: the source is the class's)
            orig = skopeo_raw(self.src, REPOS[0], TAGS[0])
            self.addCleanup(harness.push_manifest, self.src, REPOS[0],
                            TAGS[0], orig, json.loads(orig)['mediaType'])
            seed_image(self.src, REPOS[0], TAGS[0],
                       layers=[make_layer(2900, 24 * 1024)], seed=2900)
            sp.clear_log()
            rep = self.run_it(sp, dp)
            self.assertEqual(rep['summary']['images_copied'], 1, rep)
            self.assertEqual(rep['summary']['images_skipped'], 11, rep)
            moved = '/v2/%s/manifests/%s' % (REPOS[0], TAGS[0])
            by_path = {e['path']: e['status'] for e in sp.log()
                       if e['method'] == 'HEAD'}
            self.assertEqual(by_path.pop(moved), 200)
            self.assertEqual(set(by_path.values()), {304})
        self.assertEqual(skopeo_raw(self.dst, REPOS[0], TAGS[0]),
                         skopeo_raw(self.src, REPOS[0], TAGS[0]))

    def test_in_flight_per_host_and_connections(self):
        delay = [{'action': 'delay', 'delay_ms': DELAY_MS}]
        with FaultProxy(self.src.host, rules=delay) as sp, \
                FaultProxy(self.dst.host, rules=delay) as dp:
            summary = self.run_it(sp, dp)['summary']
            slog, dlog = sp.log(), dp.log()
            sconn, dconn = sp.connections, dp.connections

        self.assertEqual(summary['images_copied'], len(REPOS) * len(TAGS))
        for repo in REPOS:
            for tag in TAGS:
                self.assertEqual(skopeo_raw(self.dst, repo, tag),
                                 skopeo_raw(self.src, repo, tag))

        # At most --routines requests in flight to each host.
        for name, log in (('source', slog), ('target', dlog)):
            most = max(len(in_flight_at(log, e['t'])) + 1 for e in log)
            self.assertLessEqual(most, ROUTINES,
                                 '%s: %d requests in flight at once' % (
                                     name, most))

        # A source manifest GET while the target had --routines in flight.
        gets = [e for e in slog if e['method'] == 'GET' and
                '/manifests/' in e['path']]
        self.assertEqual(len(gets), len(REPOS) * len(TAGS))
        overlapped = [e for e in gets
                      if len(in_flight_at(dlog, e['t'])) >= ROUTINES]
        self.assertGreater(len(overlapped), 0,
                           'no source manifest GET ran while the target had '
                           '%d requests in flight' % ROUTINES)

        # Connections reused: a few per host, not one per blob.
        uploads = sum(1 for e in dlog if e['method'] == 'PUT' and
                      '/blobs/uploads/' in e['path'])
        self.assertGreaterEqual(uploads, len(REPOS) * 2)
        for name, conns in (('source', sconn), ('target', dconn)):
            self.assertLessEqual(conns, 2 * ROUTINES + 2,
                                 '%s: %d connections for %d requests' % (
                                     name, conns, len(slog) + len(dlog)))


if __name__ == '__main__':
    unittest.main()
