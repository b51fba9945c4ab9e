#!/usr/bin/env python3
"""harbor_catalog.py - a Harbor-style registry double for the whole-namespace
tests (issue 14): a plain-HTTP proxy in front of a real docker-registry that

  * refuses GET /v2/_catalog (401 UNAUTHORIZED, or 403 DENIED with
    refuse=403), as Harbor and TCR do for accounts without admin rights;
  * serves the Harbor API v2 listings from the real registry's catalog:
      GET /api/v2.0/projects?page=N&page_size=M
          -> [{"name": "team", "project_id": 1, ...}, ...]
      GET /api/v2.0/projects/<project>/repositories?page=N&page_size=M
          -> [{"name": "team/app", "id": 7, ...}, ...]
    with basic auth (user/password; 401 otherwise), paginated by page;
    with harbor=False they answer 404 (a registry without the Harbor API);
  * forwards every other GET/HEAD to the registry unchanged (read-only: the
    double is only ever a source).

Python 3 stdlib only. In process:

    with HarborCatalog(reg, 'user', 'pw') as h:   # reg: harness.Registry
        ... point the client at h.host ...
        h.api_calls   # paths of the /api/v2.0 requests answered 200
"""
import base64
import http.client
import http.server
import json
import socket
import threading
import urllib.parse


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class HarborCatalog:
    def __init__(self, reg, username, password, harbor=True, refuse=401):
        self.reg = reg
        self.username = username
        self.password = password
        self.harbor = harbor
        self.refuse = refuse
        self.port = _free_port()
        self.host = '127.0.0.1:%d' % self.port
        self.api_calls = []
        self.catalog_calls = 0
        self.lock = threading.Lock()
        self.srv = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _names(self):
        """Every repository of the real registry (bounded paging)."""
        names, path = [], '/v2/_catalog?n=100'
        for _ in range(1000):
            status, headers, body = self.reg.request('GET', path)
            if status != 200:
                raise RuntimeError('catalog: HTTP %d' % status)
            names += json.loads(body).get('repositories') or []
            link = headers.get('Link')
            if not link:
                break
            path = link.split(';')[0].strip().strip('<>')
        return names

    def start(self):
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def _send(self, status, obj, extra=None):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != 'HEAD':
                    self.wfile.write(body)

            def _authorized(self):
                raw = '%s:%s' % (double.username, double.password)
                want = 'Basic ' + base64.b64encode(raw.encode()).decode()
                return self.headers.get('Authorization') == want

            def _api(self, url):
                if not double.harbor:
                    return self._send(404, {'errors': [
                        {'code': 'NOT_FOUND', 'message': 'no such API'}]})
                if not self._authorized():
                    return self._send(401, {'errors': [
                        {'code': 'UNAUTHORIZED', 'message': 'unauthorized'}]})
                q = urllib.parse.parse_qs(url.query)
                page = max(1, int(q.get('page', ['1'])[0]))
                size = min(100, max(1, int(q.get('page_size', ['10'])[0])))
                parts = url.path.split('/')
                names = double._names()
                if url.path == '/api/v2.0/projects':
                    items = [{'name': p, 'project_id': i + 1}
                             for i, p in enumerate(sorted(
                                 {n.split('/')[0] for n in names}))]
                elif (len(parts) == 6 and parts[3] == 'projects' and
                      parts[5] == 'repositories'):
                    proj = urllib.parse.unquote(parts[4])
                    items = [{'name': n, 'id': i + 1}
                             for i, n in enumerate(sorted(names))
                             if n.startswith(proj + '/')]
                else:
                    return self._send(404, {'errors': [
                        {'code': 'NOT_FOUND', 'message': 'not found'}]})
                with double.lock:
                    double.api_calls.append(self.path)
                return self._send(200, items[(page - 1) * size:page * size],
                                  {'X-Total-Count': str(len(items))})

            def _forward(self):
                conn = http.client.HTTPConnection(double.reg.host, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ('host', 'connection')}
                    conn.request(self.command, self.path, headers=headers)
                    r = conn.getresponse()
                    body = r.read()
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in ('connection',
                                             'transfer-encoding',
                                             'content-length'):
                            self.send_header(k, v)
                    self.send_header('Content-Length',
                                     r.getheader('Content-Length') or
                                     str(len(body)))
                    self.end_headers()
                    if self.command != 'HEAD':
                        self.wfile.write(body)
                finally:
                    conn.close()

            def _any(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path == '/v2/_catalog':
                    with double.lock:
                        double.catalog_calls += 1
                    if double.refuse == 403:
                        return self._send(403, {'errors': [
                            {'code': 'DENIED', 'message': 'catalog needs '
                             'admin rights'}]})
                    return self._send(401, {'errors': [
                        {'code': 'UNAUTHORIZED', 'message': 'catalog needs '
                         'admin rights'}]})
                if url.path.startswith('/api/'):
                    return self._api(url)
                return self._forward()

            do_GET = _any
            do_HEAD = _any

        self.srv = http.server.ThreadingHTTPServer(('127.0.0.1', self.port),
                                                   Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None
