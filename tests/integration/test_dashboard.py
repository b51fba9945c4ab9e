"""The dashboard during a real migration: the image-transfer binary copies
eight repositories between two real docker-registry processes inside tmux,
capped by --bandwidth so it runs long enough to be seen mid-run.

What a person sees is checked with capture-pane: the header (mode, hosts,
phase, counters), a row per repository with readable names, progress bars;
the finished state, the wait for a key and the summary on the normal
screen; a resize to 80x24 mid-run; q + y stopping gracefully (the
dashboard closes by itself, exit 130, journal and report written). The target's password must never be on the
screen. skopeo checks the copied images byte for byte.

Pane (a tmux session on a private socket, exit status written to a file)
and rows_of come from test_tui. Every wait is a bounded poll; the tmux
server is killed by a test cleanup, the registries in tearDownClass.
"""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Registry, make_layer, seed_image, skopeo_raw  # noqa: E402
from test_tui import Pane, rows_of  # noqa: E402

PASSWORD = 'Dash-b0ard-Secret-91'
N_REPOS = 8
TAGS = ('v1', 'v2')
LAYER = 320 * 1024  # bytes of one image's own layer (random: no gzip gain)
DEADLINE = 30.0     # seconds for any one thing to appear on the screen


def src_repo(i):
    # The last one is long: the name column must cut it from the left.
    if i == N_REPOS - 1:
        return 'platform-services/payments-reconciliation-app%d' % i
    return 'team%d/app%d' % (i % 3, i)


def dst_repo(i):
    return 'migrated/app%d' % i


class Screens(Pane):
    """A Pane that keeps every screen it captured, so the test can check
    that a secret never appeared on any of them."""

    def __init__(self, *args, **kw):
        self.seen = []
        super().__init__(*args, **kw)

    def capture(self):
        s = super().capture()
        self.seen.append(s)
        return s

    def wait_for(self, pred, what, deadline=DEADLINE):
        return super().wait_for(pred, what, deadline)

    def wait_rc(self, deadline=DEADLINE):
        return super().wait_rc(deadline)


class DashboardTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not shutil.which('tmux'):
            raise unittest.SkipTest('tmux not installed')
        cls.src = Registry().start()
        try:
            cls.dst = Registry(auth='basic', users={'bob': PASSWORD}).start()
        except BaseException:
            cls.src.stop()
            raise
        cls.images = {}
        try:
            base = make_layer(7, 64 * 1024)
            for i in range(N_REPOS):
                for k, tag in enumerate(TAGS):
                    seed = 1000 + 10 * i + k
                    cls.images[(i, tag)] = seed_image(
                        cls.src, src_repo(i), tag,
                        kind='oci' if k else 'v2s2',
                        layers=[make_layer(seed, LAYER)], shared=[base],
                        seed=seed)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.dst.stop()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='it-dashboard-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    # ------------------------------------------------------------ helpers

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def start(self, target_ns, width=120, height=40, secrets_mode=0o600):
        """Starts the binary in tmux copying every repo to target_ns/...;
        returns (pane, state_dir, report_path)."""
        s, d = self.src.host, self.dst.host
        secrets = self.write('registry-secret.yaml', mode=secrets_mode,
                             text=(
            '%s:\n  insecure: true\n'
            '%s:\n  username: bob\n  password: "%s"\n  insecure: true\n') %
            (s, d, PASSWORD))
        rules = self.write('transfer-rule.yaml', ''.join(
            '%s/%s: %s/%s\n' % (s, src_repo(i), d,
                                dst_repo(i).replace('migrated', target_ns))
            for i in range(N_REPOS)))
        state = os.path.join(self.dir, 'state-' + target_ns)
        report = os.path.join(self.dir, 'report-%s.json' % target_ns)
        cmd = ' '.join(shlex.quote(a) for a in [
            harness.binary(), '--securityFile', secrets, '--ruleFile', rules,
            '--tui', '--bandwidth=1M', '--state-dir', state,
            '--report', report, '--routines', '2', '--qps=0'])
        pane = Screens(cmd, width=width, height=height,
                       env={'HOME': shlex.quote(self.dir)})
        self.addCleanup(self.check_no_secret, pane)
        self.addCleanup(pane.close)
        return pane, state, report

    def check_no_secret(self, pane):
        for s in pane.seen:
            self.assertNotIn(PASSWORD, s)

    def repo_rows(self, screen, ns='migrated'):
        """{repo index: row text} for the rows that name a repository as
        "SRC → NS/appI", SRC whole or cut from the left ("…" + its end)."""
        out = {}
        for r in rows_of(screen):
            m = re.match(r'^[> ] (\S+) → %s/app(\d+) ' % ns, r)
            if not m or int(m.group(2)) >= N_REPOS:
                continue
            i, shown = int(m.group(2)), m.group(1)
            if shown == src_repo(i) or (shown.startswith('…') and len(
                    shown) > 4 and src_repo(i).endswith(shown[1:])):
                out[i] = r
        return out

    def show(self, what, screen):
        if os.environ.get('IT_SHOW_SCREENS'):
            sys.stderr.write('\n----- %s\n%s\n' % (what, screen))

    # -------------------------------------------------------------- tests

    def test_full_run(self):
        pane, state, report = self.start('migrated')
        # While it runs: the header, the counters, a row per repository,
        # progress bars.
        s = pane.wait_for(
            lambda s: len(self.repo_rows(s)) == N_REPOS and
            re.search(r'(?m)█.*\bcopying$', s) and
            'Press any key' not in s, 'the running dashboard')
        self.show('running 120x40', s)
        lines = s.splitlines()
        self.assertRegex(lines[0], r'^ image-transfer .*\bgeneric\b')
        self.assertRegex(lines[0], r'\b(COPYING|DISCOVERING)\b')
        self.assertRegex(lines[0], r'elapsed \d\d:\d\d:\d\d\s*$')
        self.assertRegex(lines[1], r'%s\s+→\s+%s' % (
            re.escape(self.src.host), re.escape(self.dst.host)))
        self.assertRegex(s, r'Repos\s+\d+/%d\+? done' % N_REPOS)
        self.assertRegex(s, r'Images\s+\d+/\d+\+? done')
        self.assertRegex(s, r'Blobs\s+copied \d+')
        self.assertIn('REPOSITORY', s)
        self.assertIn('█', s)
        # Rows name the repositories without the hosts the header shows;
        # the long name is cut from the left and keeps its end.
        rows = self.repo_rows(s)
        for i, r in rows.items():
            self.assertNotIn(self.src.host, r)
            self.assertNotIn(self.dst.host, r)
            if i < N_REPOS - 1:
                self.assertIn('%s → migrated/app%d ' % (src_repo(i), i), r)
        self.assertRegex(rows[N_REPOS - 1], r'^[> ] …\S+-app%d → ' %
                         (N_REPOS - 1))
        self.assertFalse(os.path.exists(pane.rc_file))

        # The end: DONE, every row done, and the dashboard waits for a key.
        s = pane.wait_for(lambda s: 'Press any key' in s,
                          'the finished dashboard', deadline=60)
        self.show('finished 120x40', s)
        self.assertRegex(s.splitlines()[0], r'\bDONE\b')
        self.assertIn('Finished', s.splitlines()[-1])
        n_images = N_REPOS * len(TAGS)
        self.assertRegex(s, r'Repos\s+%d/%d done' % (N_REPOS, N_REPOS))
        self.assertRegex(s, r'Images\s+%d/%d done\s+copied %d\s+skipped 0'
                         r'\s+failed 0' % (n_images, n_images, n_images))
        self.assertRegex(s, r'(?m)^ █+\s+100%$')
        rows = self.repo_rows(s)
        self.assertEqual(sorted(rows), list(range(N_REPOS)))
        for r in rows.values():
            self.assertRegex(r, r'\s%d/%d\s.*100%%\s+done\s*$' %
                             (len(TAGS), len(TAGS)))
        time.sleep(0.5)
        self.assertIn('Press any key', pane.capture())
        self.assertFalse(os.path.exists(pane.rc_file))
        pane.keys('x')
        self.assertEqual(pane.wait_rc(), 0)
        s = pane.wait_for(lambda s: 'Result:' in s, 'the summary')
        self.show('summary', s)
        self.assertIn('Result:  success', s)
        self.assertRegex(s, r'Images:\s+%d copied, 0 skipped, 0 failed, '
                            r'%d total' % (n_images, n_images))
        self.assertNotIn('Press any key', s)

        # The copies are exact (skopeo is the independent reader).
        for (i, tag), img in self.images.items():
            got = skopeo_raw(self.dst, dst_repo(i), tag)
            self.assertEqual(got, img['manifest'], '%s:%s' % (dst_repo(i),
                                                              tag))
        with open(report) as f:
            rep = json.load(f)
        self.assertFalse(rep['interrupted'])

    def test_resize_then_stop(self):
        pane, state, report = self.start('stopped')
        s = pane.wait_for(
            lambda s: len(self.repo_rows(s, 'stopped')) >= 4 and
            re.search(r'Blobs\s+copied [1-9]', s), 'rows and a copied blob')
        pane.tmux('resize-window', '-x', '80', '-y', '24')
        s = pane.wait_for(
            lambda s: s.splitlines() and len(s.splitlines()) <= 24 and
            re.search(r'of \d+\s*$', s.splitlines()[-1]),
            'the redrawn 80x24 screen')
        self.show('running 80x24', s)
        lines = s.splitlines()
        for line in lines:
            self.assertLessEqual(len(line), 80, 'too wide: %r' % line)
        self.assertRegex(lines[0], r'^ image-transfer .*\bgeneric\b.*'
                                   r'elapsed \d\d:\d\d:\d\d\s*$')
        self.assertIn(self.src.host, lines[1])
        self.assertIn(self.dst.host, lines[1])
        self.assertIn('REPOSITORY', s)
        rows = self.repo_rows(s, 'stopped')
        self.assertGreaterEqual(len(rows), 4)
        self.assertRegex(lines[-1], r'q stop')
        # Every row's cells line up under the headings (each character on
        # this screen takes one column).
        head = next(l for l in lines if 'REPOSITORY' in l)
        tags_end = head.index('TAGS') + len('TAGS')
        bytes_end = head.index('BYTES') + len('BYTES')
        for r in rows.values():
            self.assertRegex(r[tags_end - 8:tags_end], r'^ +(-|\d+/\d+)$')
            self.assertRegex(r[bytes_end - 10:bytes_end],
                             r'^ +(-|[\d.]+ [KMG]?i?B)$')
            self.assertRegex(r[head.index('STATE'):],
                             r'^(waiting|listing|copying|done|skipped)\s*$')

        # Enter: the detail view of the selected repository, Esc: back.
        pane.keys('Enter')
        s = pane.wait_for(lambda s: 'TAG' in s and 'STATUS' in s,
                          'the detail view')
        self.show('detail 80x24', s)
        self.assertRegex(s, r'(?m)^ Repository +\S+ → stopped/app\d+\s*$')
        self.assertRegex(s, r'(?m)^[> ] v[12]\s')
        pane.keys('Escape')
        pane.wait_for(lambda s: 'REPOSITORY' in s, 'back to the list')

        pane.keys('q')
        s = pane.wait_for(lambda s: '(y/n)' in s, 'the stop confirmation')
        self.show('confirm 80x24', s)
        pane.keys('y')
        # No further key: once the run has stopped the dashboard closes by
        # itself with 130 and the summary is on the normal screen.
        self.assertEqual(pane.wait_rc(), 130)
        s = pane.wait_for(lambda s: 'Result:' in s, 'the summary')
        self.show('summary after stop', s)
        self.assertNotIn('Press any key', s)
        self.assertNotIn('REPOSITORY', s)  # the dashboard is gone

        self.assertTrue(os.path.exists(os.path.join(state, 'journal.db')))
        records = [json.loads(l) for l in
                   harness.journal_text(state).splitlines() if l.strip()]
        self.assertTrue(records, 'no journal records')
        with open(report) as f:
            rep = json.load(f)
        self.assertIs(rep['interrupted'], True)
        copied = [im for im in rep['images'] if im['status'] == 'copied']
        self.assertTrue(copied)
        # Whatever the report says was copied really is on the target.
        for im in copied:
            m = re.match(r'.*/stopped/app(\d+):(\w+)$', im['target'])
            self.assertIsNotNone(m, im)
            i, tag = int(m.group(1)), m.group(2)
            self.assertEqual(skopeo_raw(self.dst, 'stopped/app%d' % i, tag),
                             self.images[(i, tag)]['manifest'])

    def test_stop_leaves_the_rest_not_done(self):
        """On a stop, the images and repositories never started stay
        pending / waiting: the dashboard does not claim they are done and
        the summary says the run stopped before the end."""
        pane, state, report = self.start('halted')
        pane.wait_for(lambda s: re.search(r'Blobs\s+copied [1-9]', s),
                      'a copied blob')
        pane.keys('q')
        pane.wait_for(lambda s: '(y/n)' in s, 'the stop confirmation')
        pane.keys('y')
        self.assertEqual(pane.wait_rc(), 130)  # no further key
        s = pane.wait_for(lambda s: 'Result:' in s, 'the summary')
        self.assertIn('stopped before the end', s)
        self.assertNotRegex(s, r'Repos:\s+%d of %d done' % (N_REPOS, N_REPOS))

    def test_signal_stops_like_q(self):
        """SIGINT (Ctrl-C from another terminal, kill -INT) stops the run
        the way q + y does: the dashboard ends STOPPED, not DONE, and the
        exit code is 130. A warning logged before the dashboard existed
        (the secrets file is readable by others here) is in its pane."""
        pane, state, report = self.start('signalled', secrets_mode=0o644)
        s = pane.wait_for(lambda s: 'holds secrets but is readable' in s,
                          'the early warning in the pane')
        self.assertIn('(mode 0644)', s)
        pane.wait_for(lambda s: re.search(r'Blobs\s+copied [1-9]', s),
                      'a copied blob')
        shell = pane.tmux('display-message', '-p', '#{pane_pid}').strip()
        pids = subprocess.run(['pgrep', '-P', shell], capture_output=True,
                              text=True).stdout.split()
        self.assertEqual(len(pids), 1, pids)
        os.kill(int(pids[0]), signal.SIGINT)
        s = pane.wait_for(lambda s: 'Press any key' in s,
                          'the stopped dashboard')
        self.assertRegex(s.splitlines()[0], r'\bSTOPPED\b')
        self.assertNotRegex(s.splitlines()[0], r'\bDONE\b')
        pane.keys('x')
        self.assertEqual(pane.wait_rc(), 130)
        s = pane.wait_for(lambda s: 'Result:' in s, 'the summary')
        self.assertIn('stopped before the end', s)
        with open(report) as f:
            self.assertIs(json.load(f)['interrupted'], True)


if __name__ == '__main__':
    unittest.main()
