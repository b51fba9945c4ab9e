"""Monitors and pipelines (issue 16, section 2) with the real parsers: a
run against docker-registry writes --metrics-file into the directory of
a real prometheus-node-exporter (textfile collector) scraped over
127.0.0.1 during and after the run, checked with `promtool check metrics`
and against the report; the --events file of the same run parses line by
line and agrees with the report; `--events -` with a hostile source keeps
stdout free of control bytes; --dry-run --output=json gives the plan per
target registry as one JSON document."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ.get('TESTS_DIR',
                                               os.path.dirname(HERE)),
                                'fakes'))
import harness  # noqa: E402
from harness import Registry, seed_image, make_layer  # noqa: E402
from hostile_registry import HostileRegistry  # noqa: E402

PASSWORD = 'Mon1tor-S3cret-pw'
NODE_EXPORTER = shutil.which('prometheus-node-exporter')
PROMTOOL = shutil.which('promtool')
SAMPLE = re.compile(r'^([a-z_]+)(\{(.*)\})? (\S+)$')


def parse_metrics(text, run='image_transfer'):
    """{(name, frozenset(labels)): value} of a text exposition: the series
    of image-transfer carry run="<file name without .prom>" (left out of
    the key; checked here), others (node_exporter's own) are kept as
    they are."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = SAMPLE.match(line)
        assert m, 'not a sample: %r' % line
        labels = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"',
                                 m.group(3) or ''))
        if m.group(1).startswith('image_transfer_'):
            assert labels.pop('run', None) == run, line
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def control_bytes(text):
    return [c for c in text if (ord(c) < 0x20 and c not in '\n\t')
            or ord(c) == 0x7f]


def blob_sizes(manifest):
    """{digest: size} of an image manifest's config and layers."""
    m = json.loads(manifest)
    out = {m['config']['digest']: m['config']['size']}
    for l in m['layers']:
        out[l['digest']] = l['size']
    return out


