"""Library-level integration tests of registry/ through tests/tools/regtool.

Four registry setups (plain HTTP without auth, htpasswd basic auth, token
auth, TLS with a private CA). In each, images of every manifest kind are
pushed to a source registry, copied with `regtool copy`, and read back with
skopeo: the target bytes (and so the digests) must be identical. Plus tags
and catalog pagination, blob mounts (201 and the 202 fallback), auth
failures that never leak the password, token caching, and redirects that
must not carry credentials to another host.
"""

import hashlib
import http.server
import json
import os
import secrets
import ssl
import sys
import tempfile
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (Registry, RedirectProxy, Unsupported, push_manifest,  # noqa: E402,E501
                     seed_image, sha256_digest, skopeo_raw, skopeo_tags)

class FakePager:
    """A plain-HTTP server paging /v2/fake/repo/tags/list with ?n=&last=
    and relative Link headers. With loop=True the last page links back to
    the first one (the client must stop, not spin). With endless=True every
    page holds n new tags and links to another new page, forever (the
    client's page limit must stop it). pages counts the tag pages served."""

    def __init__(self, tags, loop=False, endless=False):
        self.tags = list(tags)
        self.loop = loop
        self.endless = endless
        self.pages = 0
        self.port = harness.free_port()
        self.host = '127.0.0.1:%d' % self.port
        self.srv = None

    def __enter__(self):
        pager = self

        class Handler(harness.QuietHandler):
            def do_GET(self):
                u = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(u.query)
                if u.path == '/v2/':
                    self._send(200, b'{}', None)
                    return
                if u.path != '/v2/fake/repo/tags/list':
                    self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}',
                               None)
                    return
                pager.pages += 1
                n = int(q.get('n', ['100'])[0])
                last = q.get('last', [None])[0]
                if pager.endless:
                    page = ['e%d-%d' % (pager.pages, i) for i in range(n)]
                    link = '</v2/fake/repo/tags/list?n=%d&last=%s>; ' \
                        'rel="next"' % (n, page[-1])
                    body = json.dumps({'name': 'fake/repo', 'tags': page})
                    self._send(200, body.encode(), link)
                    return
                start = pager.tags.index(last) + 1 if last else 0
                page = pager.tags[start:start + n]
                link = None
                if start + n < len(pager.tags):
                    link = '</v2/fake/repo/tags/list?n=%d&last=%s>; ' \
                        'rel="next"' % (n, page[-1])
                elif pager.loop:
                    link = '</v2/fake/repo/tags/list?n=%d>; rel="next"' % n
                body = json.dumps({'name': 'fake/repo', 'tags': page})
                self._send(200, body.encode(), link)

            def _send(self, status, body, link):
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                if link:
                    self.send_header('Link', link)
                self.end_headers()
                self.wfile.write(body)

        self.srv = harness.serve_http(Handler, self.port)
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()
        return False


_SELF_SIGNED = {}


def self_signed_cert():
    """A self-signed certificate for 127.0.0.1 and localhost, made once with
    `openssl req` (no CA trusts it): (cert, key) paths."""
    if not _SELF_SIGNED:
        d = tempfile.mkdtemp(prefix='it-selfsigned-')
        harness._live.append(harness._TempDir(d))
        cert, key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
        harness.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                     'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
                     '-out', cert, '-days', '1', '-subj', '/CN=localhost',
                     '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'])
        _SELF_SIGNED['pair'] = (cert, key)
    return _SELF_SIGNED['pair']


