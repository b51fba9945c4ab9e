#!/usr/bin/env python3
"""hostile_registry.py - a hostile source registry for the tests of issue 10.

A Docker Registry v2 double (Python 3 stdlib, threaded, 127.0.0.1 only)
that serves real, valid image data for honest repositories (a config and
gzip tar layers with correct digests and sizes) and, for each repository
under "hostile/", one of the attacks a registry the operator does not
control can make. The case is chosen by the repository name:

  hostile/crlf-mediatype   manifest whose mediaType holds CR LF, an injected
                           header and a smuggled "DELETE /v2/<repo>/
                           manifests/<digest>" (set_smuggle() names it)
  hostile/ctl-content-type manifest without mediaType whose Content-Type
                           header holds a bare CR and an injected header
  hostile/esc-tags         tag list with terminal escapes and a newline +
                           fake "Result: success" in tag names; the one
                           plain tag ("ok") answers 404 with escapes in the
                           error body
  hostile/esc-digest       tag v1: a manifest whose layer digest holds
                           ESC ]0;..BEL, ESC [2J and "\\nResult: success";
                           HEAD answers an escaped Docker-Content-Digest
  hostile/endless          tag pages that never end: every page holds
                           `endless_page` (10,000) new tags and a Link to
                           the next; their manifests are 404
  hostile/size-max         tag v1: a layer size of INT64_MAX
  hostile/size-neg         tag v1: a layer size of -1
  hostile/size-2p53        tag v1: a layer size of 2^53 + 1
  hostile/size-sum         tag v1: two layers of 2^62 bytes each (sum
                           overflows int64)
  hostile/many-layers      tag v1: `many_layers` (20,000) layer descriptors,
                           a quarter of them duplicates (blobs not served)
  hostile/huge-layers      tag v1: a manifest of about `huge_bytes` (16 MB,
                           just under the tool's manifest cap) of compact
                           layer descriptors with distinct digests (built on
                           first request)
  hostile/reflect          tags raw, b64, url, urlplus, header: a 404 whose
                           error message reflects the credentials the
                           request carried (raw password, base64 of
                           user:password, URL-encoded password, the whole
                           Authorization value); tag passwd: a 404 saying
                           "/etc/passwd: <marker>" (harmless text)
  hostile/redir-blob-file       blob GETs redirect to file:///etc/passwd
  hostile/redir-blob-upper      blob GETs redirect to HTTP://127.0.0.1:
                                <store>/store/blobs/<digest> (upper case)
  hostile/redir-manifest-file   manifest GET/HEAD redirect to file://
  hostile/redir-manifest-upper  manifest GET/HEAD redirect to HTTP://...
  hostile/redir-loop-blob       blob GETs redirect to themselves
  hostile/redir-loop-manifest   manifest GET/HEADs redirect to themselves
  hostile/wrong-bytes      tag v1: a layer served with one byte flipped
                           (right length, wrong digest)
  hostile/bad-names        tag list of names that are paths, queries,
                           percent-escapes: none may become a URL

Every hostile image except where noted references real blobs, so a tool
that does not stop the attack goes on as far as it can.

Authentication (constructor `auth`): None (open), "basic" (401 Basic until
an Authorization: Basic header arrives; `users` checked when given) or
"bearer" (401 with a Bearer challenge to `realm`, default this server's own
/token; any "Bearer hostile-token-..." is accepted). The /token endpoint
answers {"token", "expires_in": `expires_in`} and records each call.

A second "store" server on another port serves /store/blobs/<digest> and
/store/manifests/<digest> (the targets of the upper-case redirects) and
records whether an Authorization header reached it. TokenRealm is a
stand-alone token server (optionally TLS) that records what it got, for
realms on another host. TcpRecorder is a byte-level TCP relay that records
everything a client sent to an upstream (for "what did the target really
receive": injected headers, smuggled requests).

In process:

    with HostileRegistry() as h:
        h.add_image('honest/app', 'v1')
        ... rules: h.host + '/hostile/esc-tags' ...
        h.requests()      # [{'server','method','path','headers'}]

Stand-alone:

    hostile_registry.py [--port N] [--auth basic|bearer] [--image REPO:TAG]
        [--expires-in N] [--smuggle HOST,REPO,DIGEST] [--tls-cert F
        --tls-key F]
    prints "LISTENING <port> STORE <store port>"; SIGTERM/SIGINT stop it.
"""

