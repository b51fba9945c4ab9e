"""The dashboard under tmux: what a person sees while a (simulated) migration
runs and after it ends, at 120x40 and after a resize to 80x24; the filter,
failed-only and detail views; q + y stops gracefully (exit 130); the final
summary lands on the normal screen; NO_COLOR and a non-UTF-8 locale.

tuidemo (tests/tools/tuidemo.c) feeds the progress model from a thread, so
this exercises the dashboard independently of the engine. Every wait is a
bounded poll of capture-pane; the tmux server is killed in finally.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

BUILD_DIR = os.environ.get("BUILD_DIR", "build")
TUIDEMO = os.path.join(BUILD_DIR, "tests", "tuidemo")
DEADLINE = 20.0  # seconds for any one thing to appear
# An SGR sequence that sets a foreground or background colour.
COLOR_SGR = (r"\x1b\[(?:\d+;)*(?:3[0-7]|4[0-7]|9[0-7]|38;5;\d+|48;5;\d+)"
             r"(?:;\d+)*m")


class Pane:
    """One detached tmux session on a private server socket."""

    def __init__(self, cmd, width=120, height=40, env=None):
        self.tmp = tempfile.mkdtemp(prefix="it-tui-")
        self.sock = "it-tui-%d-%d" % (os.getpid(), int(time.time() * 1e6))
        self.rc_file = os.path.join(self.tmp, "rc")
        envs = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": ""}
        envs.update(env or {})
        assign = " ".join("%s=%s" % (k, v) for k, v in envs.items())
        # The wrapper records the exit status and keeps the pane open so
        # the normal screen (the summary) can be captured afterwards.
        shell = "env %s %s; echo $? > %s; sleep 600" % (
            assign, cmd, self.rc_file)
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", str(width),
                  "-y", str(height), shell)

    def tmux(self, *args):
        # The server socket lives in our temp dir, removed in close().
        env = dict(os.environ, LANG="C.UTF-8", TMUX_TMPDIR=self.tmp)
        env.pop("TMUX", None)
        return subprocess.run(["tmux", "-L", self.sock] + list(args),
                              check=True, capture_output=True, text=True,
                              env=env, timeout=10).stdout

    def capture(self):
        return self.tmux("capture-pane", "-p")

    def capture_escapes(self):
        return self.tmux("capture-pane", "-p", "-e")

    def keys(self, *keys):
        self.tmux("send-keys", *keys)

    def text(self, s):
        self.tmux("send-keys", "-l", s)

    def wait_for(self, pred, what, deadline=DEADLINE):
        """Polls the pane until pred(screen) is true; returns the screen."""
        end = time.monotonic() + deadline
        screen = ""
        while time.monotonic() < end:
            screen = self.capture()
            if pred(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s; screen:\n%s" %
                             (what, screen))

    def wait_rc(self, deadline=DEADLINE):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                with open(self.rc_file) as f:
                    data = f.read().strip()
                if data:
                    return int(data)
            except FileNotFoundError:
                pass
            time.sleep(0.1)
        raise AssertionError("the program did not exit; screen:\n" +
                             self.capture())

    def close(self):
        try:
            self.tmux("kill-server")
        except Exception:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def rows_of(screen):
    """Table rows: lines that end with a repository state word."""
    return [l for l in screen.splitlines()
            if re.search(r"\b(waiting|listing|copying|done|failed|skipped)"
                         r"(\s+\S.*)?$", l) and re.match(r"^[> ] \S", l)]


class TuiTest(unittest.TestCase):
    def setUp(self):
        if not shutil.which("tmux"):
            self.skipTest("tmux not installed")
        if not os.path.exists(TUIDEMO):
            self.fail("tuidemo not built at " + TUIDEMO)

    def test_run_to_the_end_then_summary(self):
        pane = Pane("%s --repos 30 --fail 2 --duration-ms 4000" % TUIDEMO)
        try:
            # While it runs: header, totals, rows and progress bars.
            s = pane.wait_for(lambda s: "image-transfer" in s and
                              "Images" in s and len(rows_of(s)) >= 5,
                              "the running dashboard")
            lines = s.splitlines()
            self.assertIn("generic", lines[0])
            self.assertRegex(lines[0], r"elapsed \d\d:\d\d:\d\d")
            self.assertIn("registry.source.example:5000", s)
            self.assertRegex(s, r"Images\s+[\d,]+/[\d,]+\+? done")
            self.assertRegex(s, r"Blobs\s+copied \d+")
            self.assertIn("REPOSITORY", s)
            self.assertIn("█", s)  # a progress bar, UTF-8 blocks
            self.assertTrue(any(re.search(r"\d+/\d+", r)
                                for r in rows_of(s)))
            # stderr output lands in the messages pane, not on the screen.
            s = pane.wait_for(lambda s: "libdemo: stray message" in s,
                              "the stderr line in the messages pane")
            self.assertRegex(s, r"(?m)^ ! libdemo: stray message on stderr")
            # The end: phase done, every row final, the dashboard stays.
            s = pane.wait_for(lambda s: "Press any key" in s,
                              "the finished dashboard")
            self.assertRegex(s.splitlines()[0], r"DONE")
            self.assertRegex(s, r"Images\s+\d+/\d+ done .*failed 2")
            self.assertIn("100%", s)
            for r in rows_of(s):
                self.assertRegex(r, r"(done|failed|skipped)(\s+\S.*)?$")
            self.assertTrue(rows_of(s)[0].rstrip().endswith("failed") or
                            "failed" in rows_of(s)[0])  # failed rows first
            # It stays until a key is pressed.
            time.sleep(0.5)
            self.assertIn("Press any key", pane.capture())
            self.assertFalse(os.path.exists(pane.rc_file))
            pane.keys("x")
            self.assertEqual(pane.wait_rc(), 1)  # images failed
            s = pane.wait_for(lambda s: "Result:" in s, "the summary")
            self.assertIn("finished with failures (2 of", s)
            self.assertRegex(s, r"Images:\s+\d+ copied, \d+ skipped, "
                                r"2 failed, \d+ total")
            self.assertIn("Failed:", s)
            self.assertNotIn("Press any key", s)  # normal screen restored
        finally:
            pane.close()

    def test_resize_filter_detail_and_stop(self):
        pane = Pane("%s --repos 200 --fail 20 --duration-ms 120000 "
                    "--mode ccrToTcr" % TUIDEMO)
        try:
            s = pane.wait_for(lambda s: "Namespaces" in s and
                              len(rows_of(s)) >= 10 and "failed 1" in s,
                              "the CCR dashboard with a failure")
            self.assertIn("CCR → TCR", s.splitlines()[0])
            self.assertIn("tcr-demo123, Running", s)
            self.assertIn("2 created", s)

            pane.tmux("resize-window", "-x", "80", "-y", "24")
            s = pane.wait_for(
                lambda s: len(s.splitlines()) <= 24 and
                "of 200" in s.splitlines()[-1] if s.splitlines() else False,
                "the redrawn 80x24 screen")
            lines = s.splitlines()
            self.assertLessEqual(len(lines), 24)
            for l in lines:
                self.assertLessEqual(len(l), 80, "too wide: %r" % l)
                self.assertNotIn("\x1b", l)
            self.assertRegex(lines[0], r"^ image-transfer .*CCR → TCR")
            self.assertRegex(lines[0], r"elapsed \d\d:\d\d:\d\d\s*$")
            self.assertIn("Images", s)
            self.assertIn("REPOSITORY", s)
            self.assertGreaterEqual(len(rows_of(s)), 5)
            self.assertRegex(lines[-1], r"q stop")

            # "/" filters by name (source or target).
            pane.keys("/")
            pane.text("nginx")
            pane.keys("Enter")
            s = pane.wait_for(lambda s: "[filter: nginx]" in s and
                              rows_of(s) and
                              all("nginx" in r for r in rows_of(s)),
                              "rows filtered by 'nginx'")
            self.assertFalse(any("redis" in r for r in rows_of(s)))
            pane.keys("Escape")
            s = pane.wait_for(lambda s: "[filter" not in s and
                              any("nginx" not in r for r in rows_of(s)),
                              "the filter cleared")

            # "f" shows failed rows only.
            pane.keys("f")
            s = pane.wait_for(lambda s: "failed only" in s and rows_of(s),
                              "failed rows only")
            for r in rows_of(s):
                self.assertIn("failed", r)

            # Enter opens the detail view of the selected repository.
            pane.keys("Enter")
            s = pane.wait_for(lambda s: "Repository" in s and "TAG" in s and
                              "STATUS" in s, "the detail view")
            self.assertRegex(s, r"\bv1\.\d+\.\d+\b.*failed")
            self.assertIn("Esc back", s)
            pane.keys("Escape")
            pane.wait_for(lambda s: "REPOSITORY" in s, "back to the list")
            pane.keys("f")

            # "?" shows the help; any key closes it.
            pane.keys("?")
            pane.wait_for(lambda s: "filter repositories by name" in s,
                          "the help")
            pane.keys("x")
            pane.wait_for(lambda s: "filter repositories by name" not in s,
                          "the help closed")

            # q asks; n cancels; q + y stops after the images in flight.
            pane.keys("q")
            pane.wait_for(lambda s: "Stop after the images in flight? (y/n)"
                          in s, "the stop confirmation")
            pane.keys("n")
            pane.wait_for(lambda s: "(y/n)" not in s, "the dialog closed")
            self.assertFalse(os.path.exists(pane.rc_file))
            pane.keys("q")
            pane.wait_for(lambda s: "(y/n)" in s, "the confirmation again")
            pane.keys("y")
            # No further key: the dashboard leaves by itself once the run
            # has stopped, and the summary is on the normal screen.
            self.assertEqual(pane.wait_rc(), 130)
            s = pane.wait_for(lambda s: "Result:" in s, "the summary")
            self.assertIn("stopped before the end", s)
            self.assertNotIn("Press any key", s)
            self.assertNotIn("REPOSITORY", s)  # the dashboard is gone
        finally:
            pane.close()

    def test_no_color_and_ascii_locale(self):
        # With colour (the control): colour SGR sequences appear.
        pane = Pane("%s --repos 20 --duration-ms 3000" % TUIDEMO)
        try:
            pane.wait_for(lambda s: len(rows_of(s)) >= 3, "rows")
            esc = pane.capture_escapes()
            self.assertRegex(esc, COLOR_SGR)
        finally:
            pane.close()
        pane = Pane("%s --repos 20 --duration-ms 3000 --exit-on-done" %
                    TUIDEMO, env={"NO_COLOR": "1", "LANG": "C", "LC_ALL": "C"})
        try:
            s = pane.wait_for(lambda s: len(rows_of(s)) >= 3 and "#" in s,
                              "rows with ASCII bars")
            esc = pane.capture_escapes()
            self.assertNotRegex(esc, COLOR_SGR)
            self.assertNotIn("█", s)
            self.assertIn("->", s.splitlines()[1])
            # --exit-on-done: no key needed.
            self.assertEqual(pane.wait_rc(), 0)
            s = pane.wait_for(lambda s: "Result:" in s, "the summary")
            self.assertIn("Result:  success", s)
        finally:
            pane.close()


if __name__ == "__main__":
    unittest.main()