class FakeReg:
    """A hostile-ish registry double on 127.0.0.1 (plain HTTP or TLS with a
    self-signed certificate) serving repository "r": one OCI manifest whose
    config is BLOB, the blob, a token endpoint /token (grants "tok-123" to
    anyone) and upload sessions. Options (strings may hold "{self}", this
    server's own base URL):
      realm: None = no auth; else /v2/... need "Bearer tok-123" and a 401
             names this realm;
      blob_location / manifest_location / upload_location: answer blob
             GETs / manifest GETs with a 307 there / uploads with 202 there.
    hits: [(method, path, authorization or None)].
    """

    BLOB = b'{"architecture":"amd64","os":"linux","rootfs":{}}'

    def __init__(self, tls=False, realm=None, blob_location=None,
                 manifest_location=None, upload_location=None):
        self.tls = tls
        self.port = harness.free_port()
        self.host = '127.0.0.1:%d' % self.port
        self.base = '%s://%s' % ('https' if tls else 'http', self.host)
        self.realm = realm
        self.blob_location = blob_location
        self.manifest_location = manifest_location
        self.upload_location = upload_location
        self.digest = sha256_digest(self.BLOB)
        self.manifest = json.dumps({
            'schemaVersion': 2,
            'mediaType': harness.MT['oci'],
            'config': {'mediaType': harness.MT['oci_config'],
                       'digest': self.digest, 'size': len(self.BLOB)},
            'layers': []}).encode()
        self.hits = []
        self.srv = None

    def fill(self, s):
        return s.replace('{self}', self.base) if s else s

    def __enter__(self):
        fake = self

        class Handler(harness.QuietHandler):
            protocol_version = 'HTTP/1.1'

            def _send(self, status, body=b'', headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if self.command != 'HEAD':
                    self.wfile.write(body)

            def _any(self):
                n = int(self.headers.get('Content-Length') or 0)
                if n:
                    self.rfile.read(n)
                auth = self.headers.get('Authorization')
                fake.hits.append((self.command, self.path, auth))
                path = self.path.split('?')[0]
                if path == '/token':
                    self._send(200, b'{"token":"tok-123","expires_in":300}',
                               {'Content-Type': 'application/json'})
                    return
                if path == '/storage/blob':
                    self._send(200, fake.BLOB)
                    return
                if fake.realm and auth != 'Bearer tok-123':
                    self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
                        'WWW-Authenticate': 'Bearer realm="%s",service="x"'
                        % fake.fill(fake.realm)})
                    return
                if path == '/v2/':
                    self._send(200, b'{}')
                elif path.startswith('/v2/r/manifests/'):
                    if fake.manifest_location:
                        self._send(307, b'', {'Location': fake.fill(
                            fake.manifest_location)})
                    else:
                        self._send(200, fake.manifest,
                                   {'Content-Type': harness.MT['oci'],
                                    'Docker-Content-Digest':
                                    sha256_digest(fake.manifest)})
                elif path == '/v2/r/blobs/' + fake.digest:
                    if fake.blob_location:
                        self._send(307, b'', {'Location': fake.fill(
                            fake.blob_location)})
                    else:
                        self._send(200, fake.BLOB)
                elif path.startswith('/v2/r/blobs/uploads/'):
                    self._send(202, b'', {'Location': fake.fill(
                        fake.upload_location or '/v2/r/blobs/uploads/s1')})
                else:
                    self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        srv = http.server.ThreadingHTTPServer(('127.0.0.1', self.port),
                                              Handler)
        srv.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self_signed_cert())
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.srv = srv
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()
        return False

    def token_hits(self):
        return [h for h in self.hits if h[1].startswith('/token')]


KINDS = ['v2s2', 'oci', 'list', 'index', 'artifact']
REGTOOL = harness.tool('regtool')


def regtool(args, src=None, dst=None, timeout=120):
    """Runs regtool; passwords of src/dst registries go through the
    environment so they never appear on a command line."""
    env = dict(os.environ)
    env.pop('REGTOOL_SRC_PASS', None)
    env.pop('REGTOOL_DST_PASS', None)
    if src is not None and src.password is not None:
        env['REGTOOL_SRC_PASS'] = src.password
    if dst is not None and dst.password is not None:
        env['REGTOOL_DST_PASS'] = dst.password
    return harness.run([REGTOOL] + args, check=False, env=env,
                       timeout=timeout)


