"""harness.py - shared helpers for the integration tests (Python 3 stdlib).

Starts real `docker-registry` (distribution 2.8) processes on free loopback
ports, with optional htpasswd basic auth, token auth (a small JWT token
server running in this process) and TLS (a throw-away CA made with the
openssl CLI); pushes generated images; reads manifests back with skopeo.

Every process and temp dir is cleaned up: Registry is a context manager,
stop() is idempotent and an atexit hook stops whatever is still running.

    with Registry(auth='token', tls=True) as reg:
        img = seed_image(reg, 'team/app', 'v1', kind='index')
        assert skopeo_raw(reg, 'team/app', 'v1') == img['manifest']

Notes:
  * kind='v2s1' raises Unsupported: distribution 2.8 rejects unsigned
    schema 1 manifests (and signing schema 1 needs libtrust), so tests skip.
  * The token server grants exactly what was asked when the basic
    credentials match (or when no users are configured); anonymous callers
    get a token without access, so the registry refuses them.
"""

import atexit
import base64
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    'free_port', 'Registry', 'TokenServer', 'Unsupported', 'make_layer',
    'push_blob', 'push_manifest', 'seed_image', 'skopeo_raw', 'skopeo_tags',
    'tool', 'binary', 'sha256_digest', 'MT', 'run', 'RedirectProxy',
    'run_binary', 'Workdir', 'QuietHandler', 'serve_http',
]

MT = {
    'v2s2': 'application/vnd.docker.distribution.manifest.v2+json',
    'list': 'application/vnd.docker.distribution.manifest.list.v2+json',
    'oci': 'application/vnd.oci.image.manifest.v1+json',
    'index': 'application/vnd.oci.image.index.v1+json',
    'v2s1': 'application/vnd.docker.distribution.manifest.v1+json',
    'docker_config': 'application/vnd.docker.container.image.v1+json',
    'docker_layer': 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    'oci_config': 'application/vnd.oci.image.config.v1+json',
    'oci_layer': 'application/vnd.oci.image.layer.v1.tar+gzip',
}

_live = []  # objects with stop(), stopped at exit
_live_lock = threading.Lock()


def _cleanup_all():
    with _live_lock:
        items = list(_live)
    for obj in items:
        try:
            obj.stop()
        except Exception:  # pragma: no cover - best effort at exit
            pass


atexit.register(_cleanup_all)


class Unsupported(Exception):
    """The registry cannot store this kind of image."""


