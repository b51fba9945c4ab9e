"""scale_run.py - workload 5 of bench/run.py: a CCR -> TCR migration of a
large generated account (issue 12, "How to measure here").

The source registry serves a storage tree written by scale_fixture.py
(R repositories x T tags over 5 shared images); the Tencent Cloud API
double (tests/fakes/fake_tc_api.py) lists the same account through its
"generate" fixture key. image-transfer runs in CCR -> TCR mode, headless
(no TTY, --log-level=info, --progress-interval=1), and every line it
prints is timestamped as it arrives. Measured runs:

  a  enumeration + --dry-run into a fresh (empty) target
  b  rerun with nothing to copy: the target registry serves the same
     storage tree (a second docker-registry process on it, read only
     here), so it holds every tag; once with an empty state dir, then
     with the state dir that run left
  c  a real copy of C repositories x 1 tag into a fresh target

For each: wall, tool CPU, peak RSS (/usr/bin/time; the run is stopped
if its RSS passes --scale-rss-cap-mib), the API calls by action (the
fake's /__calls), time to the first finished image (the first "copy"
plan line in a dry run, "copied" log line in a copy, "skipped" line in
a rerun) and time until the totals are known. "Totals known" is read
from the headless progress lines ("images D/T (F failed) | ... | ETA E"):
T only grows while repositories are being listed, and the ETA is "--"
until the engine's enumeration is done. Two times are reported: the
first line whose T equals the final total ("end" when no line before the
summary had it), and the first line with an ETA (the engine's
enumeration-done signal; it also needs one image finished).
"""

import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests',
                                'integration'))

import harness  # noqa: E402
import scale_fixture  # noqa: E402
import tcfake  # noqa: E402

API_RATE = 100.0  # documented DescribeImagePersonal limit, calls/s

CCR_ID, CCR_KEY = 'AKIDbenchCcrKey0000000000000000001', 'benchCcrSecret01'
TCR_ID, TCR_KEY = 'AKIDbenchTcrKey0000000000000000002', 'benchTcrSecret02'
INSTANCE = 'tcr-bench0001'
UIN = '100000000042'

# "2026-01-01T00:00:00.000Z INFO  copied SRC -> DST (sha256:...)"
_EVENT = re.compile(r'\S+Z INFO  (copied|skipped) \S+ -> ')
_LINE = re.compile(r'images (\d+)/(\d+) \((\d+) failed\) \|.*\| ETA (\S+)')


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


def fixture(repos, tags, namespaces, dst_host, tcr_namespaces):
    """The account: CCR generated, one TCR instance at dst_host."""
    images = [i['digest'] for i in scale_fixture.IMAGE_SET[0]]
    return {
        'credentials': [{'secret_id': CCR_ID, 'secret_key': CCR_KEY},
                        {'secret_id': TCR_ID, 'secret_key': TCR_KEY}],
        'uin': UIN,
        'ccr': {'server': 'ccr.ccs.tencentyun.com',
                'generate': {'repos': repos, 'tags': tags,
                             'namespaces': namespaces, 'images': images}},
        'tcr': {'instances': [{'id': INSTANCE, 'name': 'bench-tcr',
                               'status': 'Running',
                               'region': 'ap-guangzhou',
                               'public_domain': dst_host,
                               'token': 'bench-instance-token'}],
                'namespaces': {INSTANCE: [
                    {'name': 'ns%04d' % i, 'id': i + 1}
                    for i in range(min(namespaces, repos))]
                    if tcr_namespaces else []},
                'repos': {}},
        'options': {},
    }


