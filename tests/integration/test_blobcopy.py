"""Integration tests of reg_blob_copy (registry/blobcopy.c) through
tests/tools/blobtool, against real docker-registry processes and small
python fakes (a source that serves wrong bytes, a redirecting source).

Environment: BUILD_DIR (blobtool at $BUILD_DIR/tests/blobtool).
"""

import base64
import hashlib
import http.client
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOOL_TIMEOUT = 120
MiB = 1024 * 1024
# Distinctive passwords, so that finding one in the output means a leak.
SRC_USERS = {"alice": "Src-Secret-7f3a91"}
DST_USERS = {"bob": "Dst-Secret-0c55e2"}


def blobtool():
    return harness.tool("blobtool")


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def stream_request(reg, method, path, body=None, headers=None):
    """A plain-HTTP request whose response is read by the caller, for
    bodies too big to hold in memory (anonymous, non-TLS registries only).
    Returns (connection, response); the caller closes the connection."""
    assert reg.auth is None and not reg.tls
    host, port = reg.host.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    return conn, conn.getresponse()


def head_blob(reg, repo, digest):
    status, _, _ = reg.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest),
                               scope="repository:%s:pull" % repo)
    return status


def get_blob(reg, repo, digest):
    status, _, data = reg.request("GET", "/v2/%s/blobs/%s" % (repo, digest),
                                  scope="repository:%s:pull" % repo)
    if status != 200:
        raise AssertionError("GET blob %s: HTTP %d" % (digest, status))
    return data


def hash_remote_blob(reg, repo, digest):
    """Streams a blob and returns (sha256 digest, size) of what came back."""
    conn, resp = stream_request(reg, "GET",
                                "/v2/%s/blobs/%s" % (repo, digest))
    try:
        if resp.status != 200:
            raise AssertionError("GET blob %s: HTTP %d" % (digest,
                                                         resp.status))
        h = hashlib.sha256()
        n = 0
        while True:
            piece = resp.read(MiB)
            if not piece:
                break
            h.update(piece)
            n += len(piece)
        return "sha256:" + h.hexdigest(), n
    finally:
        conn.close()