class NodeExporter:
    """prometheus-node-exporter with only the textfile collector, on a
    free loopback port."""

    def __init__(self, directory):
        self.port = harness.free_port()
        self.p = subprocess.Popen(
            [NODE_EXPORTER, '--collector.disable-defaults',
             '--collector.textfile',
             '--collector.textfile.directory=' + directory,
             '--web.listen-address=127.0.0.1:%d' % self.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(200):  # bounded: until it answers
            try:
                self.scrape()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('node_exporter did not start')

    def scrape(self):
        with urllib.request.urlopen(
                'http://127.0.0.1:%d/metrics' % self.port, timeout=10) as r:
            return r.read().decode()

    def stop(self):
        self.p.kill()
        self.p.wait(timeout=30)
        self.p.stderr.close()


class MonitoringTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = Registry().start()
        cls.dst = Registry(auth='basic', users={'bob': PASSWORD}).start()
        base = [make_layer(1, 200 * 1024)]
        cls.images = {}
        for repo, tag, seed in (('team/web', 'v1', 11), ('team/web', 'v2', 12),
                                ('team/api', 'v1', 13)):
            cls.images[(repo, tag)] = seed_image(cls.src, repo, tag,
                                                 kind='v2s2', shared=base,
                                                 seed=seed)

    @classmethod
    def tearDownClass(cls):
        for r in (cls.src, cls.dst):
            r.stop()

    def workdir(self):
        w = harness.Workdir(prefix='it-monitoring-')
        self.addCleanup(w.cleanup)
        return w

    def args(self, w, rules, secrets=None):
        if secrets is None:
            secrets = ('%s:\n  insecure: true\n'
                       '%s:\n  username: bob\n  password: "%s"\n'
                       '  insecure: true\n' % (self.src.host, self.dst.host,
                                                PASSWORD))
        return [harness.binary(),
                '--securityFile', w.write('registry-secret.yaml', secrets),
                '--ruleFile', w.write('transfer-rule.yaml', rules),
                '--state-dir', w.state, '--report=' + w.report, '--no-tui',
                '--qps=0', '--routines=2']

    def rules(self, dst_prefix):
        return ''.join('%s/%s: %s/%s/%s\n' % (self.src.host, repo,
                                              self.dst.host, dst_prefix, repo)
                       for repo in ('team/web', 'team/api'))

    # ------------------------------------------------------------------
    @unittest.skipUnless(NODE_EXPORTER and PROMTOOL,
                         'needs prometheus-node-exporter and promtool '
                         '(deploy/install-deps.sh)')
    def test_1_metrics_scraped_and_events_agree_with_report(self):
        w = self.workdir()
        textdir = os.path.join(w.dir, 'textfile')
        os.mkdir(textdir)
        prom = os.path.join(textdir, 'image_transfer.prom')
        events = os.path.join(w.dir, 'events.jsonl')
        ne = NodeExporter(textdir)
        self.addCleanup(ne.stop)
        env = dict(os.environ, HOME=w.dir)
        # --bandwidth keeps the run going for a few seconds: it is scraped
        # while it runs (no assertion on how long anything takes).
        p = subprocess.Popen(
            self.args(w, self.rules('m1')) +
            ['--metrics-file', prom, '--metrics-interval=1',
             '--events', events, '--bandwidth=150K'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        during = None
        for _ in range(3000):  # bounded: until the run ends
            if p.poll() is not None:
                break
            text = ne.scrape()
            if 'image_transfer_phase' in text and during is None:
                during = text  # the first: the run has not ended yet
            time.sleep(0.05)
        out, err = p.communicate(timeout=300)
        out, err = out.decode(), err.decode()
        self.assertEqual(p.returncode, 0, out + err)
        self.assertIsNotNone(during, 'never scraped while running')
        s = parse_metrics('\n'.join(l for l in during.splitlines()
                                    if l.startswith(('image_transfer_', '#'))))
        self.assertEqual(metric(s, 'image_transfer_phase', phase='done'), 0)

        # After the run: the file is clean for promtool, the scrape holds
        # the report's numbers.
        with open(prom, 'rb') as fh:
            chk = subprocess.run([PROMTOOL, 'check', 'metrics'], stdin=fh,
                                 capture_output=True, timeout=60)
        self.assertEqual(chk.returncode, 0, chk.stdout + chk.stderr)
        self.assertEqual([f for f in os.listdir(textdir)],
                         ['image_transfer.prom'])  # no temp file left
        scrape = ne.scrape()
        s = parse_metrics('\n'.join(l for l in scrape.splitlines()
                                    if l.startswith('image_transfer_')))
        self.assertEqual(metric(parse_metrics('\n'.join(
            l for l in scrape.splitlines()
            if l.startswith('node_textfile_scrape_error'))),
            'node_textfile_scrape_error'), 0)
        summ = w.load_report()['summary']
        self.assertEqual(summ['images_copied'], 3, summ)
        for outcome in ('copied', 'skipped', 'failed', 'pending'):
            self.assertEqual(
                metric(s, 'image_transfer_images_total', outcome=outcome),
                summ['images_' + outcome], outcome)
        for outcome in ('copied', 'mounted', 'skipped'):
            self.assertEqual(
                metric(s, 'image_transfer_blobs_total', outcome=outcome),
                summ['blobs_' + outcome], outcome)
        self.assertEqual(metric(s, 'image_transfer_copied_bytes'),
                         summ['bytes_copied'])
        self.assertGreaterEqual(
            metric(s, 'image_transfer_transferred_bytes_total'),
            summ['bytes_copied'])
        self.assertEqual(metric(s, 'image_transfer_phase', phase='done'), 1)
        self.assertEqual(metric(s, 'image_transfer_images_listed'), 3)
        for host in (self.src.host, self.dst.host):
            self.assertGreater(metric(s, 'image_transfer_http_requests_total',
                                      host=host, **{'class': '2xx'}), 0)
            self.assertEqual(metric(s, 'image_transfer_http_requests_in_flight',
                                    host=host), 0)
        # the target asked for credentials first: 401s are 4xx
        self.assertGreater(metric(s, 'image_transfer_http_requests_total',
                                  host=self.dst.host, **{'class': '4xx'}), 0)
        start = metric(s, 'image_transfer_start_time_seconds')
        last = metric(s, 'image_transfer_last_progress_time_seconds')
        self.assertGreater(start, 1.6e9)
        self.assertGreaterEqual(last, start)
        self.assertNotIn(PASSWORD, scrape)

        # The events of the same run.
        with open(events) as f:
            raw = f.read()
        self.assertNotIn(PASSWORD, raw)
        lines = [json.loads(l) for l in raw.splitlines()]
        for ev in lines:
            self.assertEqual(ev['v'], 1, ev)
            self.assertIn('time', ev)
        self.assertEqual(lines[0]['event'], 'run_started')
        self.assertEqual(lines[0]['mode'], 'generic')
        self.assertEqual(lines[-1]['event'], 'run_finished')
        self.assertEqual(lines[-1]['summary'], summ)
        self.assertEqual(lines[-1]['exit_code'], 0)
        finished = [e for e in lines if e['event'] == 'image_finished']
        self.assertEqual(len([e for e in finished if e['status'] == 'copied']),
                         summ['images_copied'])
        by_source = {e['source']: e for e in finished}
        for (repo, tag), info in self.images.items():
            ev = by_source['%s/%s:%s' % (self.src.host, repo, tag)]
            self.assertEqual(ev['digest'], info['digest'])
            self.assertEqual(ev['target'], '%s/m1/%s:%s' % (self.dst.host,
                                                           repo, tag))
        listed = [e for e in lines if e['event'] == 'repo_listed']
        self.assertEqual(sorted((e['source'], e['images'], e['status'])
                                for e in listed),
                         [('%s/team/api' % self.src.host, 1, 'ok'),
                          ('%s/team/web' % self.src.host, 2, 'ok')])

    def test_2_events_on_stdout_hostile_names_escaped(self):
        """--events - with a source whose tag names hold terminal escapes
        and a newline: every JSON line parses, stdout holds no control
        byte, and the counts agree with the report."""
        src = HostileRegistry().start()
        self.addCleanup(src.stop)
        src.add_image('honest/app', 'v1', seed=7)
        w = self.workdir()
        rules = ('"%s/hostile/esc-tags": "%s/h2/tags"\n'
                 '"%s/honest/app:v1": "%s/h2/honest:v1"\n' % (
                     src.host, self.dst.host, src.host, self.dst.host))
        secrets = ('%s:\n  insecure: true\n%s:\n  username: bob\n'
                   '  password: "%s"\n  insecure: true\n' % (
                       src.host, self.dst.host, PASSWORD))
        p = subprocess.run(self.args(w, rules, secrets) +
                           ['--events', '-', '--retry=0',
                            '--retry-window=0'],
                           capture_output=True, timeout=300,
                           env=dict(os.environ, HOME=w.dir))
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertEqual(p.returncode, 1, out + err)
        self.assertEqual(control_bytes(out), [])
        self.assertNotIn(PASSWORD, out)
        events = [json.loads(l) for l in out.splitlines()
                  if l.startswith('{')]
        self.assertEqual(events[0]['event'], 'run_started')
        self.assertEqual(events[-1]['event'], 'run_finished')
        self.assertEqual(events[-1]['exit_code'], 1)
        rep = w.load_report()
        self.assertEqual(events[-1]['summary'], rep['summary'])
        failed = [e for e in events if e.get('status') == 'failed']
        self.assertEqual(len(failed), rep['summary']['images_failed'])
        for e in events:
            for v in e.values():
                if isinstance(v, str):
                    self.assertEqual(control_bytes(v), [], e)
        tags = [e['source'] for e in events if e['event'] == 'image_finished'
                and 'esc-tags' in e['source']]
        self.assertTrue(any('\\x1b' in t for t in tags), tags)
        self.assertTrue(any(e['event'] == 'warning' or
                            e.get('error') for e in events))

    def test_3_dry_run_plan_as_json(self):
        w = self.workdir()
        p = subprocess.run(self.args(w, self.rules('dry')) +
                           ['--dry-run', '--output=json'],
                           capture_output=True, timeout=300,
                           env=dict(os.environ, HOME=w.dir))
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertEqual(p.returncode, 0, out + err)
        plan = json.loads(out)  # stdout is the one document, nothing else
        self.assertEqual(plan['v'], 1)
        self.assertTrue(plan['dry_run'])
        sizes = {}
        for info in self.images.values():
            sizes.update(blob_sizes(info['manifest']))
        self.assertEqual(plan['targets'], [{
            'registry': self.dst.host, 'images': 3, 'blobs': len(sizes),
            'bytes': sum(sizes.values())}])
        self.assertEqual(sorted(i['status'] for i in plan['images']),
                         ['planned'] * 3)
        self.assertEqual(plan['summary'], w.load_report()['summary'])
        status, _, _ = self.dst.request('GET', '/v2/dry/team/web/tags/list')
        self.assertEqual(status, 404)  # nothing was written

    def test_4_stdout_users_refused_together(self):
        w = self.workdir()
        for extra, want in ((['--events', '-', '--tui'], '--events -'),
                            (['--dry-run', '--output=json', '--events', '-'],
                             'both write to stdout'),
                            (['--output=json'], 'needs --dry-run')):
            p = subprocess.run(self.args(w, self.rules('x')) + extra,
                               capture_output=True, timeout=60,
                               env=dict(os.environ, HOME=w.dir))
            self.assertEqual(p.returncode, 2, extra)
            self.assertIn(want, p.stderr.decode())
        p = subprocess.run(self.args(w, self.rules('x')) +
                           ['--metrics-file', os.path.join(w.dir, 'no', 'm')],
                           capture_output=True, timeout=60,
                           env=dict(os.environ, HOME=w.dir))
        self.assertEqual(p.returncode, 2)
        self.assertIn('--metrics-file', p.stderr.decode())


if __name__ == '__main__':
    unittest.main()