import argparse
import base64
import gzip
import hashlib
import http.server
import io
import json
import random
import re
import signal
import socket
import ssl
import sys
import tarfile
import threading
import time
import urllib.parse

__all__ = ['HostileRegistry', 'TokenRealm', 'TcpRecorder', 'make_layer',
           'sha256_digest', 'MT_OCI', 'MT_OCI_CONFIG', 'MT_OCI_LAYER',
           'INJECT_HEADER', 'FORGED_HEADER', 'ESCAPES']

MT_OCI = 'application/vnd.oci.image.manifest.v1+json'
MT_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
MT_OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'
MT_V2S2 = 'application/vnd.docker.distribution.manifest.v2+json'

# Names the tests look for in what the target received.
INJECT_HEADER = 'X-Injected'
FORGED_HEADER = 'X-Forged'
# The control sequences the escape cases carry.
ESC_TITLE = '\x1b]0;pwned\x07'
ESC_CLEAR = '\x1b[2J'
FAKE_RESULT = '\nResult: success'
ESCAPES = ESC_TITLE + ESC_CLEAR + FAKE_RESULT

INT64_MAX = 2 ** 63 - 1
HANDLER_TIMEOUT = 30  # a stuck client never pins a thread for long


def sha256_digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def make_layer(seed, size):
    """A real tar.gz of `size` pseudo-random bytes, the same for the same
    seed and size."""
    rnd = random.Random(seed)
    payload = rnd.randbytes(size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo('data/blob-%d.bin' % seed)
        info.size = len(payload)
        info.mtime = 0
        info.mode = 0o644
        t.addfile(info, io.BytesIO(payload))
    return gzip.compress(buf.getvalue(), compresslevel=1, mtime=0)


def _error_body(code, message):
    return json.dumps({'errors': [{'code': code, 'message': message,
                                   'detail': None}]}).encode()


class _Server(http.server.ThreadingHTTPServer):
    """Threaded server; with `tls` (an SSLContext) each connection does its
    handshake in its own thread, so a client that fails it (or never
    finishes) cannot block the accept loop."""
    daemon_threads = True
    allow_reuse_address = True
    tls = None
    owner = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        pass  # failed handshakes and resets are expected here


def _make_server(port, handler):
    """A _Server on 127.0.0.1:port; port 0 = any free port but 5000 (the
    registry's usual one, which a test machine may be using)."""
    for _ in range(20):
        srv = _Server(('127.0.0.1', port), handler)
        if port or srv.server_address[1] != 5000:
            return srv
        srv.server_close()
    raise RuntimeError('no free port')


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    timeout = HANDLER_TIMEOUT
    server_version = 'hostile-registry/1'
    # Buffered: the head and body of an answer leave in one write (with
    # separate small writes, Nagle and delayed ACKs cost 40 ms a request).
    wbufsize = 256 * 1024

    def log_message(self, *args):
        pass

    def setup(self):
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(HANDLER_TIMEOUT)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self.request.close()
                raise
        super().setup()

    def send(self, status, body=b'', headers=None, content_type=None):
        """One whole answer with Content-Length (HEAD: no body)."""
        self.send_response(status)
        if content_type is not None:
            self.send_header('Content-Type', content_type)
        for k, v in (headers or []):
            self.send_header(k, v)
        self.send_header('Docker-Distribution-Api-Version', 'registry/2.0')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD' and body:
            self.wfile.write(body)

    def drain(self):
        n = int(self.headers.get('Content-Length') or 0)
        while n > 0:
            data = self.rfile.read(min(n, 65536))
            if not data:
                break
            n -= len(data)


# ----------------------------------------------------------------- tokens

class _TokenIssuer:
    """Issues opaque tokens and records each request."""

    def __init__(self, expires_in=300):
        self.expires_in = expires_in
        self.lock = threading.Lock()
        self.calls = []
        self.n = 0

    def answer(self, handler):
        u = urllib.parse.urlparse(handler.path)
        q = urllib.parse.parse_qs(u.query)
        with self.lock:
            self.n += 1
            n = self.n
            self.calls.append({
                'path': handler.path,
                'authorization': handler.headers.get('Authorization'),
                'scopes': q.get('scope', []),
                'service': q.get('service', [None])[0]})
        now = time.time()
        body = json.dumps({
            'token': 'hostile-token-%d' % n,
            'access_token': 'hostile-token-%d' % n,
            'expires_in': self.expires_in,
            'issued_at': time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                       time.gmtime(now)),
        }).encode()
        handler.send(200, body, content_type='application/json')

    def count(self):
        with self.lock:
            return len(self.calls)

    def requests(self):
        with self.lock:
            return [dict(c) for c in self.calls]


