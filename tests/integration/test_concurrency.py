"""Requests in flight and connections (issue 15, §4): the image-transfer
binary copies 12 images between two real docker-registries, each behind
fault_proxy.py adding 40 ms to every request, with --routines=2.

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

skopeo, talking to the target registry directly, checks what landed.
"""
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
DELAY_MS = 40
# A request counts as overlapping another's arrival only when it is still
# in flight this long after it: the proxy records a request's end after it
# relayed the answer, a moment after the client may have sent its next one.
SLACK = 0.015
REPOS = ['c/app%d' % i for i in range(6)]
TAGS = ['v1', 'v2']


def in_flight_at(log, t):
    """Requests of log in flight at time t (arrived before, ending more
    than SLACK after)."""
    return [e for e in log
            if e['t'] < t and e['done'] is not None and e['done'] > t + SLACK]


class ConcurrencyTest(unittest.TestCase):

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

    def test_in_flight_per_host_and_connections(self):
        delay = [{'action': 'delay', 'delay_ms': DELAY_MS}]
        with FaultProxy(self.src.host, rules=delay) as sp, \
                FaultProxy(self.dst.host, rules=delay) as dp:
            secrets = '%s:\n  insecure: true\n%s:\n  insecure: true\n' % (
                sp.host, dp.host)
            rules = ''.join('%s/%s: %s/%s\n' % (sp.host, r, dp.host, r)
                            for r in REPOS)
            rc, _, err = harness.run_binary(
                ['--securityFile', self.w.write('secret.yaml', secrets),
                 '--ruleFile', self.w.write('rule.yaml', rules),
                 '--state-dir', self.w.state, '--report=' + self.w.report,
                 '--no-tui', '--qps=0', '--routines=%d' % ROUTINES],
                timeout=300, home=self.w.dir)
            self.assertEqual(rc, 0, err[-2000:])
            slog, dlog = sp.log(), dp.log()
            sconn, dconn = sp.connections, dp.connections

        summary = self.w.load_report()['summary']
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
