"""tcfake.py - runs the fake Tencent Cloud API (tests/fakes/fake_tc_api.py)
for an integration test: a child process on a free loopback port serving
one account fixture, with its /__calls and /__state control endpoints.
close() always kills it and removes its temp dir.
"""
import http.client
import json
import os
import select
import subprocess
import sys
import tempfile

TESTS_DIR = os.environ.get(
    'TESTS_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              '..'))
FAKE = os.path.join(TESTS_DIR, 'fakes', 'fake_tc_api.py')


def load_fixture(name='tc-e2e-account.json'):
    """An account fixture from tests/fixtures (a fresh dict each call)."""
    with open(os.path.join(TESTS_DIR, 'fixtures', name),
              encoding='utf-8') as f:
        return json.load(f)


class FakeTC:
    """The fake API serving `fixture` (a dict, written to a temp file).
    endpoint: "http://127.0.0.1:PORT". Raises RuntimeError when the fake
    does not say LISTENING within 15 s."""

    def __init__(self, fixture, prefix='tcfake-', own_session=False):
        self.dir = tempfile.TemporaryDirectory(prefix=prefix)
        path = os.path.join(self.dir.name, 'account.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(fixture, f)
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, '--fixture', path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=own_session)  # see harness.Registry
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if ready else ''
        if not line.startswith('LISTENING '):
            self.close()
            raise RuntimeError('fake did not start: %r' % line)
        self.port = int(line.split()[1])
        self.endpoint = 'http://127.0.0.1:%d' % self.port

    def control(self, method, path, body=None):
        """A call to a control endpoint; the decoded JSON answer."""
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data)
            return json.loads(conn.getresponse().read() or b'null')
        finally:
            conn.close()

    def calls(self, action=None):
        """The API calls received so far, optionally of one action."""
        return [c for c in self.control('GET', '/__calls')
                if action is None or c['action'] == action]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for s in (self.proc.stdout, self.proc.stderr):
            if s:
                s.close()
        self.dir.cleanup()