class TokenRealm:
    """A token server on its own port (another "host" for the client),
    plain or TLS (tls=(certfile, keyfile)); records every request that
    arrived (a request that never got past the TLS handshake is not one).
    realm: the URL to put in a Bearer challenge."""

    def __init__(self, tls=None, expires_in=300, port=0):
        self.issuer = _TokenIssuer(expires_in)
        self.tls = tls
        self._want_port = port
        self._srv = None
        self.port = None
        self.realm = None
        self.connections = 0  # accepted, whether TLS then failed or not

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        realm = self

        class Handler(_Handler):
            def setup(self):
                with realm.issuer.lock:
                    realm.connections += 1
                super().setup()

            def do_GET(self):
                if self.path.split('?')[0] == '/token':
                    realm.issuer.answer(self)
                else:
                    self.send(404, b'{}', content_type='application/json')

        srv = _make_server(self._want_port, Handler)
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls[0], self.tls[1])
            srv.tls = ctx
        self._srv = srv
        self.port = srv.server_address[1]
        self.realm = '%s://127.0.0.1:%d/token' % (
            'https' if self.tls else 'http', self.port)
        threading.Thread(target=srv.serve_forever,
                         kwargs={'poll_interval': 0.1}, daemon=True).start()
        return self

    def stop(self):
        srv, self._srv = self._srv, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()

    def requests(self):
        return self.issuer.requests()


# --------------------------------------------------------------- registry