def push_file(reg, repo, path):
    """Uploads a file as a blob with a streaming PUT (never in memory);
    returns (digest, size)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            piece = f.read(MiB)
            if not piece:
                break
            h.update(piece)
            size += len(piece)
    digest = "sha256:" + h.hexdigest()
    conn, resp = stream_request(reg, "POST", "/v2/%s/blobs/uploads/" % repo)
    status, headers = resp.status, dict(resp.getheaders())
    resp.read()
    conn.close()
    assert status == 202, status
    loc = headers.get("Location") or headers.get("location")
    u = urllib.parse.urlsplit(loc)
    sep = "&" if u.query else "?"
    path_q = u.path + ("?" + u.query if u.query else "") + sep + \
        urllib.parse.urlencode({"digest": digest})
    with open(path, "rb") as f:
        conn, resp = stream_request(reg, "PUT", path_q, body=f, headers={
            "Content-Length": str(size),
            "Content-Type": "application/octet-stream"})
        status, body = resp.status, resp.read()
        conn.close()
    assert status == 201, (status, body)
    return digest, size


def write_random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 4 * MiB)
            f.write(os.urandom(n))
            left -= n


def is_sanitized(binary):
    if os.environ.get("IT_SANITIZE", "").upper() in ("1", "ON", "TRUE"):
        return True
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def run_tool(args, env_extra=None, want_rusage=False):
    """Runs blobtool; returns (exit code, stdout, stderr, rusage|None).
    With want_rusage the child is reaped with os.wait4 so its own peak RSS
    is measured (not that of other children such as registries)."""
    env = dict(os.environ)
    for k in ("SRC_USER", "SRC_PASS", "DST_USER", "DST_PASS"):
        env.pop(k, None)
    env.update(env_extra or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([blobtool()] + [str(a) for a in args],
                             stdout=out, stderr=err, env=env)
        rusage = None
        try:
            if want_rusage:
                timer = threading.Timer(TOOL_TIMEOUT, p.kill)
                timer.start()
                try:
                    _, status, rusage = os.wait4(p.pid, 0)
                finally:
                    timer.cancel()
                p.returncode = os.waitstatus_to_exitcode(status)
            else:
                p.wait(timeout=TOOL_TIMEOUT)
        finally:
            if p.returncode is None:
                p.kill()
                p.wait()
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"), rusage)


def creds_env(src, dst):
    env = {}
    if getattr(src, "username", None):
        env.update(SRC_USER=src.username, SRC_PASS=src.password)
    if getattr(dst, "username", None):
        env.update(DST_USER=dst.username, DST_PASS=dst.password)
    return env


def copy(src, src_repo, dst, dst_repo, digest, size, *extra, **kw):
    args = ["copy", src.host, src_repo, dst.host, dst_repo, digest, size,
            "--insecure"] + list(extra)
    return run_tool(args, creds_env(src, dst), **kw)


# ------------------------------------------------------------- fake sources

class FakeSource:
    """A tiny registry look-alike serving `data` for any
    GET /v2/<repo>/blobs/<digest>. Options:
      length=False  close-delimited body (no Content-Length)
      redirect_to   answer blob GETs with 307 to this base URL + path
      basic         (user, password) required on /v2/ paths
    Records the headers of every request in .seen."""

    def __init__(self, data=b"", length=True, redirect_to=None, basic=None):
        self.data = data
        self.length = length
        self.redirect_to = redirect_to
        self.basic = basic
        self.seen = []
        fake = self

        class Handler(harness.QuietHandler):
            protocol_version = "HTTP/1.1"

            def _authorized(self):
                if fake.basic is None:
                    return True
                want = "Basic " + base64.b64encode(
                    ("%s:%s" % fake.basic).encode()).decode()
                if self.headers.get("Authorization") == want:
                    return True
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="fake"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False

            def _serve(self, body):
                fake.seen.append((self.command, self.path,
                                  dict(self.headers.items())))
                if not self._authorized():
                    return
                if self.path in ("/v2/", "/v2"):
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    if body:
                        self.wfile.write(b"{}")
                    return
                if "/blobs/" not in self.path:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fake.redirect_to is not None:
                    self.send_response(307)
                    self.send_header("Location",
                                     fake.redirect_to + "/storage" + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if fake.length:
                    self.send_header("Content-Length", str(len(fake.data)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if body:
                    self.wfile.write(fake.data)

            def do_GET(self):
                self._serve(True)

            def do_HEAD(self):
                self._serve(False)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        self.username = basic[0] if basic else None
        self.password = basic[1] if basic else None
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# -------------------------------------------------------------------- tests

class BlobCopyTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.src = harness.Registry()
        cls.dst = harness.Registry()
        cls.src.__enter__()
        try:
            cls.dst.__enter__()
        except BaseException:
            cls.src.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.dst.__exit__(None, None, None)
        cls.src.__exit__(None, None, None)

    def assert_copied(self, dst, repo, digest, data):
        self.assertEqual(head_blob(dst, repo, digest), 200)
        got = get_blob(dst, repo, digest)
        self.assertEqual(sha(got), digest)
        self.assertEqual(got, data)

    def test_small_and_medium_blobs(self):
        cases = [
            ("empty", b""),
            ("one-byte", b"x"),
            ("layer", harness.make_layer(1, 20000)),
            # larger than the ring and a curl buffer, not a multiple of them
            ("medium", os.urandom(3 * MiB + 12345)),
        ]
        for name, data in cases:
            with self.subTest(name=name):
                digest = harness.push_blob(self.src, "lib/src", data)
                self.assertEqual(digest, sha(data))
                rc, out, err, _ = copy(self.src, "lib/src", self.dst,
                                       "team/dst-" + name, digest, len(data),
                                       "--buffer", 65536)
                self.assertEqual(rc, 0, out + err)
                self.assertIn("copied %s %d" % (digest, len(data)), out)
                self.assert_copied(self.dst, "team/dst-" + name, digest, data)

    def test_unknown_size_uses_chunked_encoding(self):
        data = os.urandom(700 * 1024 + 3)
        digest = harness.push_blob(self.src, "lib/nosize", data)
        rc, out, err, _ = copy(self.src, "lib/nosize", self.dst, "nosize",
                               digest, -1)
        self.assertEqual(rc, 0, out + err)
        self.assert_copied(self.dst, "nosize", digest, data)

    def test_large_blob_bounded_memory(self):
        size = 192 * MiB + 7
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "big.bin")
            write_random_file(path, size)
            digest, n = push_file(self.src, "big/src", path)
            os.unlink(path)
        self.assertEqual(n, size)
        rc, out, err, ru = copy(self.src, "big/src", self.dst, "big/dst",
                                digest, size, "--buffer", 256 * 1024,
                                want_rusage=True)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(hash_remote_blob(self.dst, "big/dst", digest),
                         (digest, size))
        peak_kib = ru.ru_maxrss  # kilobytes on Linux
        if is_sanitized(blobtool()):
            print("sanitized build: peak RSS %d KiB not checked" % peak_kib,
                  file=sys.stderr)
        else:
            self.assertLess(peak_kib, 48 * 1024,
                            "blobtool peak RSS %d KiB for a %d byte blob"
                            % (peak_kib, size))

    def test_wrong_digest_refused_and_upload_cancelled(self):
        real = os.urandom(2 * MiB + 99)
        declared = sha(b"something else entirely")
        for length in (True, False):
            with self.subTest(content_length=length), \
                    FakeSource(real, length=length) as fake:
                rc, out, err, _ = copy(fake, "any/repo", self.dst, "wrongdig",
                                       declared, len(real))
                self.assertEqual(rc, 3, out + err)
                self.assertIn(declared, out)
                self.assertIn(sha(real), out)
                self.assertEqual(head_blob(self.dst, "wrongdig", declared),
                                 404)
                self.assertEqual(head_blob(self.dst, "wrongdig", sha(real)),
                                 404)

    def test_size_mismatch_refused(self):
        data = os.urandom(MiB + 5)
        digest = harness.push_blob(self.src, "lib/sized", data)
        # Real registry: Content-Length disagrees with the descriptor.
        for declared in (len(data) - 1, len(data) + 1):
            with self.subTest(source="registry", declared=declared):
                rc, out, err, _ = copy(self.src, "lib/sized", self.dst,
                                       "sized", digest, declared)
                self.assertEqual(rc, 3, out + err)
                self.assertIn("size", out)
                self.assertEqual(head_blob(self.dst, "sized", digest), 404)
        # No Content-Length: caught while streaming (too many bytes) and at
        # the end (too few), with the right digest declared.
        with FakeSource(data, length=False) as fake:
            for declared in (len(data) - 100, len(data) + 100):
                with self.subTest(source="fake", declared=declared):
                    rc, out, err, _ = copy(fake, "x/y", self.dst, "sized2",
                                           digest, declared)
                    self.assertEqual(rc, 3, out + err)
                    self.assertEqual(head_blob(self.dst, "sized2", digest),
                                     404)

    def test_chunked_upload(self):
        data = os.urandom(3 * MiB + 4321)
        digest = harness.push_blob(self.src, "lib/chunky", data)
        rc, out, err, _ = copy(self.src, "lib/chunky", self.dst, "chunky",
                               digest, len(data), "--chunk-threshold", MiB,
                               "--chunk-size", 256 * 1024, "--trace")
        self.assertEqual(rc, 0, out + err)
        self.assert_copied(self.dst, "chunky", digest, data)
        patches = [ln for ln in err.splitlines()
                   if ln.startswith("http dst PATCH ")]
        chunks = (len(data) + 256 * 1024 - 1) // (256 * 1024)
        self.assertEqual(len(patches), chunks, err)
        self.assertTrue(all(ln.endswith(" 202") for ln in patches), err)
        self.assertEqual(len([ln for ln in err.splitlines()
                              if ln.startswith("http dst PUT ")]), 1, err)

    def test_below_threshold_is_monolithic(self):
        data = os.urandom(512 * 1024)
        digest = harness.push_blob(self.src, "lib/mono", data)
        rc, out, err, _ = copy(self.src, "lib/mono", self.dst, "mono",
                               digest, len(data), "--chunk-threshold", MiB,
                               "--chunk-size", 256 * 1024, "--trace")
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("PATCH", err)
        self.assert_copied(self.dst, "mono", digest, data)

    def test_missing_source_blob(self):
        digest = sha(b"never pushed")
        rc, out, err, _ = copy(self.src, "lib/src", self.dst, "missing",
                               digest, 12)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("error -2 ", out)  # REG_ENOTFOUND
        self.assertEqual(head_blob(self.dst, "missing", digest), 404)

    def test_cancel(self):
        data = os.urandom(8 * MiB)
        digest = harness.push_blob(self.src, "lib/cancel", data)
        rc, out, err, _ = copy(self.src, "lib/cancel", self.dst, "cancel",
                               digest, len(data), "--buffer", 65536,
                               "--cancel-after", MiB)
        self.assertEqual(rc, 4, out + err)
        self.assertEqual(head_blob(self.dst, "cancel", digest), 404)

    def test_basic_auth_both_sides(self):
        with harness.Registry(auth="basic", users=SRC_USERS) as src, \
                harness.Registry(auth="basic", users=DST_USERS) as dst:
            data = harness.make_layer(7, 300000)
            digest = harness.push_blob(src, "auth/src", data)
            rc, out, err, _ = copy(src, "auth/src", dst, "auth/dst", digest,
                                   len(data), "--trace")
            self.assertEqual(rc, 0, out + err)
            self.assert_copied(dst, "auth/dst", digest, data)
            for secret in (src.password, dst.password):
                self.assertNotIn(secret, out + err)
            # Wrong target password: an auth error, not a retry.
            env = creds_env(src, dst)
            env["DST_PASS"] = "wrong-password"
            rc, out, err, _ = run_tool(
                ["copy", src.host, "auth/src", dst.host, "auth/dst2", digest,
                 len(data), "--insecure"], env)
            self.assertEqual(rc, 1, out + err)
            self.assertIn("error -3 ", out)  # REG_EAUTH
            self.assertNotIn("wrong-password", out + err)

    def test_token_auth_and_tls(self):
        with harness.Registry(auth="token", tls=True,
                              users=SRC_USERS) as src, \
                harness.Registry(auth="token", tls=True,
                                 users=DST_USERS) as dst:
            data = harness.make_layer(11, 1500000)
            digest = harness.push_blob(src, "tok/src", data)
            # Chunked too, so several PATCHes each carry the bearer token.
            rc, out, err, _ = run_tool(
                ["copy", src.host, "tok/src", dst.host, "tok/dst", digest,
                 len(data), "--ca-file", src.ca_file, "--chunk-threshold",
                 MiB, "--chunk-size", 512 * 1024, "--trace"],
                creds_env(src, dst))
            self.assertEqual(rc, 0, out + err)
            self.assertIn("https://", err)
            self.assert_copied(dst, "tok/dst", digest, data)
            for secret in (src.password, dst.password):
                self.assertNotIn(secret, out + err)

    def test_redirect_drops_credentials(self):
        data = os.urandom(300 * 1024)
        with FakeSource(data) as storage, \
                FakeSource(redirect_to="http://" + storage.host,
                           basic=("alice", "s3cret-pw")) as front:
            rc, out, err, _ = copy(front, "re/dir", self.dst, "redir",
                                   sha(data), len(data))
            self.assertEqual(rc, 0, out + err)
            self.assert_copied(self.dst, "redir", sha(data), data)
            blob_gets = [s for s in front.seen
                         if s[0] == "GET" and "/blobs/" in s[1]]
            self.assertTrue(any("Authorization" in s[2] for s in blob_gets),
                            "the registry itself gets the credentials")
            storage_gets = [s for s in storage.seen if s[0] == "GET"]
            self.assertTrue(storage_gets)
            for s in storage_gets:
                self.assertNotIn("Authorization", s[2])
                self.assertTrue(s[1].startswith("/storage/v2/re/dir/blobs/"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