def side_opts(prefix, reg, tls_mode='ca', creds=True):
    """Options for one side: credentials and TLS handling."""
    opts = []
    if creds and reg.username is not None:
        opts += ['--%s-user' % prefix, reg.username]
    if reg.tls and tls_mode == 'ca':
        opts += ['--%s-ca' % prefix, reg.ca_file]
    elif tls_mode == 'insecure' or not reg.tls:
        opts += ['--%s-insecure' % prefix]
    return opts


def stats(proc):
    for line in proc.stderr.decode(errors='replace').splitlines():
        if line.startswith('requests='):
            return int(line.split('=', 1)[1])
    raise AssertionError('no stats line in %r' % proc.stderr)


class RegistryPair(unittest.TestCase):
    AUTH = None
    TLS = False

    @classmethod
    def setUpClass(cls):
        cls.src = Registry(auth=cls.AUTH, tls=cls.TLS)
        cls.dst = Registry(auth=cls.AUTH, tls=cls.TLS)
        try:
            cls.src.start()
            cls.dst.start()
        except BaseException:
            cls.src.stop()
            cls.dst.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.dst.stop()

    def copy_opts(self, tls_mode='ca'):
        return (side_opts('src', self.src, tls_mode) +
                side_opts('dst', self.dst, tls_mode))

    def assertOk(self, proc):
        self.assertEqual(proc.returncode, 0,
                         'regtool failed: %s' % proc.stderr.decode(
                             errors='replace'))

    def copy_all_kinds(self, repo, extra=()):
        """Copies one image of every kind; returns total HTTP requests."""
        total = 0
        for kind in KINDS:
            with self.subTest(kind=kind):
                img = seed_image(self.src, repo, kind, kind=kind)
                p = regtool(list(extra) + ['--stats'] + self.copy_opts() +
                            ['copy', '%s/%s:%s' % (self.src.host, repo, kind),
                             '%s/copied/%s:%s' % (self.dst.host, repo, kind)],
                            src=self.src, dst=self.dst)
                self.assertOk(p)
                total += stats(p)
                self.assertEqual(p.stdout.decode().strip(), img['digest'])
                raw = skopeo_raw(self.dst, 'copied/' + repo, kind)
                self.assertEqual(raw, img['manifest'])
                self.assertEqual(sha256_digest(raw), img['digest'])
                for child in img['children']:
                    self.assertEqual(
                        skopeo_raw(self.dst, 'copied/' + repo, child),
                        skopeo_raw(self.src, repo, child))
        return total