class HostileRegistry:
    """See the module docstring."""

    def __init__(self, port=0, auth=None, users=None, realm=None,
                 expires_in=300, tls=None, endless_page=10000,
                 many_layers=20000, huge_bytes=16000000):
        if auth not in (None, 'basic', 'bearer'):
            raise ValueError('auth must be None, "basic" or "bearer"')
        self.auth = auth
        self.users = dict(users) if users else None
        self.realm_url = realm
        self.issuer = _TokenIssuer(expires_in)
        self.tls = tls
        self.endless_page = endless_page
        self.many_layers = many_layers
        self.huge_bytes = huge_bytes
        self.huge_unique = None
        self._want_port = port
        self.lock = threading.Lock()
        self.blobs = {}        # digest -> bytes
        self.manifests = {}    # (repo, ref) -> (body, media type)
        self.by_digest = {}    # digest -> (body, media type)
        self.tags = {}         # repo -> [tag, ...]
        self._log = []
        self._store_log = []
        self.smuggle = ('127.0.0.1:1', 'prod/app', 'sha256:' + '0' * 64)
        self._srv = None
        self._store = None
        self.port = self.store_port = None
        self.host = self.url = None
        self.scheme = 'https' if tls else 'http'

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # --------------------------------------------------------- content

    def _put_blob(self, data):
        d = sha256_digest(data)
        with self.lock:
            self.blobs[d] = data
        return d

    def _put_manifest(self, repo, tag, body, mt):
        d = sha256_digest(body)
        with self.lock:
            self.manifests[(repo, tag)] = (body, mt)
            self.manifests[(repo, d)] = (body, mt)
            self.by_digest[d] = (body, mt)
            tags = self.tags.setdefault(repo, [])
            if tag not in tags:
                tags.append(tag)
        return d

    def _config(self, layers):
        cfg = json.dumps({
            'architecture': 'amd64', 'os': 'linux',
            'created': '2024-01-01T00:00:00Z',
            'rootfs': {'type': 'layers', 'diff_ids': [
                sha256_digest(gzip.decompress(l)) for l in layers]},
        }, sort_keys=True).encode()
        return cfg

    def _honest_parts(self, seed, n_layers=2, size=4096):
        """(config descriptor, [layer descriptors]) of real blobs."""
        layers = [make_layer(seed * 10 + i, size + 97 * i)
                  for i in range(n_layers)]
        cfg = self._config(layers)
        cdesc = {'mediaType': MT_OCI_CONFIG, 'size': len(cfg),
                 'digest': self._put_blob(cfg)}
        ldescs = [{'mediaType': MT_OCI_LAYER, 'size': len(l),
                   'digest': self._put_blob(l)} for l in layers]
        return cdesc, ldescs

    def add_image(self, repo, tag, seed=None, n_layers=2, size=4096):
        """An honest OCI image at repo:tag; returns {'digest', 'manifest',
        'media_type', 'blobs'}."""
        if seed is None:
            seed = random.getrandbits(24)
        cdesc, ldescs = self._honest_parts(seed, n_layers, size)
        body = json.dumps({'schemaVersion': 2, 'mediaType': MT_OCI,
                           'config': cdesc, 'layers': ldescs},
                          indent=2).encode()
        d = self._put_manifest(repo, tag, body, MT_OCI)
        return {'digest': d, 'manifest': body, 'media_type': MT_OCI,
                'blobs': [cdesc['digest']] + [l['digest'] for l in ldescs]}

    def set_smuggle(self, host, repo, digest):
        """What the smuggled DELETE of hostile/crlf-mediatype aims at: the
        target's host:port, a repository and a manifest digest there."""
        self.smuggle = (host, repo, digest)
        self._build_crlf()

    def _build_crlf(self):
        host, repo, digest = self.smuggle
        cdesc, ldescs = self._honest_parts(101, 1)
        inject = (MT_OCI + '\r\nContent-Length: 0\r\n%s: pwned\r\n\r\n'
                  'DELETE /v2/%s/manifests/%s HTTP/1.1\r\nHost: %s\r\n'
                  '%s: smuggled' % (INJECT_HEADER, repo, digest, host,
                                    FORGED_HEADER))
        body = json.dumps({'schemaVersion': 2, 'mediaType': inject,
                           'config': cdesc, 'layers': ldescs}).encode()
        self._put_manifest('hostile/crlf-mediatype', 'v1', body, MT_OCI)

    def _build_cases(self):
        self._build_crlf()
        # A bare CR in the Content-Type header (the body has no mediaType).
        cdesc, ldescs = self._honest_parts(102, 1)
        body = json.dumps({'schemaVersion': 2, 'config': cdesc,
                           'layers': ldescs}).encode()
        self._put_manifest('hostile/ctl-content-type', 'v1', body,
                           MT_OCI + '\r%s: pwned-ct' % INJECT_HEADER)

        with self.lock:
            self.tags['hostile/esc-tags'] = [
                ESC_TITLE, 'ok' + FAKE_RESULT, 'v1' + ESC_CLEAR, 'ok']

        cdesc, ldescs = self._honest_parts(103, 1)
        ldescs.append({'mediaType': MT_OCI_LAYER, 'size': 10,
                       'digest': 'sha256:' + ESCAPES})
        body = json.dumps({'schemaVersion': 2, 'mediaType': MT_OCI,
                           'config': cdesc, 'layers': ldescs}).encode()
        self._put_manifest('hostile/esc-digest', 'v1', body, MT_OCI)

        for name, sizes in (('size-max', [INT64_MAX]), ('size-neg', [-1]),
                            ('size-2p53', [2 ** 53 + 1]),
                            ('size-sum', [2 ** 62, 2 ** 62])):
            cdesc, ldescs = self._honest_parts(104 + len(name), len(sizes))
            for ld, size in zip(ldescs, sizes):
                ld['size'] = size
            body = json.dumps({'schemaVersion': 2, 'mediaType': MT_OCI,
                               'config': cdesc, 'layers': ldescs}).encode()
            self._put_manifest('hostile/' + name, 'v1', body, MT_OCI)

        cdesc, _ = self._honest_parts(120, 1)
        n = self.many_layers
        uniq = n - n // 4
        ldescs = []
        for i in range(n):
            k = i if i < uniq else (i * 7919) % uniq  # then duplicates
            # Digests that differ only at the end: a linear scan compares
            # all 64 hex digits of each.
            ldescs.append({'mediaType': MT_OCI_LAYER, 'size': 1000 + k,
                           'digest': 'sha256:%064x' % k})
        body = json.dumps({'schemaVersion': 2, 'mediaType': MT_OCI,
                           'config': cdesc, 'layers': ldescs}).encode()
        self._put_manifest('hostile/many-layers', 'v1', body, MT_OCI)
        self.many_unique = uniq

        with self.lock:
            self.tags['hostile/reflect'] = ['raw', 'b64', 'url', 'urlplus',
                                            'header', 'passwd']
            self.tags['hostile/bad-names'] = [
                '../../../prod/app/manifests/latest', 'a?b=c', 'x/../y',
                '%2e%2e%2fetc', 'a b', '-dash', 'v1#frag']
            self.tags['hostile/endless'] = []

        for i, name in enumerate(('redir-blob-file', 'redir-blob-upper',
                                  'redir-manifest-file',
                                  'redir-manifest-upper', 'redir-loop-blob',
                                  'redir-loop-manifest', 'wrong-bytes')):
            self.add_image('hostile/' + name, 'v1', seed=200 + i, n_layers=1)

    # ---------------------------------------------------------- servers

    def start(self):
        reg = self

        class Registry(_Handler):
            def do_GET(self):
                reg._serve(self)

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        class Store(_Handler):
            def do_GET(self):
                reg._serve_store(self)

            do_HEAD = do_GET

        srv = _make_server(self._want_port, Registry)
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls[0], self.tls[1])
            srv.tls = ctx
        self._srv = srv
        self.port = srv.server_address[1]
        self.host = '127.0.0.1:%d' % self.port
        self.url = '%s://%s' % (self.scheme, self.host)
        store = _make_server(0, Store)
        self._store = store
        self.store_port = store.server_address[1]
        if self.realm_url is None:
            self.realm_url = self.url + '/token'
        self._build_cases()
        for s in (srv, store):
            threading.Thread(target=s.serve_forever,
                             kwargs={'poll_interval': 0.1},
                             daemon=True).start()
        return self

    def stop(self):
        for name in ('_srv', '_store'):
            s = getattr(self, name)
            setattr(self, name, None)
            if s is not None:
                s.shutdown()
                s.server_close()

    # ------------------------------------------------------------- logs

    def requests(self):
        """Requests to the registry port: dicts with method, path, headers
        (lower-case names)."""
        with self.lock:
            return [dict(e) for e in self._log]

    def store_hits(self):
        with self.lock:
            return [dict(e) for e in self._store_log]

    def token_requests(self):
        return self.issuer.requests()

    def clear_logs(self):
        with self.lock:
            self._log = []
            self._store_log = []

    # ---------------------------------------------------------- serving

    def _record(self, h, log):
        with self.lock:
            log.append({'method': h.command, 'path': h.path,
                        'headers': {k.lower(): v
                                    for k, v in h.headers.items()}})

    def _authorized(self, h, repo):
        """True when the request may go on; else the 401 was sent."""
        auth = h.headers.get('Authorization') or ''
        if self.auth is None:
            return True
        if self.auth == 'basic':
            if auth.startswith('Basic '):
                if self.users is None:
                    return True
                try:
                    user, _, pw = base64.b64decode(
                        auth[6:]).decode().partition(':')
                except (ValueError, UnicodeDecodeError):
                    user = pw = None
                if self.users.get(user) == pw:
                    return True
            h.send(401, _error_body('UNAUTHORIZED', 'authentication '
                                    'required'),
                   headers=[('WWW-Authenticate',
                             'Basic realm="hostile"')],
                   content_type='application/json')
            return False
        if auth.startswith('Bearer hostile-token-'):
            return True
        scope = ('repository:%s:pull' % repo) if repo else ''
        chal = 'Bearer realm="%s",service="hostile"' % self.realm_url
        if scope:
            chal += ',scope="%s"' % scope
        h.send(401, _error_body('UNAUTHORIZED', 'authentication required'),
               headers=[('WWW-Authenticate', chal)],
               content_type='application/json')
        return False

    _TAGS = re.compile(r'^/v2/(?P<repo>.+)/tags/list$')
    _MANIFEST = re.compile(r'^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$')
    _BLOB = re.compile(r'^/v2/(?P<repo>.+)/blobs/(?P<digest>[^/]+)$')

    def _serve(self, h):
        self._record(h, self._log)
        h.drain()
        path, _, query = h.path.partition('?')
        if path == '/token' and h.command == 'GET':
            self.issuer.answer(h)
            return
        repo = None
        for rx in (self._TAGS, self._MANIFEST, self._BLOB):
            m = rx.match(path)
            if m:
                repo = m.group('repo')
                break
        if not self._authorized(h, repo):
            return
        if path in ('/v2/', '/v2'):
            h.send(200, b'{}', content_type='application/json')
            return
        if h.command not in ('GET', 'HEAD'):
            h.send(405, _error_body('UNSUPPORTED', 'read-only registry'),
                   content_type='application/json')
            return
        m = self._TAGS.match(path)
        if m:
            self._tags(h, m.group('repo'), urllib.parse.parse_qs(query))
            return
        m = self._MANIFEST.match(path)
        if m:
            self._manifest(h, m.group('repo'), m.group('ref'))
            return
        m = self._BLOB.match(path)
        if m:
            self._blob(h, m.group('repo'), m.group('digest'))
            return
        h.send(404, _error_body('NAME_UNKNOWN', 'no such path'),
               content_type='application/json')

    def _tags(self, h, repo, q):
        if repo == 'hostile/endless':
            page = int((q.get('last') or ['p0-'])[0][1:].split('-')[0] or 0)
            n = self.endless_page
            tags = ['p%d-%06d' % (page + 1, i) for i in range(n)]
            link = ('</v2/%s/tags/list?n=%d&last=%s>; rel="next"'
                    % (repo, n, tags[-1]))
            body = json.dumps({'name': repo, 'tags': tags}).encode()
            h.send(200, body, headers=[('Link', link)],
                   content_type='application/json')
            return
        with self.lock:
            tags = list(self.tags.get(repo) or [])
        if not tags:
            h.send(404, _error_body('NAME_UNKNOWN', 'repository name not '
                                    'known to registry'),
                   content_type='application/json')
            return
        h.send(200, json.dumps({'name': repo, 'tags': tags}).encode(),
               content_type='application/json')

    def _reflect(self, h, ref):
        """The error message of hostile/reflect for tag `ref`."""
        auth = h.headers.get('Authorization') or ''
        b64 = auth[6:] if auth.startswith('Basic ') else ''
        try:
            user, _, pw = base64.b64decode(b64).decode().partition(':')
        except (ValueError, UnicodeDecodeError):
            user = pw = ''
        forms = {
            'raw': 'you sent pw %s here' % pw,
            'b64': 'you sent %s here' % b64,
            'url': 'you sent %s here' % urllib.parse.quote(pw, safe=''),
            'urlplus': 'you sent %s here' % urllib.parse.quote_plus(pw),
            'header': 'you sent {%s} here' % auth,
            'passwd': 'see /etc/passwd: harmless-marker-4711 for users',
        }
        return forms.get(ref, 'unknown tag')

    def _redirect(self, h, location):
        h.send(302 if location.startswith('file:') else 307,
               headers=[('Location', location)])

    def _build_huge(self):
        """hostile/huge-layers:v1, once: as many distinct compact layer
        descriptors as fit in huge_bytes."""
        with self.lock:
            if self.huge_unique is not None:
                return
        cdesc, _ = self._honest_parts(121, 1)
        head = json.dumps({'schemaVersion': 2, 'mediaType': MT_OCI,
                           'config': cdesc}, separators=(',', ':'))[:-1]
        one = len('{"size":1,"digest":"sha256:%064x"},' % 0)
        n = (self.huge_bytes - len(head) - 16) // one
        layers = ','.join('{"size":1,"digest":"sha256:%064x"}' % k
                          for k in range(n))
        body = (head + ',"layers":[' + layers + ']}').encode()
        self._put_manifest('hostile/huge-layers', 'v1', body, MT_OCI)
        with self.lock:
            self.huge_unique = n

    def _manifest(self, h, repo, ref):
        case = repo[len('hostile/'):] if repo.startswith('hostile/') else ''
        if case == 'huge-layers':
            self._build_huge()
        if case == 'reflect':
            h.send(404, _error_body('MANIFEST_UNKNOWN', self._reflect(h, ref)),
                   content_type='application/json')
            return
        if case == 'esc-tags' or case == 'endless':
            h.send(404, _error_body('MANIFEST_UNKNOWN', 'unknown ' + ESCAPES),
                   content_type='application/json')
            return
        with self.lock:
            got = self.manifests.get((repo, ref))
        if got is None:
            h.send(404, _error_body('MANIFEST_UNKNOWN', 'manifest unknown'),
                   content_type='application/json')
            return
        body, mt = got
        digest = sha256_digest(body)
        if case == 'redir-manifest-file':
            self._redirect(h, 'file:///etc/passwd')
            return
        if case == 'redir-manifest-upper':
            self._redirect(h, 'HTTP://127.0.0.1:%d/store/manifests/%s'
                           % (self.store_port, digest))
            return
        if case == 'redir-loop-manifest':
            self._redirect(h, '%s/v2/%s/manifests/%s' % (self.url, repo, ref))
            return
        dcd = digest
        if case == 'esc-digest':
            dcd = 'sha256:' + ESC_TITLE + ESC_CLEAR
        h.send(200, body, headers=[('Docker-Content-Digest', dcd)],
               content_type=mt)

    def _blob(self, h, repo, digest):
        case = repo[len('hostile/'):] if repo.startswith('hostile/') else ''
        with self.lock:
            data = self.blobs.get(digest)
        if data is None:
            h.send(404, _error_body('BLOB_UNKNOWN', 'blob unknown'),
                   content_type='application/json')
            return
        config = data.startswith(b'{')
        if case == 'redir-blob-file' and not config:
            self._redirect(h, 'file:///etc/passwd')
            return
        if case == 'redir-blob-upper':
            self._redirect(h, 'HTTP://127.0.0.1:%d/store/blobs/%s'
                           % (self.store_port, digest))
            return
        if case == 'redir-loop-blob' and not config:
            self._redirect(h, '%s/v2/%s/blobs/%s' % (self.url, repo, digest))
            return
        if case == 'wrong-bytes' and not config:
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0xff]) + data[i + 1:]
        h.send(200, data, headers=[('Docker-Content-Digest', digest)],
               content_type='application/octet-stream')

    def _serve_store(self, h):
        with self.lock:
            self._store_log.append({
                'method': h.command, 'path': h.path,
                'authorization': h.headers.get('Authorization')})
        m = re.match(r'^/store/(blobs|manifests)/(sha256:[0-9a-f]{64})$',
                     h.path)
        got = None
        if m:
            with self.lock:
                if m.group(1) == 'blobs':
                    b = self.blobs.get(m.group(2))
                    got = (b, 'application/octet-stream') if b else None
                else:
                    got = self.by_digest.get(m.group(2))
        if got is None:
            h.send(404, b'', content_type='text/plain')
            return
        h.send(200, got[0], content_type=got[1],
               headers=[('Docker-Content-Digest', m.group(2))])


