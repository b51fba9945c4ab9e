"""Resume inside a blob (registry/blobcopy.c), through tests/tools/blobtool
and tests/fakes/fault_proxy.py in front of real docker-registry processes.

- A source GET cut mid-body continues with "Range: bytes=N-" (checked 206
  and Content-Range); a source that ignores Range is read again in full
  (the bytes already held are skipped); a 206 with a wrong Content-Range
  fails the copy cleanly.
- A broken upload asks the session what the target holds and continues
  with PATCH; a session that is gone is replaced by a new one.
- image-transfer killed (-9) mid-upload: the journal holds the open
  session and the offset the target confirmed; the rerun continues it,
  re-reading the source prefix (not uploading it again).

Bytes are counted at the proxy (what crossed the wire), never from the
tool's own counters; the target's blob is read back and hashed.
"""

import gzip
import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ.get('TESTS_DIR',
                                               os.path.dirname(HERE)),
                                'fakes'))
import harness  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from test_blobcopy import (copy, hash_remote_blob, head_blob,  # noqa: E402
                           push_file, write_random_file)

MiB = 1024 * 1024
SIZE = 24 * MiB + 12345  # not a multiple of anything the code uses
CHUNKED = ('--chunk-threshold', MiB, '--chunk-size', 4 * MiB)


def blob_gets(log):
    return [e for e in log
            if e['method'] == 'GET' and '/blobs/sha256:' in e['path']]


def uploads(log):
    return [e for e in log if e['method'] in ('PUT', 'PATCH') and
            '/blobs/uploads/' in e['path']]


class ResumeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = harness.Registry()
        cls.dst = harness.Registry()
        cls.src.__enter__()
        try:
            cls.dst.__enter__()
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, 'blob.bin')
                write_random_file(path, SIZE)
                cls.digest, n = push_file(cls.src, 'lib/big', path)
            assert n == SIZE
        except BaseException:
            cls.dst.__exit__(None, None, None)
            cls.src.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dst.__exit__(None, None, None)
        cls.src.__exit__(None, None, None)

    def assert_landed(self, repo):
        self.assertEqual(hash_remote_blob(self.dst, repo, self.digest),
                         (self.digest, SIZE))

    def copy_via(self, src, dst, repo, *extra):
        return copy(src, 'lib/big', dst, repo, self.digest, SIZE, *extra)

    # ---------------------------------------------------------- source side

    def test_source_cut_resumes_with_range(self):
        with FaultProxy(self.src.host) as p:
            p.set_rules([{'method': 'GET', 'path': r'/blobs/sha256:',
                          'action': 'cut', 'after_bytes': 18 * MiB,
                          'times': 1}])
            rc, out, err, _ = self.copy_via(p, self.dst, 'src/cut')
            log = p.log()
        self.assertEqual(rc, 0, out + err)
        self.assert_landed('src/cut')
        gets = blob_gets(log)
        self.assertEqual(len(gets), 2, gets)
        self.assertEqual(gets[0]['damaged'], 'cut')
        self.assertIsNone(gets[0]['range'])
        start = int(gets[1]['range'].split('=')[1].rstrip('-'))
        self.assertGreater(start, 0)
        self.assertLessEqual(start, gets[0]['bytes'])
        self.assertEqual(gets[1]['status'], 206)
        served = sum(e['bytes'] for e in gets)
        self.assertLess(served - SIZE, SIZE // 10,
                        'bytes read again after the cut: %d' % (served - SIZE))

    def test_source_ignoring_range_is_read_in_full(self):
        with FaultProxy(self.src.host) as p:
            p.set_rules([{'method': 'GET', 'path': r'/blobs/sha256:',
                          'action': 'cut', 'after_bytes': 10 * MiB,
                          'times': 1},
                         {'method': 'GET', 'path': r'/blobs/sha256:',
                          'action': 'norange'}])
            rc, out, err, _ = self.copy_via(p, self.dst, 'src/norange')
            log = p.log()
        self.assertEqual(rc, 0, out + err)
        self.assert_landed('src/norange')
        gets = blob_gets(log)
        self.assertEqual(len(gets), 2, gets)
        self.assertIsNotNone(gets[1]['range'])  # asked ...
        self.assertEqual(gets[1]['status'], 200)  # ... and ignored
        self.assertEqual(gets[1]['bytes'], SIZE)

    def test_source_bad_content_range_fails_cleanly(self):
        data = os.urandom(3 * MiB + 7)
        digest = 'sha256:' + hashlib.sha256(data).hexdigest()
        for name, answer in [
                ('overlapping', lambda n: (n - 1, len(data) - 1, len(data))),
                ('beyond', lambda n: (n, len(data), len(data) + 1)),
                ('other-size', lambda n: (n, len(data) - 1, len(data) + 5)),
                ('right', lambda n: (n, len(data) - 1, len(data)))]:
            with self.subTest(answer=name), CutSource(data, answer) as fake:
                rc, out, err, _ = copy(fake, 'x/y', self.dst, 'cr/' + name,
                                       digest, len(data))
                if name == 'right':
                    self.assertEqual(rc, 0, out + err)
                    self.assertEqual(hash_remote_blob(self.dst, 'cr/' + name,
                                                      digest),
                                     (digest, len(data)))
                else:
                    self.assertEqual(rc, 1, out + err)
                    self.assertIn('Content-Range', out)
                    self.assertEqual(head_blob(self.dst, 'cr/' + name,
                                               digest), 404)
                self.assertEqual(fake.ranges[0], None)
                self.assertEqual(fake.ranges[1], 'bytes=%d-' % fake.cut_at)

    # ---------------------------------------------------------- target side

    def test_target_lost_patch_resumes_with_patch(self):
        # The 4th PATCH never reaches the registry (a front proxy that
        # buffers request bodies, as in front of Harbor/TCR): the session
        # still holds 3 chunks, the copy continues from there.
        with FaultProxy(self.dst.host) as p:
            p.set_rules([{'method': 'PATCH', 'path': r'/blobs/uploads/',
                          'action': 'lose_request', 'after_bytes': 3 * MiB,
                          'nth': 4}])
            rc, out, err, _ = self.copy_via(self.src, p, 'dst/lost',
                                            *CHUNKED)
            log = p.log()
        self.assertEqual(rc, 0, out + err)
        self.assert_landed('dst/lost')
        posts = [e for e in log if e['method'] == 'POST']
        self.assertEqual(len(posts), 1, 'a new session was opened')
        asks = [e for e in log if e['method'] == 'GET' and
                '/blobs/uploads/' in e['path']]
        self.assertEqual([e['status'] for e in asks], [204])
        up = uploads(log)
        self.assertEqual(up[3]['damaged'], 'lose_request')
        self.assertEqual(up[4]['method'], 'PATCH')
        sent = sum(e['req_bytes'] for e in up)
        self.assertLess(sent, 1.3 * SIZE, 'uploaded %d bytes' % sent)

    def test_target_session_gone_opens_new_one(self):
        # Part of the 3rd PATCH reaches the registry: distribution then
        # refuses the session (its size no longer matches the signed
        # state) and cancels it: a new session, from byte 0.
        with FaultProxy(self.dst.host) as p:
            p.set_rules([{'method': 'PATCH', 'path': r'/blobs/uploads/',
                          'action': 'cut_request', 'after_bytes': MiB,
                          'nth': 3}])
            rc, out, err, _ = self.copy_via(self.src, p, 'dst/gone',
                                            *CHUNKED)
            log = p.log()
        self.assertEqual(rc, 0, out + err)
        self.assert_landed('dst/gone')
        posts = [e for e in log if e['method'] == 'POST']
        self.assertEqual(len(posts), 2, log)
        asks = [e for e in log if e['method'] == 'GET' and
                '/blobs/uploads/' in e['path']]
        self.assertEqual(len(asks), 1)
        self.assertIn(asks[0]['status'], (400, 404))

    def test_target_monolithic_put_broken(self):
        for action in ('lose_request', 'cut_request'):
            with self.subTest(action=action), \
                    FaultProxy(self.dst.host) as p:
                p.set_rules([{'method': 'PUT', 'path': r'/blobs/uploads/',
                              'action': action, 'after_bytes': 20 * MiB,
                              'times': 1}])
                repo = 'dst/mono-' + action.replace('_', '-')
                rc, out, err, _ = self.copy_via(self.src, p, repo)
                log = p.log()
            self.assertEqual(rc, 0, out + err)
            self.assert_landed(repo)
            puts = [e for e in log if e['method'] == 'PUT']
            self.assertEqual(len(puts), 2, log)