def sha256_digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def free_port():
    """A TCP port on 127.0.0.1 that is free right now (never 5000)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        if port != 5000:
            return port
    raise RuntimeError('no free port')


def run(cmd, check=True, timeout=120, **kw):
    """subprocess.run with captured output and a timeout."""
    return subprocess.run(cmd, check=check, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          **kw)


def tool(name):
    """Path of a test tool built under $BUILD_DIR/tests/."""
    return os.path.join(os.environ.get('BUILD_DIR', '.'), 'tests', name)


def binary():
    """Path of the image-transfer binary under test."""
    return os.environ['IMAGE_TRANSFER']


def run_binary(args, timeout=120, unset=(), env=None, home=None):
    """Runs the image-transfer binary to the end with captured output.
    HOME is `home` (default: the temp dir, so no real ~/.docker is read);
    the variables named in `unset` are removed, then `env` is added.
    Returns (returncode, stdout, stderr), decoded."""
    e = dict(os.environ)
    for k in unset:
        e.pop(k, None)
    e['HOME'] = tempfile.gettempdir() if home is None else home
    if env:
        e.update(env)
    p = subprocess.run([binary()] + list(args), capture_output=True,
                       timeout=timeout, env=e)
    return (p.returncode, p.stdout.decode(errors='replace'),
            p.stderr.decode(errors='replace'))


def write_private(path, text, mode=0o600):
    """Writes text to path, readable by its owner only (or `mode`) from
    the first byte on; returns path. For config files and logins."""
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode),
              'w') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Workdir:
    """A temp dir for runs of the binary: config files written into it,
    the state dir and the report path. cleanup() removes it."""

    def __init__(self, prefix='it-run-'):
        self.tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.dir = self.tmp.name
        self.state = os.path.join(self.dir, 'state')
        self.report = os.path.join(self.dir, 'report.json')

    def cleanup(self):
        self.tmp.cleanup()

    def write(self, name, text, mode=0o600):
        """Writes a config file the way the runbook says (chmod 600), so
        the tool has no reason to warn about it."""
        return write_private(os.path.join(self.dir, name), text, mode)

    def load_report(self):
        with open(self.report) as f:
            return json.load(f)

    def journal(self):
        """The journal (state dir's journal.db) as the JSON lines earlier
        versions wrote to journal.jsonl, one record a line, blobs then
        images, or '' when there is none yet."""
        return journal_text(self.state)


def journal_text(state_dir):
    """STATE_DIR/journal.db dumped as JSON lines of the old journal.jsonl
    format ({"t":"blob","registry","repo","digest","size"} and
    {"t":"image","source","digest","target"}), or '' when there is no
    journal.db. Read-only (never creates the file), while a run may be
    writing it (WAL: readers do not wait for writers)."""
    path = os.path.join(state_dir, 'journal.db')
    if not os.path.exists(path):
        return ''
    try:
        return _journal_text(path, 'ro')
    except sqlite3.OperationalError:
        # After a kill -9 the WAL needs a recovery, which takes write
        # access (mode=rw still never creates the file).
        return _journal_text(path, 'rw')


def _journal_text(path, mode):
    db = sqlite3.connect('file:%s?mode=%s' % (urllib.parse.quote(path), mode),
                         uri=True, timeout=30)
    try:
        recs = []
        for reg, repo, dg, size in db.execute(
                'SELECT registry, repo, digest, size FROM blobs'):
            recs.append({'t': 'blob', 'registry': reg, 'repo': repo,
                         'digest': dg, 'size': size})
        for src, dg, dst in db.execute(
                'SELECT source, digest, target FROM images'):
            recs.append({'t': 'image', 'source': src, 'digest': dg,
                         'target': dst})
    except sqlite3.OperationalError as e:
        if 'no such table' in str(e):  # created, not set up yet
            return ''
        raise
    finally:
        db.close()
    return ''.join(json.dumps(r, separators=(',', ':'), ensure_ascii=False)
                   + '\n' for r in recs)


# ------------------------------------------------------------ certificates

_pki = None
_pki_lock = threading.Lock()


def _pki_dir():
    """One throw-away PKI per test process: a CA, a server certificate for
    127.0.0.1/localhost signed by it, and a self-signed token-signing cert."""
    global _pki
    with _pki_lock:
        if _pki is not None:
            return _pki
        d = tempfile.mkdtemp(prefix='it-pki-')
        _live.append(_TempDir(d))

        def p(name):
            return os.path.join(d, name)

        run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('ca.key'),
             '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=it-test-ca',
             '-addext', 'basicConstraints=critical,CA:TRUE',
             '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
        run(['openssl', 'req', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes', '-keyout',
             p('server.key'), '-out', p('server.csr'), '-subj',
             '/CN=localhost'])
        with open(p('ext.cnf'), 'w') as f:
            f.write('subjectAltName=IP:127.0.0.1,DNS:localhost\n'
                    'basicConstraints=CA:FALSE\n'
                    'keyUsage=critical,digitalSignature,keyEncipherment\n'
                    'extendedKeyUsage=serverAuth\n')
        run(['openssl', 'x509', '-req', '-in', p('server.csr'), '-CA',
             p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out',
             p('server.pem'), '-days', '2', '-extfile', p('ext.cnf')])
        run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
             '-keyout', p('token.key'), '-out', p('token.pem'), '-days', '2',
             '-subj', '/CN=it-token-signer'])
        der = run(['openssl', 'x509', '-in', p('token.pem'), '-outform',
                   'DER']).stdout
        with open(p('token.der.b64'), 'w') as f:
            f.write(base64.b64encode(der).decode())
        # skopeo's --cert-dir wants *.crt CA files.
        os.mkdir(p('certs.d'))
        shutil.copy(p('ca.pem'), os.path.join(p('certs.d'), 'ca.crt'))
        _pki = d
        return d


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that does not log every request to stderr."""

    def log_message(self, *args):
        pass


def serve_http(handler, port):
    """Serves `handler` on 127.0.0.1:port from a daemon thread; returns the
    server (stop it with shutdown() and server_close())."""
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', port), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class _TempDir:
    def __init__(self, path):
        self.path = path

    def stop(self):
        shutil.rmtree(self.path, ignore_errors=True)


# ------------------------------------------------------------ token server

def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


class TokenServer:
    """A threaded HTTP token server issuing RS256 JWTs the registry trusts.

    requests: list of dicts {method, user, scopes, authorized} for each
    /token call; a POST's also holds grant, client_id, service and
    content_type (what the form said).

    GET: basic auth against users (docker's token request). POST: the
    OAuth2 refresh-token grant docker sends for an identity token
    (Content-Type application/x-www-form-urlencoded; grant_type=
    refresh_token, refresh_token, service, scope, client_id); a token of
    identity_tokens (token -> user) is granted what it asked for, an unknown
    one answers 400 invalid_grant (RFC 6749 5.2), as does a form without
    client_id, another grant type or Content-Type. oauth_404: every POST
    answers 404 (a token server without the OAuth2 endpoint).
    """

    def __init__(self, service, issuer, users, expires_in=300, tls=False,
                 identity_tokens=None):
        self.tls = tls
        self.service = service
        self.issuer = issuer
        self.users = dict(users or {})
        self.identity_tokens = dict(identity_tokens or {})
        self.oauth_404 = False
        self.expires_in = expires_in
        self.requests = []
        self.lock = threading.Lock()
        pki = _pki_dir()
        self.key = os.path.join(pki, 'token.key')
        self.cert = os.path.join(pki, 'token.pem')
        with open(os.path.join(pki, 'token.der.b64')) as f:
            self.x5c = f.read().strip()
        self.port = free_port()
        # A TLS registry gets an https realm (same certificate): clients
        # refuse a realm that downgrades https to http.
        self.realm = '%s://127.0.0.1:%d/token' % ('https' if tls else 'http',
                                                  self.port)
        self.httpd = None

    def count(self):
        with self.lock:
            return len(self.requests)

    def sign(self, claims):
        header = {'typ': 'JWT', 'alg': 'RS256', 'x5c': [self.x5c]}
        signing_input = (_b64url(json.dumps(header).encode()) + '.' +
                         _b64url(json.dumps(claims).encode()))
        sig = run(['openssl', 'dgst', '-sha256', '-sign', self.key],
                  input=signing_input.encode(), timeout=30).stdout
        return signing_input + '.' + _b64url(sig)

    def _grant(self, scopes, authorized):
        access = []
        if not authorized:
            return access
        for scope in scopes:
            parts = scope.split(':')
            if len(parts) < 3:
                continue
            typ, name, actions = parts[0], ':'.join(parts[1:-1]), parts[-1]
            access.append({'type': typ, 'name': name,
                           'actions': actions.split(',')})
        return access

    def _answer(self, handler, status, obj):
        body = json.dumps(obj).encode()
        handler.send_response(status)
        handler.send_header('Content-Type', 'application/json')
        handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _post(self, handler):
        """The OAuth2 refresh-token grant (see the class comment)."""
        n = int(handler.headers.get('Content-Length') or 0)
        raw = handler.rfile.read(min(n, 1 << 20)).decode('utf-8', 'replace')
        form = urllib.parse.parse_qs(raw, keep_blank_values=True)

        def one(k):
            v = form.get(k, [])
            return v[0] if len(v) == 1 else None
        ctype = handler.headers.get('Content-Type', '')
        scopes = (one('scope') or '').split()
        rec = {'method': 'POST', 'user': None, 'scopes': scopes,
               'authorized': False, 'grant': one('grant_type'),
               'client_id': one('client_id'), 'service': one('service'),
               'content_type': ctype}
        user = None
        if self.oauth_404:
            status, err = 404, None
        elif (ctype.split(';')[0].strip().lower() !=
              'application/x-www-form-urlencoded' or
              not one('client_id')):
            status, err = 400, 'invalid_request'
        elif one('grant_type') != 'refresh_token':
            status, err = 400, 'unsupported_grant_type'
        else:
            user = self.identity_tokens.get(one('refresh_token'))
            status, err = (200, None) if user is not None else (
                400, 'invalid_grant')
        rec['user'] = user
        rec['authorized'] = user is not None
        with self.lock:
            self.requests.append(rec)
        if status == 404:
            self._answer(handler, 404, {'details': 'not found'})
        elif status != 200:
            self._answer(handler, status, {'error': err})
        else:
            token, now = self._issue(user, scopes, one('service'), True)
            self._answer(handler, 200, {
                'access_token': token, 'token_type': 'Bearer',
                'scope': ' '.join(scopes), 'expires_in': self.expires_in,
                'issued_at': time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                           time.gmtime(now))})

    def _issue(self, user, scopes, service, authorized):
        now = int(time.time())
        claims = {
            'iss': self.issuer,
            'sub': user or '',
            'aud': service or self.service,
            'exp': now + self.expires_in,
            'nbf': now - 10,
            'iat': now,
            'jti': '%d-%d' % (now, random.getrandbits(48)),
            'access': self._grant(scopes, authorized),
        }
        return self.sign(claims), now

    def start(self):
        server = self

        class Handler(QuietHandler):
            def do_POST(self):
                server._post(self)

            def do_GET(self):
                u = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(u.query)
                user, password = None, None
                auth = self.headers.get('Authorization', '')
                if auth.startswith('Basic '):
                    try:
                        raw = base64.b64decode(auth[6:]).decode()
                        user, _, password = raw.partition(':')
                    except Exception:
                        user = None
                scopes = []
                for s in q.get('scope', []):
                    scopes.extend(s.split(' '))
                if user is not None and server.users.get(user) != password:
                    with server.lock:
                        server.requests.append({'method': 'GET',
                                                'user': user,
                                                'scopes': scopes,
                                                'authorized': False})
                    self.send_response(401)
                    self.send_header('Content-Type', 'application/json')
                    self.end_headers()
                    self.wfile.write(b'{"details":"bad credentials"}')
                    return
                authorized = user is not None or not server.users
                with server.lock:
                    server.requests.append({'method': 'GET', 'user': user,
                                            'scopes': scopes,
                                            'authorized': authorized})
                now = int(time.time())
                claims = {
                    'iss': server.issuer,
                    'sub': user or '',
                    'aud': q.get('service', [server.service])[0],
                    'exp': now + server.expires_in,
                    'nbf': now - 10,
                    'iat': now,
                    'jti': '%d-%d' % (now, random.getrandbits(48)),
                    'access': server._grant(scopes, authorized),
                }
                token = server.sign(claims)
                body = json.dumps({
                    'token': token, 'access_token': token,
                    'expires_in': server.expires_in,
                    'issued_at': time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                               time.gmtime(now)),
                }).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        if not self.tls:
            self.httpd = serve_http(Handler, self.port)
            return self
        pki = _pki_dir()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(pki, 'server.pem'),
                            os.path.join(pki, 'server.key'))
        srv = http.server.ThreadingHTTPServer(('127.0.0.1', self.port),
                                              Handler)
        srv.daemon_threads = True
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.httpd = srv
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