class Timeline:
    """What the run printed, by arrival time (seconds from the start)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.first = {}  # kind -> seconds
        self.count = collections.Counter()
        self.progress = []  # (t, done, total, failed, eta)
        self.other = []  # (t, line) of warnings/errors, the first 50

    def feed(self, t, line):
        with self.lock:
            mo = _LINE.search(line)
            if mo:
                self.progress.append((t, int(mo.group(1)), int(mo.group(2)),
                                      int(mo.group(3)), mo.group(4)))
                return
            mo = _EVENT.match(line)
            kind = mo.group(1) if mo else \
                'planned' if line.startswith('copy ') else None
            if kind:
                self.count[kind] += 1
                self.first.setdefault(kind, t)
                return
            if len(self.other) < 50:
                self.other.append((t, line.rstrip()))

    def totals_known(self, final_total):
        """(first t whose total is final_total, first t with an ETA)."""
        t_total = t_eta = None
        for t, _, total, _, eta in self.progress:
            if t_total is None and total >= final_total > 0:
                t_total = t
            if t_eta is None and eta != '--':
                t_eta = t
        return t_total, t_eta


def _children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _hwm_kib(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _cpu_s(pid):
    """user+sys CPU seconds of pid so far."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / \
            float(os.sysconf('SC_CLK_TCK'))
    except (OSError, IndexError, ValueError):
        return 0.0