class PlainHTTPTest(RegistryPair):
    """(1) no auth, plain HTTP, client in insecure mode (https probe falls
    back to http)."""

    def test_copy_all_kinds(self):
        self.copy_all_kinds('plain/app')

    def test_v2s1(self):
        try:
            seed_image(self.src, 'plain/old', 'v1', kind='v2s1')
        except Unsupported:
            self.skipTest('distribution 2.8 rejects unsigned schema 1')

    def test_secure_client_refuses_plain_http(self):
        seed_image(self.src, 'plain/secure', 'v1', kind='v2s2')
        p = regtool(['head', '%s/plain/secure:v1' % self.src.host])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'[TLS error]', p.stderr)

    def test_tags_pagination(self):
        img = seed_image(self.src, 'plain/tags', 't0', kind='oci')
        want = ['t0']
        for i in range(1, 5):
            push_manifest(self.src, 'plain/tags', 't%d' % i, img['manifest'],
                          img['media_type'])
            want.append('t%d' % i)
        ref = '%s/plain/tags' % self.src.host
        paged = regtool(['--insecure', '--stats', '--page-size', '2', 'tags',
                         ref])
        whole = regtool(['--insecure', '--stats', 'tags', ref])
        self.assertOk(paged)
        self.assertOk(whole)
        got = sorted(paged.stdout.decode().split())
        self.assertEqual(got, want)
        self.assertEqual(got, skopeo_tags(self.src, 'plain/tags'))
        self.assertEqual(sorted(whole.stdout.decode().split()), want)
        # distribution 2.8 ignores ?n= for tags/list (one page); paging
        # itself is checked against FakePager below.

    def test_tags_pages_from_fake_server(self):
        tags = ['a%d' % i for i in range(7)]
        for loop in (False, True):
            with self.subTest(loop=loop), FakePager(tags, loop) as pager:
                p = regtool(['--insecure', '--page-size', '2', 'tags',
                             '%s/fake/repo' % pager.host])
                self.assertOk(p)
                self.assertEqual(p.stdout.decode().split(), tags)
                self.assertEqual(pager.pages, 4)

    def test_tags_collected(self):
        tags = ['c%d' % i for i in range(7)]
        for loop in (False, True):
            with self.subTest(loop=loop), FakePager(tags, loop) as pager:
                p = regtool(['--insecure', '--collect', '--page-size', '3',
                             'tags', '%s/fake/repo' % pager.host])
                self.assertOk(p)
                self.assertEqual(p.stdout.decode().split(), tags)
                self.assertEqual(pager.pages, 3)

    def test_endless_pages_hit_the_page_limit(self):
        with FakePager([], endless=True) as pager:
            p = regtool(['--insecure', '--page-size', '3', '--max-pages', '5',
                         'tags', '%s/fake/repo' % pager.host], timeout=60)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b'[limit exceeded]', p.stderr)
            self.assertIn(b'more than 5 pages', p.stderr)
            # The five pages before the limit were delivered, one by one.
            got = p.stdout.decode().split()
            self.assertEqual(len(got), 15)
            self.assertEqual(got[:3], ['e1-0', 'e1-1', 'e1-2'])
            self.assertEqual(p.stderr.count(b'page '), 5)
            self.assertEqual(pager.pages, 5)

    def test_tags_limit(self):
        tags = ['l%d' % i for i in range(7)]
        with FakePager(tags) as pager:
            ref = '%s/fake/repo' % pager.host
            p = regtool(['--insecure', '--page-size', '2', '--max-tags', '5',
                         'tags', ref])
            self.assertEqual(p.returncode, 1)
            self.assertIn(b'[limit exceeded]', p.stderr)
            self.assertIn(b'more than 5 tags', p.stderr)
            # Pages of 2: the third page would make 6, so it is not
            # delivered; the first two are.
            self.assertEqual(p.stdout.decode().split(), tags[:4])
            p = regtool(['--insecure', '--page-size', '2', '--max-tags', '7',
                         'tags', ref])
            self.assertOk(p)
            self.assertEqual(p.stdout.decode().split(), tags)

    def test_blob_copy_redirect_schemes(self):
        """reg_blob_copy follows source redirects itself: another scheme is
        refused by name, an upper-case HTTP:// is http (issue 10, 9)."""
        with FakeReg() as fake:
            n = 0
            for loc, ok in (('file:///etc/passwd', False),
                            ('gopher://127.0.0.1:70/_x', False),
                            ('HTTP://%s/storage/blob' % fake.host, True)):
                with self.subTest(loc=loc):
                    n += 1
                    fake.blob_location = loc
                    p = regtool(['--src-insecure', '--dst-insecure', 'copy',
                                 '%s/r:v1' % fake.host,
                                 '%s/schemes%d/r:v1' % (self.dst.host, n)])
                    if ok:
                        self.assertOk(p)
                        self.assertEqual(
                            skopeo_raw(self.dst, 'schemes%d/r' % n, 'v1'),
                            fake.manifest)
                    else:
                        self.assertEqual(p.returncode, 1)
                        self.assertIn(b'unsupported redirect', p.stderr)
                        self.assertIn(loc.split(':')[0].encode(), p.stderr)

    def test_smuggling_media_type_refused(self):
        """Issue 10 (1): a source manifest whose mediaType holds CR LF (a
        smuggled request) fails the copy; the target receives nothing."""
        with FakeReg() as fake:
            m = json.loads(fake.manifest)
            m['mediaType'] = (harness.MT['oci'] + '\r\nContent-Length: 0'
                              '\r\n\r\nDELETE /v2/plain/app/manifests/oci '
                              'HTTP/1.1\r\nHost: x')
            fake.manifest = json.dumps(m).encode()
            p = regtool(['--src-insecure', '--dst-insecure', 'copy',
                         '%s/r:v1' % fake.host,
                         '%s/smuggle/r:v1' % self.dst.host])
            self.assertEqual(p.returncode, 1)
            self.assertIn(b'not a valid media type', p.stderr)
            self.assertNotIn(b'DELETE', p.stderr)
            p = regtool(['--insecure', 'tags',
                         '%s/smuggle/r' % self.dst.host])
            self.assertIn(b'[not found]', p.stderr)

    def test_tags_of_missing_repo(self):
        p = regtool(['--insecure', 'tags', '%s/plain/nothing' % self.src.host])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'[not found]', p.stderr)

    def test_catalog_pagination(self):
        with Registry() as reg:
            repos = ['cat/r%d' % i for i in range(5)]
            for r in repos:
                seed_image(reg, r, 'v1', kind='artifact')
            paged = regtool(['--insecure', '--stats', '--page-size', '2',
                             'catalog', reg.host])
            whole = regtool(['--insecure', '--stats', 'catalog', reg.host])
            self.assertOk(paged)
            self.assertOk(whole)
            self.assertEqual(paged.stdout.decode().split(), repos)
            self.assertEqual(whole.stdout.decode().split(), repos)
            self.assertGreaterEqual(stats(paged) - stats(whole), 2)

    def test_mount(self):
        img = seed_image(self.src, 'mnt/a', 'v1', kind='v2s2')
        layer = img['blobs'][-1]
        ref = '%s/mnt/b@%s' % (self.src.host, layer)
        p = regtool(['--insecure', 'exists', ref])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'[not found]', p.stderr)
        p = regtool(['--insecure', 'mount', ref, 'mnt/a'])
        self.assertOk(p)
        self.assertEqual(p.stdout.strip(), b'mounted')
        p = regtool(['--insecure', 'exists', ref])
        self.assertOk(p)
        self.assertGreater(int(p.stdout), 0)

    def test_mount_fallback_cancels_session(self):
        seed_image(self.src, 'mnt/c', 'v1', kind='artifact')
        missing = sha256_digest(secrets.token_bytes(32))
        p = regtool(['--insecure', 'mount',
                     '%s/mnt/d@%s' % (self.src.host, missing), 'mnt/c'])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'[not found]', p.stderr)
        self.assertIn(b'202', p.stderr)
        uploads = os.path.join(self.src.dir, 'storage', 'docker', 'registry',
                               'v2', 'repositories', 'mnt', 'd', '_uploads')
        # distribution 2.8 keeps hash states of a cancelled session but
        # deletes its "data" and "startedat" files.
        left = [f for _, _, files in os.walk(uploads) for f in files
                if f in ('data', 'startedat')]
        self.assertEqual(left, [], 'the 202 upload session was not deleted')

    def test_head_get_upload_blob(self):
        img = seed_image(self.src, 'misc/x', 'v1', kind='index')
        p = regtool(['--insecure', 'head', '%s/misc/x:v1' % self.src.host])
        self.assertOk(p)
        digest, mt, size = p.stdout.decode().split()
        self.assertEqual(digest, img['digest'])
        self.assertEqual(mt, img['media_type'])
        self.assertEqual(int(size), len(img['manifest']))
        p = regtool(['--insecure', 'get',
                     '%s/misc/x@%s' % (self.src.host, img['digest'])])
        self.assertOk(p)
        self.assertEqual(p.stdout, img['manifest'])
        p = regtool(['--insecure', 'head', '%s/misc/x:nope' % self.src.host])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'[not found]', p.stderr)

        data = harness.make_layer(99, 200 * 1024)
        path = os.path.join(self.src.dir, 'upload.bin')
        with open(path, 'wb') as f:
            f.write(data)
        p = regtool(['--insecure', 'upload', '%s/misc/up' % self.dst.host,
                     path])
        self.assertOk(p)
        digest = p.stdout.decode().strip()
        self.assertEqual(digest, sha256_digest(data))
        p = regtool(['--insecure', 'blob',
                     '%s/misc/up@%s' % (self.dst.host, digest)])
        self.assertOk(p)
        self.assertEqual(hashlib.sha256(p.stdout).hexdigest(),
                         digest.split(':')[1])