# ---------------------------------------------------------------- registry

class Registry:
    """A docker-registry process on 127.0.0.1:<free port>."""

    def __init__(self, auth=None, tls=False, users=None, root=None,
                 port=None, own_session=False, extra_config=None):
        """root: a directory kept after stop() (the storage survives, as
        the sandbox's does between runs); port: a fixed loopback port;
        own_session: out of the terminal's process group, so that a Ctrl-C
        meant for image-transfer does not kill the registry (the sandbox,
        which then stops it itself)."""
        if auth not in (None, 'basic', 'token'):
            raise ValueError('auth must be None, "basic" or "token"')
        self.auth = auth
        self.tls = tls
        self.users = dict(users) if users else {'user': 'pass'}
        self.username, self.password = next(iter(self.users.items()))
        if auth is None:
            self.username = self.password = None
        self.port = port or free_port()
        self.host = '127.0.0.1:%d' % self.port
        self.root = root
        self.own_session = own_session
        # more top-level config.yml lines, e.g. ['compatibility:',
        # '  schema1:', '    enabled: true']
        self.extra_config = list(extra_config or [])
        self.scheme = 'https' if tls else 'http'
        self.url = '%s://%s' % (self.scheme, self.host)
        self.ca_file = None
        self.cert_dir = None
        self.token_server = None
        self.proc = None
        self.dir = None
        self._tokens = {}
        self._log = None
        # issue 13: more top-level config lines (e.g. validation:)
        self.extra_config = list(extra_config or [])

    # context manager
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        if self.root is not None:
            os.makedirs(self.root, exist_ok=True)
            self.dir = self.root
        else:
            self.dir = tempfile.mkdtemp(prefix='it-registry-')
        with _live_lock:
            _live.append(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        storage = os.path.join(self.dir, 'storage')
        os.makedirs(storage, exist_ok=True)
        lines = [
            'version: 0.1',
            'log:',
            '  level: error',
            '  accesslog:',
            '    disabled: true',
            'storage:',
            '  filesystem:',
            '    rootdirectory: %s' % storage,
            '  delete:',
            '    enabled: true',
            'http:',
            '  addr: %s' % self.host,
            '  secret: it-test-secret',
        ]
        if self.tls:
            pki = _pki_dir()
            self.ca_file = os.path.join(pki, 'ca.pem')
            self.cert_dir = os.path.join(pki, 'certs.d')
            lines += ['  tls:',
                      '    certificate: %s' % os.path.join(pki, 'server.pem'),
                      '    key: %s' % os.path.join(pki, 'server.key')]
        if self.auth == 'basic':
            htpasswd = os.path.join(self.dir, 'htpasswd')
            with open(htpasswd, 'wb') as f:
                for user, password in self.users.items():
                    f.write(run(['htpasswd', '-Bbn', user, password]).stdout
                            .strip() + b'\n')
            lines += ['auth:', '  htpasswd:', '    realm: it-test',
                      '    path: %s' % htpasswd]
        elif self.auth == 'token':
            self.token_server = TokenServer('it-registry', 'it-issuer',
                                            self.users, tls=self.tls).start()
            lines += ['auth:', '  token:',
                      '    realm: %s' % self.token_server.realm,
                      '    service: it-registry',
                      '    issuer: it-issuer',
                      '    rootcertbundle: %s' % self.token_server.cert]
        lines += self.extra_config
        config = os.path.join(self.dir, 'config.yml')
        with open(config, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        self._log = open(os.path.join(self.dir, 'registry.log'), 'wb')
        env = dict(os.environ)
        env.pop('REGISTRY_HTTP_ADDR', None)
        self.proc = subprocess.Popen(['docker-registry', 'serve', config],
                                     stdout=self._log, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=self.own_session)
        deadline = time.time() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('docker-registry exited: %s' % self.log())
            try:
                status, _, _ = self.request('GET', '/v2/', auth=False,
                                            timeout=2)
                if status in (200, 401):
                    return
            except (OSError, urllib.error.URLError):
                pass
            if time.time() > deadline:
                raise RuntimeError('docker-registry did not start: %s'
                                   % self.log())
            time.sleep(0.05)

    def log(self):
        try:
            with open(os.path.join(self.dir, 'registry.log'), 'rb') as f:
                return f.read()[-2000:].decode(errors='replace')
        except OSError:
            return ''

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.token_server is not None:
            self.token_server.stop()
        if self.dir is not None:
            if self.root is None:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        with _live_lock:
            if self in _live:
                _live.remove(self)

    # ---- a tiny client for seeding (independent of the C library)

    def ssl_context(self):
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)

    def _token(self, scope):
        tok = self._tokens.get(scope)
        if tok is not None:
            return tok
        url = '%s?service=it-registry&scope=%s' % (
            self.token_server.realm, urllib.parse.quote(scope))
        req = urllib.request.Request(url)
        req.add_header('Authorization', self._basic())
        with urllib.request.urlopen(req, timeout=20,
                                    context=self.ssl_context()) as r:
            tok = json.loads(r.read())['token']
        self._tokens[scope] = tok
        return tok

    def _basic(self):
        raw = ('%s:%s' % (self.username, self.password)).encode()
        return 'Basic ' + base64.b64encode(raw).decode()

    def request(self, method, path, data=None, headers=None, scope=None,
                auth=True, timeout=30):
        """Returns (status, headers, body); never raises on HTTP errors."""
        url = path if path.startswith('http') else self.url + path
        req = urllib.request.Request(url, data=data, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if auth and self.auth == 'basic':
            req.add_header('Authorization', self._basic())
        elif auth and self.auth == 'token':
            req.add_header('Authorization', 'Bearer ' + self._token(
                scope or 'registry:catalog:*'))
        try:
            with urllib.request.urlopen(req, timeout=timeout,
                                        context=self.ssl_context()) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()


# ------------------------------------------------------------------ images

def make_layer(seed, size, compresslevel=9):
    """A real tar.gz holding about `size` bytes of pseudo-random data,
    identical for the same seed and size (skopeo recompresses anything
    that claims gzip and is not). Random data does not compress, so a
    low compresslevel only saves time."""
    rnd = random.Random(seed)
    payload = rnd.randbytes(size)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo('data/blob-%d.bin' % seed)
        info.size = len(payload)
        info.mtime = 0
        info.mode = 0o644
        t.addfile(info, io.BytesIO(payload))
    return gzip.compress(buf.getvalue(), compresslevel=compresslevel,
                         mtime=0)


def push_blob(reg, repo, data):
    """Monolithic upload (POST + PUT); returns the digest."""
    digest = sha256_digest(data)
    scope = 'repository:%s:pull,push' % repo
    status, headers, body = reg.request('POST', '/v2/%s/blobs/uploads/' % repo,
                                        data=b'', scope=scope)
    if status != 202:
        raise RuntimeError('POST upload: %d %r' % (status, body))
    loc = urllib.parse.urljoin(reg.url + '/', headers['Location'])
    sep = '&' if '?' in loc else '?'
    status, _, body = reg.request(
        'PUT', loc + sep + 'digest=' + urllib.parse.quote(digest), data=data,
        headers={'Content-Type': 'application/octet-stream'}, scope=scope)
    if status != 201:
        raise RuntimeError('PUT upload: %d %r' % (status, body))
    return digest


def push_manifest(reg, repo, ref, body_bytes, media_type):
    """PUT the exact bytes; returns their digest."""
    status, headers, body = reg.request(
        'PUT', '/v2/%s/manifests/%s' % (repo, ref), data=body_bytes,
        headers={'Content-Type': media_type},
        scope='repository:%s:pull,push' % repo)
    if status != 201:
        if status == 400 or status == 415:
            raise Unsupported('PUT manifest %s: %d %r' % (media_type, status,
                                                          body))
        raise RuntimeError('PUT manifest: %d %r' % (status, body))
    digest = sha256_digest(body_bytes)
    got = headers.get('Docker-Content-Digest')
    if got and got != digest and media_type != MT['v2s1']:
        raise RuntimeError('registry digest %s != %s' % (got, digest))
    return digest


def _image_manifest(reg, repo, layers, oci, arch, blobs):
    diff_ids = [sha256_digest(gzip.decompress(l)) for l in layers]
    config = json.dumps({
        'architecture': arch, 'os': 'linux',
        'created': '2024-01-01T00:00:00Z',
        'config': {'Env': ['PATH=/usr/bin:/bin']},
        'rootfs': {'type': 'layers', 'diff_ids': diff_ids},
        'history': [{'created': '2024-01-01T00:00:00Z',
                     'created_by': 'layer %d' % i} for i in range(len(layers))],
    }, sort_keys=True).encode()
    cdig = push_blob(reg, repo, config)
    blobs.append(cdig)
    ldescs = []
    for l in layers:
        d = push_blob(reg, repo, l)
        if d not in blobs:
            blobs.append(d)
        ldescs.append({'mediaType': MT['oci_layer' if oci else 'docker_layer'],
                       'size': len(l), 'digest': d})
    m = {'schemaVersion': 2,
         'mediaType': MT['oci' if oci else 'v2s2'],
         'config': {'mediaType': MT['oci_config' if oci else 'docker_config'],
                    'size': len(config), 'digest': cdig},
         'layers': ldescs}
    return json.dumps(m, indent=3).encode(), MT['oci' if oci else 'v2s2']


def seed_image(reg, repo, tag, kind='v2s2', layers=None, shared=None,
               seed=None):
    """Pushes one image of `kind` to reg/repo:tag and returns
    {'digest', 'manifest', 'media_type', 'blobs', 'children'}.

    layers: layer bytes (default: two generated layers); shared: layers
    added to every (child) image, e.g. to test mounts and de-duplication.
    """
    if seed is None:
        seed = random.getrandbits(30)
    shared = list(shared or [])
    if layers is None:
        layers = [make_layer(seed, 16 * 1024), make_layer(seed + 1, 3000)]
    blobs = []
    children = []
    if kind in ('v2s2', 'oci'):
        body, mt = _image_manifest(reg, repo, shared + list(layers),
                                   kind == 'oci', 'amd64', blobs)
    elif kind in ('list', 'index'):
        oci = kind == 'index'
        descs = []
        for i, (arch, variant) in enumerate((('amd64', None),
                                             ('arm64', 'v8'))):
            clayers = [make_layer(seed * 7 + 100 + i, 8 * 1024)]
            cbody, cmt = _image_manifest(reg, repo, shared + clayers, oci,
                                         arch, blobs)
            cdig = push_manifest(reg, repo, sha256_digest(cbody), cbody, cmt)
            children.append(cdig)
            plat = {'architecture': arch, 'os': 'linux'}
            if variant:
                plat['variant'] = variant
            descs.append({'mediaType': cmt, 'size': len(cbody),
                          'digest': cdig, 'platform': plat})
        mt = MT[kind]
        body = json.dumps({'schemaVersion': 2, 'mediaType': mt,
                           'manifests': descs}, indent=2).encode()
    elif kind == 'artifact':
        cfg = b'{"artifact":"config"}'
        cdig = push_blob(reg, repo, cfg)
        data = b'artifact payload %d\n' % seed
        ddig = push_blob(reg, repo, data)
        blobs += [cdig, ddig]
        mt = MT['oci']
        body = json.dumps({
            'schemaVersion': 2, 'mediaType': mt,
            'artifactType': 'application/vnd.example.sbom.v1',
            'config': {'mediaType': 'application/vnd.example.config.v1+json',
                       'size': len(cfg), 'digest': cdig},
            'layers': [{'mediaType': 'application/vnd.example.data.v1',
                        'size': len(data), 'digest': ddig}],
            'annotations': {'org.example.note': 'test artifact'},
        }, indent=1).encode()
    elif kind == 'v2s1':
        layer = list(layers)[0]
        d = push_blob(reg, repo, layer)
        blobs.append(d)
        mt = MT['v2s1']
        body = json.dumps({
            'schemaVersion': 1, 'name': repo, 'tag': tag,
            'architecture': 'amd64',
            'fsLayers': [{'blobSum': d}],
            'history': [{'v1Compatibility': json.dumps(
                {'id': hashlib.sha256(d.encode()).hexdigest(),
                 'created': '2024-01-01T00:00:00Z'})}],
        }, indent=3).encode()
    else:
        raise ValueError('unknown kind %r' % kind)
    digest = push_manifest(reg, repo, tag, body, mt)
    return {'digest': digest, 'manifest': body, 'media_type': mt,
            'blobs': blobs, 'children': children}


# ------------------------------------------------------------------ skopeo

def _skopeo_opts(reg, creds=True):
    opts = []
    if reg.tls:
        opts += ['--cert-dir', reg.cert_dir]
    else:
        opts += ['--tls-verify=false']
    if creds and reg.auth is not None:
        opts += ['--authfile', _skopeo_authfile(reg)]
    return opts


def _skopeo_authfile(reg):
    """A containers-auth.json (mode 600) holding reg's login, so that the
    password is never on a command line (ps, or a CalledProcessError
    printed by the sandbox)."""
    with _live_lock:
        path = getattr(reg, '_authfile', None)
        if path is None:
            path = os.path.join(reg.dir, 'skopeo-auth.json')
            token = base64.b64encode(('%s:%s' % (
                reg.username, reg.password)).encode()).decode()
            write_private(path, json.dumps(
                {'auths': {reg.host: {'auth': token}}}))
            reg._authfile = path
    return path


def _skopeo_env():
    return dict(os.environ)


def skopeo_raw(reg, repo, ref):
    """Manifest bytes exactly as the registry serves them (skopeo)."""
    sep = '@' if ref.startswith('sha256:') else ':'
    out = run(['skopeo', 'inspect', '--raw'] + _skopeo_opts(reg) +
              ['docker://%s/%s%s%s' % (reg.host, repo, sep, ref)],
              env=_skopeo_env(), timeout=60)
    return out.stdout


def skopeo_tags(reg, repo):
    out = run(['skopeo', 'list-tags'] + _skopeo_opts(reg) +
              ['docker://%s/%s' % (reg.host, repo)], env=_skopeo_env(),
              timeout=60)
    return sorted(json.loads(out.stdout)['Tags'])


# ------------------------------------------------------- redirecting proxy

class RedirectProxy:
    """A plain-HTTP proxy in front of `reg` (which must not use TLS) that
    forwards every request, except blob GET/HEADs: those get a 307 to a
    second "blob store" server on another port, which serves the bytes
    (fetched from the registry with the harness's own credentials) and
    records whether an Authorization header arrived there.

    host: "127.0.0.1:PORT" of the proxy; store_hits: list of dicts
    {method, path, authorization: bool}.
    """

    _BLOB = re.compile(r'^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$')

    def __init__(self, reg):
        if reg.tls:
            raise ValueError('RedirectProxy needs a plain-HTTP registry')
        self.reg = reg
        self.port = free_port()
        self.store_port = free_port()
        self.host = '127.0.0.1:%d' % self.port
        self.store_hits = []
        self.lock = threading.Lock()
        self._servers = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        proxy = self

        class Front(QuietHandler):
            def _any(self):
                n = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(n) if n else None
                path = self.path.split('?')[0]
                if self.command in ('GET', 'HEAD') and \
                        proxy._BLOB.match(path):
                    self.send_response(307)
                    self.send_header('Location', 'http://127.0.0.1:%d/store%s'
                                     % (proxy.store_port, path))
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection('127.0.0.1', proxy.reg.port,
                                                  timeout=60)
                try:
                    hdrs = {k: v for k, v in self.headers.items()
                            if k.lower() not in ('host', 'connection')}
                    conn.request(self.command, self.path, body=body,
                                 headers=hdrs)
                    r = conn.getresponse()
                    data = r.read()
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() in ('transfer-encoding', 'connection',
                                         'content-length'):
                            continue
                        self.send_header(k, v)
                    if self.command == 'HEAD':
                        cl = r.getheader('Content-Length')
                        if cl is not None:
                            self.send_header('Content-Length', cl)
                    else:
                        self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    if self.command != 'HEAD':
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        class Store(QuietHandler):
            def _serve(self):
                with proxy.lock:
                    proxy.store_hits.append({
                        'method': self.command, 'path': self.path,
                        'authorization': 'Authorization' in self.headers})
                path = self.path[len('/store'):]
                m = proxy._BLOB.match(path)
                status, _, data = (404, None, b'')
                if m:
                    status, _, data = proxy.reg.request(
                        'GET', path,
                        scope='repository:%s:pull' % m.group(1))
                self.send_response(status)
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                if self.command != 'HEAD':
                    self.wfile.write(data)

            do_GET = do_HEAD = _serve

        for port, handler in ((self.port, Front), (self.store_port, Store)):
            self._servers.append(serve_http(handler, port))
        with _live_lock:
            _live.append(self)
        return self

    def stop(self):
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        self._servers = []
        with _live_lock:
            if self in _live:
                _live.remove(self)