def run_streamed(cmd, logfile, timeout, rss_cap_mib):
    """Runs cmd under /usr/bin/time with stdout and stderr piped, feeding
    every line with its arrival time into a Timeline. Stops the run when
    its peak RSS passes rss_cap_mib or it takes longer than timeout.
    Returns (figures, timeline)."""
    tfile = logfile + '.time'
    tl = Timeline()
    t0 = time.monotonic()
    p = subprocess.Popen(['/usr/bin/time', '-o', tfile, '-f',
                          '%U %S %M %x'] + list(cmd),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    out = open(logfile, 'a', errors='replace')
    out.write('$ %s\n' % ' '.join(cmd))
    olock = threading.Lock()

    def reader(stream, name):
        kept = 0
        for raw in iter(stream.readline, b''):
            t = time.monotonic() - t0
            line = raw.decode('utf-8', 'replace')
            tl.feed(t, line)
            # The log keeps the first lines and every progress line, not
            # a million "skipped" lines.
            if kept < 200 or _LINE.search(line) or 'error' in line:
                kept += 1
                with olock:
                    out.write('%9.3f %s %s' % (t, name, line))
        stream.close()

    threads = [threading.Thread(target=reader, args=(p.stdout, 'out')),
               threading.Thread(target=reader, args=(p.stderr, 'err'))]
    for th in threads:
        th.start()
    stopped = None
    hwm = 0
    cpu = 0.0  # of a run that is stopped: time(1) dies with it
    while p.poll() is None:
        time.sleep(0.5)
        for c in _children(p.pid):
            hwm = max(hwm, _hwm_kib(c))
            cpu = max(cpu, _cpu_s(c))
        if hwm > rss_cap_mib * 1024:
            stopped = 'stopped: RSS passed %d MiB' % rss_cap_mib
        elif time.monotonic() - t0 > timeout:
            stopped = 'stopped: took longer than %d s' % timeout
        if stopped:
            os.killpg(p.pid, signal.SIGKILL)
            break
    p.wait()
    wall = time.monotonic() - t0
    for th in threads:
        th.join(60)
    out.close()
    m = {'wall': wall, 'cpu': cpu, 'rss_mib': hwm / 1024.0, 'rc': p.returncode,
         'stopped': stopped}
    try:
        with open(tfile) as f:
            last = f.read().strip().splitlines()[-1].split()
        m['cpu'] = float(last[0]) + float(last[1])
        m['rss_mib'] = max(m['rss_mib'], float(last[2]) / 1024.0)
        m['rc'] = int(last[3])
    except (OSError, IndexError, ValueError):
        pass
    return m, tl


class Scale:
    """Workload 5 inside a run.py Bench (rows go to bench.extra)."""

    def __init__(self, bench):
        self.b = bench
        self.a = bench.args
        self.rows = []
        self.notes = []

    def cmd(self, w, fake, src, dst, state, report, dry_run=False,
            extra=()):
        sec = w('registry-secret.yaml', '"%s":\n  insecure: true\n'
                '"%s":\n  insecure: true\n' % (src.host, dst.host))
        tcs = w('tencentcloud-secret.yaml',
                'ccr:\n  secretId: %s\n  secretKey: "%s"\n'
                'tcr:\n  secretId: %s\n  secretKey: "%s"\n' % (
                    CCR_ID, CCR_KEY, TCR_ID, TCR_KEY))
        c = [self.a.binary, '--ccrToTcr=true', '--securityFile=' + sec,
             '--secretFile=' + tcs, '--tcrName=bench-tcr',
             '--tcrRegion=ap-guangzhou', '--ccrRegion=ap-guangzhou',
             '--ccr-registry=' + src.host, '--tc-endpoint=' + fake.endpoint,
             '--no-tui', '--qps=0', '--log-level=info',
             '--progress-interval=1',
             '--routines=%d' % self.a.scale_routines,
             '--state-dir=' + state, '--report=' + report]
        if dry_run:
            c.append('--dry-run')
        return c + list(extra)

    def writer(self, tag):
        d = tempfile.mkdtemp(prefix='scale-%s-' % tag, dir=self.b.work)

        def w(name, text):
            path = os.path.join(d, name)
            with open(path, 'w') as f:
                f.write(text)
            return path
        return d, w

    def one(self, what, repos, tags, src, dst, state, dry_run=False,
            tcr_namespaces=False, first_kind='copied'):
        """One measured run against a fresh fake; returns its row."""
        d, w = self.writer(what.split()[0])
        fake = tcfake.FakeTC(fixture(repos, tags, self.a.scale_namespaces,
                                     dst.host, tcr_namespaces),
                             prefix='it-bench-fake-')
        try:
            report = os.path.join(d, 'report.json')
            cmd = self.cmd(w, fake, src, dst, state, report, dry_run)
            log('w5: %s (%d x %d)' % (what, repos, tags))
            m, tl = run_streamed(cmd, self.b.path('scale.log'),
                                 self.a.scale_timeout, self.a.scale_rss_cap)
            calls = collections.Counter(c['action'] for c in fake.calls())
        finally:
            fake.close()
        summary = {}
        try:
            with open(report) as f:
                summary = json.load(f).get('summary', {})
        except (OSError, ValueError):
            pass
        final = repos * tags
        t_total, t_eta = tl.totals_known(final)
        if t_total is None and not m['stopped'] and m['rc'] == 0:
            t_total = 'end'  # no progress line had them: only at the end
        row = {'what': what, 'size': '%d x %d' % (repos, tags), 'm': m,
               'calls': calls, 'first': tl.first.get(first_kind),
               'first_kind': first_kind, 't_total': t_total, 't_eta': t_eta,
               'counts': dict(tl.count), 'summary': summary,
               'images': final, 'repos': repos, 'tags': tags,
               'problems': [l for _, l in tl.other
                            if 'error' in l.lower()][:3]}
        log('  wall %.1fs cpu %.1fs rss %.1f MiB rc %s; first %s %s; totals '
            '%s; eta %s; calls %s; %s' % (
                m['wall'], m['cpu'], m['rss_mib'], m['rc'], first_kind,
                fmt_t(row['first']), fmt_t(t_total), fmt_t(t_eta),
                sum(calls.values()), m['stopped'] or ''))
        self.rows.append(row)
        return row

    def run(self):
        a = self.a
        R, T, C = a.scale_repos, a.scale_tags, a.scale_copy_repos
        K = a.scale_namespaces
        srcdir = os.path.join(self.b.work, 'scale-src')
        log('w5: writing the storage tree of %d x %d (scale_fixture.py)' % (
            R, T))
        gen = scale_fixture.generate(os.path.join(srcdir, 'storage'),
                                     max(R, C), T, K,
                                     jobs=os.cpu_count() or 1)
        log('w5: %s' % json.dumps(gen, sort_keys=True))
        self.notes.append(
            'storage tree of %d repositories x %d tags: %.1f s, %d '
            'directories, %d hard links, %d inodes, %.0f MiB '
            '(scale_fixture.generate, %d processes)' % (
                gen['repos'], T, gen['seconds'], gen['directories'],
                gen['links'], gen['inodes_used'], gen['disk_mib_used'],
                gen['jobs']))
        with harness.Registry(root=srcdir) as src:
            if 'a' in a.scale_runs:
                with harness.Registry() as dst:
                    state = tempfile.mkdtemp(prefix='state-',
                                             dir=self.b.work)
                    self.one('a: enumeration + --dry-run', R, T, src, dst,
                             state, dry_run=True, first_kind='planned')
            if 'b' in a.scale_runs:
                # The target serves the same tree: it holds every tag.
                tdir = os.path.join(self.b.work, 'scale-dst-same')
                os.makedirs(tdir, exist_ok=True)
                link = os.path.join(tdir, 'storage')
                if not os.path.islink(link):
                    os.symlink(os.path.join(srcdir, 'storage'), link)
                with harness.Registry(root=tdir) as dst:
                    state = tempfile.mkdtemp(prefix='state-',
                                             dir=self.b.work)
                    self.one('b: rerun, nothing to copy, empty state dir',
                             R, T, src, dst, state, tcr_namespaces=True,
                             first_kind='skipped')
                    self.one('b: rerun, nothing to copy, same state dir',
                             R, T, src, dst, state, tcr_namespaces=True,
                             first_kind='skipped')
            if 'c' in a.scale_runs and C > 0:
                with harness.Registry() as dst:
                    state = tempfile.mkdtemp(prefix='state-',
                                             dir=self.b.work)
                    row = self.one('c: copy into a fresh target', C, 1, src,
                                   dst, state)
                    row['verified'] = verify_sample(dst, C, K)
        self.b.extra.append(self.table())

    def table(self):
        a = self.a
        out = ['Workload 5 (scale, CCR -> TCR, --routines=%d --qps=0, '
               '%d namespaces):' % (a.scale_routines, a.scale_namespaces),
               '',
               '| run | repos x tags | wall s | tool CPU s | peak RSS MiB '
               '| API calls | first image s | totals final s | ETA shown s '
               '| images done | notes |',
               '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|']
        for r in self.rows:
            m, s = r['m'], r['summary']
            calls = r['calls']
            call_note = ', '.join('%s %d' % (k, v)
                                  for k, v in sorted(calls.items()))
            done = s.get('images_copied', 0) + s.get('images_skipped', 0) \
                if s else 0
            if r['first_kind'] == 'planned':
                done = r['counts'].get('planned', 0)
            notes = []
            if m.get('stopped'):
                notes.append('**%s**' % m['stopped'])
            elif m.get('rc'):
                notes.append('exit %s' % m['rc'])
            if s:
                notes.append('copied %s, skipped %s, failed %s; blobs '
                             'copied %s, mounted %s' % (
                                 s.get('images_copied'),
                                 s.get('images_skipped'),
                                 s.get('images_failed'),
                                 s.get('blobs_copied'),
                                 s.get('blobs_mounted')))
            notes.append('first = first %s line' % r['first_kind'])
            notes.append('calls: %s' % call_note)
            # One DescribeImagePersonal per repository and 100 tags.
            need = r['repos'] * -(-r['tags'] // 100)
            notes.append('at %g DescribeImagePersonal/s listing the tags of '
                         'all %d repositories needs >= %.0f s' % (
                             API_RATE, r['repos'], need / API_RATE))
            if r.get('verified'):
                notes.append(r['verified'])
            notes += ['problem: %s' % p for p in r['problems']]
            out.append('| %s | %s | %.1f | %.1f | %.1f | %d | %s | %s | %s '
                       '| %d/%d | %s |' % (
                           r['what'], r['size'], m['wall'], m['cpu'],
                           m['rss_mib'], sum(calls.values()),
                           fmt_t(r['first']), fmt_t(r['t_total']),
                           fmt_t(r['t_eta']), done, r['images'],
                           '; '.join(notes)))
        out += [''] + ['* ' + n for n in self.notes]
        return '\n'.join(out) + '\n'


def verify_sample(dst, repos, namespaces, n=20):
    """Tags v1 of n repositories spread over the copy, by digest."""
    ok = 0
    picks = sorted({k * repos // n for k in range(n)})
    for k in picks:
        name = scale_fixture.repo_name(k, namespaces)
        want = scale_fixture.expected_tags(k, 1)['v1']
        st, h, _ = dst.request('HEAD', '/v2/%s/manifests/v1' % name,
                               headers={'Accept': scale_fixture.ACCEPT})
        if st == 200 and h.get('Docker-Content-Digest') == want:
            ok += 1
    return 'target spot check: %d/%d tags with the source digest' % (
        ok, len(picks))


def fmt_t(t):
    if isinstance(t, str):
        return t
    return '-' if t is None else '%.1f' % t