class BasicAuthTest(RegistryPair):
    """(2) htpasswd basic auth."""
    AUTH = 'basic'

    def test_copy_all_kinds(self):
        self.copy_all_kinds('basic/app')

    def test_wrong_password(self):
        seed_image(self.src, 'basic/wrong', 'v1', kind='artifact')
        secret = 'wr0ng-' + secrets.token_hex(8)
        env_reg = Registry.__new__(Registry)
        env_reg.password = secret
        for cmd in (['head', '%s/basic/wrong:v1' % self.src.host],
                    ['tags', '%s/basic/wrong' % self.src.host]):
            p = regtool(['--insecure', '--user', self.src.username] + cmd,
                        src=env_reg)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b'[unauthorized]', p.stderr)
            self.assertIn(self.src.username.encode(), p.stderr)
            self.assertNotIn(secret.encode(), p.stderr + p.stdout)

    def test_no_credentials(self):
        seed_image(self.src, 'basic/anon', 'v1', kind='artifact')
        p = regtool(['--insecure', 'head', '%s/basic/anon:v1' % self.src.host])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'[unauthorized]', p.stderr)

    def test_redirect_drops_credentials(self):
        img = seed_image(self.src, 'redir/app', 'v1', kind='v2s2')
        with RedirectProxy(self.src) as proxy:
            layer = img['blobs'][-1]
            p = regtool(['--insecure', '--user', self.src.username, 'blob',
                         '%s/redir/app@%s' % (proxy.host, layer)],
                        src=self.src)
            self.assertOk(p)
            self.assertEqual(sha256_digest(p.stdout), layer)
            p = regtool(['--stats'] + side_opts('src', self.src) +
                        side_opts('dst', self.dst) +
                        ['copy', '%s/redir/app:v1' % proxy.host,
                         '%s/redir/copy:v1' % self.dst.host],
                        src=self.src, dst=self.dst)
            self.assertOk(p)
            self.assertEqual(skopeo_raw(self.dst, 'redir/copy', 'v1'),
                             img['manifest'])
            self.assertGreater(len(proxy.store_hits), 1)
            for hit in proxy.store_hits:
                self.assertFalse(hit['authorization'],
                                 'credentials sent to %s' % hit['path'])


