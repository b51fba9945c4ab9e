#!/usr/bin/env python3
"""referrers_proxy.py - the OCI 1.1 referrers API in front of a registry
that lacks it (docker-registry 2.8), for tests.

Forwards every request to the upstream registry unchanged (bodies are read
whole: the tests' blobs are small; at most 64 MiB), and watches manifest
PUTs: a manifest with a `subject` that the upstream accepted (201) is
remembered as a referrer of that subject. It answers

    GET /v2/<name>/referrers/<digest>[?artifactType=...]

itself with an OCI image index of those referrers (descriptors with
mediaType, digest, size, artifactType, annotations), in pages of
`page_size` entries linked by `Link: <...>; rel="next"` (so that a client's
paging runs). Everything else, including what clients would do without
the API, goes to the real registry.

Python 3 stdlib only. In process:

    with ReferrersProxy(reg.host, page_size=2) as p:
        ... point the client at p.host ...
        p.requests()   # [(method, path), ...] in arrival order
"""

import http.client
import http.server
import json
import re
import threading
import urllib.parse

__all__ = ['ReferrersProxy']

MAX_BODY = 64 << 20
INDEX_MT = 'application/vnd.oci.image.index.v1+json'
HOP_BY_HOP = {'connection', 'keep-alive', 'proxy-authenticate',
              'proxy-authorization', 'te', 'trailer', 'trailers',
              'transfer-encoding', 'upgrade', 'expect', 'proxy-connection'}
REFERRERS = re.compile(r'^/v2/(.+)/referrers/(sha256:[0-9a-f]{64})$')
MANIFEST = re.compile(r'^/v2/(.+)/manifests/([^/]+)$')


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy = None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    timeout = 60

    def log_message(self, *args):
        pass

    def _read_body(self):
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    raise ValueError('request body too large')
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get('Content-Length') or 0)
        if n > MAX_BODY:
            raise ValueError('request body too large')
        return self.rfile.read(n) if n else b''

    def _send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _referrers(self, name, digest, query):
        proxy = self.server.proxy
        want = query.get('artifactType', [None])[0]
        with proxy.lock:
            refs = [d for d in proxy.refs.get((name, digest), [])
                    if want is None or d.get('artifactType') == want]
        start = int(query.get('last', ['0'])[0] or 0)
        page = refs[start:start + proxy.page_size]
        headers = [('Content-Type', INDEX_MT)]
        if want is not None:
            headers.append(('OCI-Filters-Applied', 'artifactType'))
        if start + proxy.page_size < len(refs):
            q = {'last': str(start + proxy.page_size)}
            if want is not None:
                q['artifactType'] = want
            headers.append(('Link', '</v2/%s/referrers/%s?%s>; rel="next"' %
                            (name, digest, urllib.parse.urlencode(q))))
        body = json.dumps({'schemaVersion': 2, 'mediaType': INDEX_MT,
                           'manifests': page}).encode()
        self._send(200, headers, body)

    def _remember(self, name, body, content_type, digest):
        try:
            m = json.loads(body)
        except ValueError:
            return
        subj = m.get('subject') if isinstance(m, dict) else None
        if not isinstance(subj, dict) or 'digest' not in subj:
            return
        d = {'mediaType': m.get('mediaType') or content_type,
             'digest': digest, 'size': len(body)}
        at = m.get('artifactType') or (m.get('config') or {}).get('mediaType')
        if at:
            d['artifactType'] = at
        if m.get('annotations'):
            d['annotations'] = m['annotations']
        proxy = self.server.proxy
        with proxy.lock:
            lst = proxy.refs.setdefault((name, subj['digest']), [])
            if all(x['digest'] != digest for x in lst):
                lst.append(d)

    def _any(self):
        proxy = self.server.proxy
        url = urllib.parse.urlsplit(self.path)
        with proxy.lock:
            proxy.seen.append((self.command, self.path))
        try:
            body = self._read_body()
        except ValueError as e:
            self._send(413, [('Content-Type', 'text/plain')], str(e).encode())
            return
        m = REFERRERS.match(url.path)
        if m and self.command in ('GET', 'HEAD'):
            self._referrers(m.group(1), m.group(2),
                            urllib.parse.parse_qs(url.query))
            return
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP}
        headers['Content-Length'] = str(len(body))
        conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            rbody = r.read()
            out = [(k, v) for k, v in r.getheaders()
                   if k.lower() not in HOP_BY_HOP and
                   k.lower() != 'content-length']
            status = r.status
        finally:
            conn.close()
        m = MANIFEST.match(url.path)
        if m and self.command == 'PUT' and status == 201:
            self._remember(m.group(1), body,
                           self.headers.get('Content-Type', ''),
                           r.getheader('Docker-Content-Digest', ''))
        self._send(status, out, rbody)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any


class ReferrersProxy:
    """A referrers-API proxy for upstream "host:port", on 127.0.0.1."""

    def __init__(self, upstream, page_size=2):
        self.upstream = upstream
        self.page_size = max(1, int(page_size))
        self.lock = threading.Lock()
        self.refs = {}
        self.seen = []
        self.server = None
        self.thread = None
        self.host = None

    def __enter__(self):
        self.server = _Server(('127.0.0.1', 0), _Handler)
        self.server.proxy = self
        self.host = '127.0.0.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def requests(self):
        with self.lock:
            return list(self.seen)