class RoundTripTest(unittest.TestCase):
    """Fewer round trips per blob: the mount request is the upload start
    (a refused mount's 202 session is used, no second POST), and the
    source GET is sent before the upload POST."""

    @classmethod
    def setUpClass(cls):
        cls.src = harness.Registry().start()
        cls.dst = harness.Registry().start()
        cls.data = os.urandom(3 * MiB + 5)
        cls.digest = harness.push_blob(cls.src, 'lib/rt', cls.data)
        harness.push_blob(cls.dst, 'has/it', cls.data)

    @classmethod
    def tearDownClass(cls):
        cls.dst.stop()
        cls.src.stop()

    def run_copy(self, dst_repo, *extra):
        with FaultProxy(self.src.host) as ps, FaultProxy(self.dst.host) as pd:
            rc, out, err, _ = copy(ps, 'lib/rt', pd, dst_repo, self.digest,
                                   len(self.data), *extra)
            return rc, out + err, ps.log(), pd.log()

    def test_mount_honoured_reads_nothing(self):
        rc, out, src_log, dst_log = self.run_copy('rt/mounted',
                                                  '--mount-from', 'has/it')
        self.assertEqual(rc, 0, out)
        self.assertIn('mounted ' + self.digest, out)
        self.assertEqual([(e['method'], e['status']) for e in dst_log
                          if '/blobs/' in e['path']], [('POST', 201)])
        self.assertIn('mount=', dst_log[-1]['path'])
        self.assertEqual(blob_gets(src_log), [])
        self.assertEqual(head_blob(self.dst, 'rt/mounted', self.digest), 200)

    def test_refused_mount_is_the_upload_start(self):
        rc, out, src_log, dst_log = self.run_copy('rt/refused',
                                                  '--mount-from', 'nothing/here')
        self.assertEqual(rc, 0, out)
        self.assertIn('copied ' + self.digest, out)
        calls = [(e['method'], e['status']) for e in dst_log
                 if '/blobs/' in e['path']]
        self.assertEqual(calls, [('POST', 202), ('PUT', 201)])
        self.assertEqual(len(blob_gets(src_log)), 1)
        self.assertEqual(hash_remote_blob(self.dst, 'rt/refused',
                                          self.digest),
                         (self.digest, len(self.data)))

    def test_upload_post_made_while_the_source_answer_travels(self):
        # The source holds its answer until the upload POST has reached
        # the target (at most 30 s): sequential code (GET answer, then
        # POST) would only get its answer at that bound.
        with FaultProxy(self.dst.host) as pd:
            def posted():
                return any(e['method'] == 'POST' for e in pd.log())
            with GatedSource(self.data, posted) as fake:
                rc, out, err, _ = copy(fake, 'lib/rt', pd, 'rt/concurrent',
                                       self.digest, len(self.data))
                opened = fake.opened_first
            log = pd.log()
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(opened, [True])
        self.assertEqual([(e['method'], e['status']) for e in log
                          if '/blobs/' in e['path']],
                         [('POST', 202), ('PUT', 201)])


class GatedSource:
    """A source registry look-alike that answers a blob GET only once
    gate() is true (polled, at most 30 s), recording whether it was."""

    def __init__(self, data, gate):
        self.data = data
        self.opened_first = []
        fake = self

        class Handler(harness.QuietHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self):
                if '/blobs/' in self.path:
                    for _ in range(600):
                        if gate():
                            break
                        time.sleep(0.05)
                    fake.opened_first.append(bool(gate()))
                    body = fake.data
                else:
                    body = b''
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._handler = Handler

    def __enter__(self):
        self.port = harness.free_port()
        self.host = '127.0.0.1:%d' % self.port
        self.srv = harness.serve_http(self._handler, self.port)
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


class CutSource:
    """A source registry look-alike: the first blob GET is cut after a
    third of the body; a GET with Range answers 206 with the Content-Range
    answer(start) -> (first, last, total) and the bytes from start."""

    def __init__(self, data, answer):
        self.data = data
        self.answer = answer
        self.cut_at = len(data) // 3
        self.ranges = []
        fake = self

        class Handler(harness.QuietHandler):
            protocol_version = 'HTTP/1.1'

            def handle(self):
                try:
                    super().handle()
                except ConnectionError:
                    pass  # the client gave up on a bad answer

            def do_GET(self):
                if self.path in ('/v2/', '/v2'):
                    self.send_response(200)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                rng = self.headers.get('Range')
                fake.ranges.append(rng)
                data = fake.data
                if rng is None:
                    self.send_response(200)
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:fake.cut_at])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                start = int(rng.split('=')[1].rstrip('-'))
                first, last, total = fake.answer(start)
                body = data[first:last + 1]
                self.send_response(206)
                self.send_header('Content-Range', 'bytes %d-%d/%d' %
                                 (first, last, total))
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._handler = Handler

    def __enter__(self):
        self.port = harness.free_port()
        self.host = '127.0.0.1:%d' % self.port
        self.srv = harness.serve_http(self._handler, self.port)
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