class TokenAuthTest(RegistryPair):
    """(3) token auth through the harness's token server."""
    AUTH = 'token'

    def test_copy_all_kinds_reuses_tokens(self):
        before = self.src.token_server.count() + self.dst.token_server.count()
        requests = self.copy_all_kinds('tok/app')
        tokens = (self.src.token_server.count() +
                  self.dst.token_server.count() - before)
        self.assertGreater(tokens, 0, 'no token was requested')
        # Each copy needs a token per scope, not per request.
        self.assertLessEqual(tokens * 4, requests,
                             'tokens=%d requests=%d' % (tokens, requests))
        seen = [r for r in self.dst.token_server.requests
                if any(s.endswith(':pull,push') for s in r['scopes'])]
        self.assertTrue(seen, 'no push scope was requested from the target')

    def test_wrong_password(self):
        seed_image(self.src, 'tok/wrong', 'v1', kind='artifact')
        secret = 'wr0ng-' + secrets.token_hex(8)
        env_reg = Registry.__new__(Registry)
        env_reg.password = secret
        p = regtool(['--insecure', '--user', self.src.username, 'head',
                     '%s/tok/wrong:v1' % self.src.host], src=env_reg)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'[unauthorized]', p.stderr)
        self.assertNotIn(secret.encode(), p.stderr + p.stdout)

    def test_catalog_scope(self):
        seed_image(self.src, 'tok/cat', 'v1', kind='artifact')
        p = regtool(['--insecure', '--user', self.src.username, 'catalog',
                     self.src.host], src=self.src)
        self.assertOk(p)
        self.assertIn('tok/cat', p.stdout.decode().split())