# ---------------------------------------------------------------- recorder

class TcpRecorder:
    """A TCP relay on 127.0.0.1 that forwards every connection to
    127.0.0.1:upstream_port and keeps every byte the client sent, per
    connection, exactly as it went over the wire (TLS probes included).
    Bytes from the upstream are relayed unrecorded."""

    _REQUEST = re.compile(rb'(?:^|\n)(GET|HEAD|PUT|POST|PATCH|DELETE|'
                          rb'OPTIONS|TRACE|CONNECT) (\S+) HTTP/1\.[01]\r?\n')

    def __init__(self, upstream_port, port=0):
        self.upstream = ('127.0.0.1', int(upstream_port))
        self._want_port = port
        self.lock = threading.Lock()
        self.streams = []
        self._conns = []
        self._sock = None
        self.port = self.host = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        for _ in range(20):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('127.0.0.1', self._want_port))
            if self._want_port or s.getsockname()[1] != 5000:
                break
            s.close()  # never take the registry's usual port
        s.listen(64)
        s.settimeout(0.2)
        self._sock = s
        self.port = s.getsockname()[1]
        self.host = '127.0.0.1:%d' % self.port
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        s, self._sock = self._sock, None
        if s is not None:
            s.close()
        with self.lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self):
        while True:
            s = self._sock
            if s is None:
                return
            try:
                client, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            up.settimeout(None)
            client.settimeout(None)
            buf = bytearray()
            with self.lock:
                self.streams.append(buf)
                self._conns += [client, up]
            threading.Thread(target=self._pump, args=(client, up, buf),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(up, client, None),
                             daemon=True).start()

    def _pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record is not None:
                    with self.lock:
                        record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def sent(self):
        """Everything clients sent, all connections concatenated (with a
        newline between connections)."""
        with self.lock:
            return b'\n'.join(bytes(b) for b in self.streams)

    def request_lines(self):
        """(method, target) of every HTTP request line in what the clients
        sent, including any smuggled inside another request's headers."""
        out = []
        with self.lock:
            streams = [bytes(b) for b in self.streams]
        for data in streams:
            for m in self._REQUEST.finditer(data):
                out.append((m.group(1).decode(), m.group(2).decode(
                    'latin-1')))
        return out

    def clear(self):
        with self.lock:
            self.streams = []


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--auth', choices=('basic', 'bearer'))
    ap.add_argument('--user', action='append', default=[],
                    help='USER:PASSWORD accepted by --auth=basic')
    ap.add_argument('--realm', help='Bearer realm URL (default: own /token)')
    ap.add_argument('--expires-in', default='300',
                    help='expires_in of token answers (a JSON number)')
    ap.add_argument('--tls-cert')
    ap.add_argument('--tls-key')
    ap.add_argument('--image', action='append', default=[],
                    help='REPO:TAG of an honest image to serve')
    ap.add_argument('--smuggle', help='HOST,REPO,DIGEST the smuggled DELETE '
                    'of hostile/crlf-mediatype aims at')
    a = ap.parse_args(argv)
    users = dict(u.split(':', 1) for u in a.user) or None
    tls = (a.tls_cert, a.tls_key) if a.tls_cert else None
    reg = HostileRegistry(port=a.port, auth=a.auth, users=users,
                          realm=a.realm, expires_in=json.loads(a.expires_in),
                          tls=tls)
    reg.start()
    if a.smuggle:
        reg.set_smuggle(*a.smuggle.split(',', 2))
    for spec in a.image:
        repo, _, tag = spec.rpartition(':')
        reg.add_image(repo, tag)
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    print('LISTENING %d STORE %d' % (reg.port, reg.store_port), flush=True)
    while not done.wait(0.5):
        pass
    reg.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