class KillTest(unittest.TestCase):
    """kill -9 of image-transfer in the middle of a large blob's upload,
    then a rerun with the same state dir. The target sits behind the fault
    proxy, whose "stall" rule holds the 5th PATCH (4 confirmed chunks of
    4 MiB) after 2 MiB without forwarding it, like a front proxy that
    buffers request bodies (nginx in front of Harbor/TCR); the test kills
    the process once the journal has recorded the 4 chunks."""

    CHUNK = 4 * MiB

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='it-resume-')
        self.src = harness.Registry().start()
        self.dst = harness.Registry().start()
        self.layer = gzip.compress(os.urandom(SIZE), compresslevel=1)
        self.digest = 'sha256:' + hashlib.sha256(self.layer).hexdigest()
        harness.seed_image(self.src, 'app/big', 'v1', layers=[self.layer],
                           seed=77)
        self.proxy = FaultProxy(self.dst.host).start()

    def tearDown(self):
        self.proxy.stop()
        self.src.stop()
        self.dst.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def args(self):
        secrets = ('%s:\n  insecure: true\n%s:\n  insecure: true\n'
                   % (self.src.host, self.proxy.host))
        rules = '%s/app/big: %s/app/big\n' % (self.src.host, self.proxy.host)
        for name, text in (('secret.yaml', secrets), ('rule.yaml', rules)):
            with open(os.path.join(self.dir, name), 'w') as f:
                f.write(text)
        return [harness.binary(),
                '--securityFile', os.path.join(self.dir, 'secret.yaml'),
                '--ruleFile', os.path.join(self.dir, 'rule.yaml'),
                '--state-dir', os.path.join(self.dir, 'state'),
                '--no-tui', '--qps=0', '--routines=2', '--retry=0']

    def env(self):
        e = dict(os.environ)
        e.pop('DEFAULT_REGISTRY', None)
        e.pop('DEFAULT_NAMESPACE', None)
        e['HOME'] = self.dir
        e['IT_RESUME_MIN_BYTES'] = str(MiB)
        e['IT_RESUME_CHUNK_BYTES'] = str(self.CHUNK)
        return e

    def recorded(self):
        """(url, held) of the journal's upload session row, or None."""
        path = os.path.join(self.dir, 'state', 'journal.db')
        if not os.path.exists(path):
            return None
        db = sqlite3.connect('file:%s?mode=ro' % path, uri=True, timeout=5)
        try:
            return db.execute('SELECT url, held FROM uploads').fetchone()
        except sqlite3.OperationalError:
            return None  # the table is not there yet
        finally:
            db.close()

    def test_kill_9_mid_upload_then_rerun_continues(self):
        self.proxy.set_rules([{'method': 'PATCH', 'path': r'/blobs/uploads/',
                               'action': 'stall', 'after_bytes': 2 * MiB,
                               'nth': 5}])
        with tempfile.TemporaryFile() as out:
            p = subprocess.Popen(self.args(), stdout=out, stderr=out,
                                 env=self.env())
            try:
                row = None
                for _ in range(600):  # bounded: at most ~60 s
                    row = self.recorded()
                    stalled = [e for e in self.proxy.log()
                               if e['damaged'] == 'stall']
                    if stalled and row and row[1] == 4 * self.CHUNK:
                        break
                    self.assertIsNone(p.poll(), 'ended before the stall')
                    time.sleep(0.1)
                self.assertEqual(row[1], 4 * self.CHUNK, row)
                self.assertTrue(row[0].startswith(
                    'http://%s/v2/app/big/blobs/uploads/' % self.proxy.host),
                    row)
                p.kill()
            finally:
                if p.poll() is None:
                    p.kill()
                p.wait()
            self.assertEqual(p.returncode, -9)
        first = self.proxy.log()
        self.proxy.set_rules([])
        self.proxy.clear_log()
        r = subprocess.run(self.args(), capture_output=True, env=self.env(),
                           timeout=300)
        err = r.stderr.decode(errors='replace')
        self.assertEqual(r.returncode, 0, err)
        log = self.proxy.log()
        asks = [e for e in log if e['method'] == 'GET' and
                '/blobs/uploads/' in e['path']]
        self.assertEqual([e['status'] for e in asks], [204], log)
        self.assertEqual(len([e for e in log if e['method'] == 'POST' and
                              '/blobs/uploads/' in e['path']]), 0, log)
        sent = sum(e['req_bytes'] for e in uploads(log))
        self.assertLess(sent, 0.5 * len(self.layer),
                        'rerun uploaded %d bytes' % sent)
        self.assertGreater(sum(e['req_bytes'] for e in uploads(first)),
                           4 * self.CHUNK)
        self.assertIsNone(self.recorded())  # landed: the row is gone
        # skopeo, reading the target directly, checks the layer's bytes.
        d = os.path.join(self.dir, 'copy')
        harness.run(['skopeo', 'copy', '--src-tls-verify=false',
                     'docker://%s/app/big:v1' % self.dst.host, 'dir:' + d],
                    timeout=120)
        with open(os.path.join(d, self.digest.split(':')[1]), 'rb') as f:
            got = f.read()
        self.assertEqual(hashlib.sha256(got).hexdigest(),
                         self.digest.split(':')[1])
        self.assertEqual(got, self.layer)


if __name__ == '__main__':
    unittest.main()