class TLSTest(RegistryPair):
    """(4) TLS with a private CA."""
    TLS = True

    def test_copy_all_kinds_with_ca(self):
        self.copy_all_kinds('tls/app')

    def test_without_ca_fails(self):
        seed_image(self.src, 'tls/noca', 'v1', kind='artifact')
        p = regtool(['head', '%s/tls/noca:v1' % self.src.host])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'[TLS error]', p.stderr)

    def test_insecure_skips_verification(self):
        img = seed_image(self.src, 'tls/insecure', 'v1', kind='oci')
        p = regtool(self.copy_opts(tls_mode='insecure') +
                    ['copy', '%s/tls/insecure:v1' % self.src.host,
                     '%s/tls/insecure:v1' % self.dst.host])
        self.assertOk(p)
        self.assertEqual(skopeo_raw(self.dst, 'tls/insecure', 'v1'),
                         img['manifest'])


class InsecureScopeTest(unittest.TestCase):
    """Issue 10 (6): `insecure` covers the registry's own host:port only. A
    token realm or a blob redirect to another host (here "localhost" for a
    registry at 127.0.0.1) is verified normally; a realm may not downgrade
    https to http; basic credentials go to a realm on another host only over
    https. Issue 10 (9): redirects to other schemes are refused by name and
    an upper-case HTTP:// scheme is http."""

    USER = 'alice'
    PASSWORD = 'pw-' + secrets.token_hex(6)

    def run_tool(self, fake, args, user=True):
        env_reg = Registry.__new__(Registry)
        env_reg.password = self.PASSWORD if user else None
        opts = ['--insecure'] + (['--user', self.USER] if user else [])
        p = regtool(opts + args, src=env_reg, timeout=60)
        self.assertNotIn(self.PASSWORD.encode(), p.stdout + p.stderr)
        return p

    def get(self, fake, user=True):
        return self.run_tool(fake, ['get', '%s/r:v1' % fake.host], user)

    def assertFails(self, p, *needles):
        self.assertEqual(p.returncode, 1, p.stderr)
        for n in needles:
            self.assertIn(n.encode(), p.stderr)

    def test_realm_on_own_host_port_is_insecure_too(self):
        with FakeReg(tls=True, realm='{self}/token') as reg:
            p = self.get(reg)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, reg.manifest)
            self.assertTrue(reg.token_hits())

    def test_realm_on_other_host_is_verified(self):
        with FakeReg(tls=True) as tok, \
                FakeReg(tls=True, realm='https://localhost:%d/token'
                        % 0) as reg:
            reg.realm = 'https://localhost:%d/token' % tok.port
            p = self.get(reg)
            self.assertFails(p, '[TLS error]', 'token request')
            # The handshake failed: no request, so no credentials, arrived.
            self.assertEqual(tok.hits, [])

    def test_realm_downgrade_refused(self):
        with FakeReg() as tok, FakeReg(tls=True) as reg:
            for host in ('localhost', '127.0.0.1'):
                with self.subTest(host=host):
                    reg.realm = 'http://%s:%d/token' % (host, tok.port)
                    for user in (True, False):
                        p = self.get(reg, user)
                        self.assertFails(p, '[unauthorized]', 'downgrade')
            self.assertEqual(tok.hits, [])

    def test_basic_credentials_to_other_host_only_over_https(self):
        with FakeReg() as tok, FakeReg() as reg:
            reg.realm = 'http://localhost:%d/token' % tok.port
            p = self.get(reg)
            self.assertFails(p, '[unauthorized]', 'https required',
                             self.USER)
            self.assertEqual(tok.hits, [])
            # Anonymous: nothing to protect, the token is fetched.
            p = self.get(reg, user=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(len(tok.token_hits()), 1)
            self.assertIsNone(tok.token_hits()[0][2])
            # Same host, plain http (the harness's token server): allowed.
            reg.realm = '{self}/token'
            p = self.get(reg)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(reg.token_hits()[-1][2].startswith('Basic '))

    def test_blob_redirect_to_other_host_is_verified(self):
        with FakeReg(tls=True) as cdn, FakeReg(tls=True) as reg:
            blob = '%s/r@%s' % (reg.host, reg.digest)
            reg.blob_location = 'https://localhost:%d/storage/blob' % cdn.port
            p = self.run_tool(reg, ['blob', blob])
            self.assertFails(p, '[TLS error]')
            self.assertEqual(cdn.hits, [])
            # The same store reached as the registry's own host:port.
            reg.blob_location = '{self}/storage/blob'
            p = self.run_tool(reg, ['blob', blob])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, reg.BLOB)

    def test_redirect_schemes(self):
        with FakeReg() as reg:
            blob = '%s/r@%s' % (reg.host, reg.digest)
            for loc, scheme in (('file:///etc/passwd', 'file'),
                                ('FTP://127.0.0.1/x', 'FTP'),
                                ('gopher://127.0.0.1:70/_x', 'gopher')):
                with self.subTest(loc=loc):
                    reg.blob_location = loc
                    p = self.run_tool(reg, ['blob', blob], user=False)
                    self.assertFails(p, 'unsupported redirect',
                                     '"%s"' % scheme)
                    reg.blob_location = None
                    reg.manifest_location = loc
                    p = self.get(reg, user=False)
                    self.assertFails(p, 'unsupported redirect',
                                     '"%s"' % scheme)
                    reg.manifest_location = None
            # An upper-case scheme is http, on the registry, followed.
            reg.blob_location = 'HTTP://%s/storage/blob' % reg.host
            p = self.run_tool(reg, ['blob', blob], user=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, reg.BLOB)
            self.assertIn(('GET', '/storage/blob', None), reg.hits)
            # A Location with a control byte or space is not followed.
            reg.blob_location = '/storage/blob x'
            p = self.run_tool(reg, ['blob', blob], user=False)
            self.assertFails(p, 'control character or space')

    def test_upload_location_scheme(self):
        path = os.path.join(tempfile.mkdtemp(prefix='it-up-'), 'f')
        with open(path, 'wb') as f:
            f.write(b'data')
        with FakeReg(upload_location='file:///tmp/x') as reg:
            p = self.run_tool(reg, ['upload', '%s/r' % reg.host, path],
                              user=False)
            self.assertFails(p, 'unsupported redirect', '"file"')
            self.assertFalse([h for h in reg.hits if h[1].startswith('file')
                              or h[0] == 'PUT'])


if __name__ == '__main__':
    if not os.path.exists(REGTOOL):
        print('regtool not built at %s' % REGTOOL)
        sys.exit(1)
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    print('\nsummary: %d run, %d failures, %d errors, %d skipped'
          % (r.testsRun, len(r.failures), len(r.errors), len(r.skipped)))
    sys.exit(0 if r.wasSuccessful() else 1)
