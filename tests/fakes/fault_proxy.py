#!/usr/bin/env python3
"""fault_proxy.py - a fault-injecting HTTP reverse proxy for registry tests.

Sits in front of a real docker-registry (plain HTTP) on 127.0.0.1 and
forwards every request, streaming bodies both ways (blobs may be many MiB;
nothing is buffered whole), unless a fault rule fires for it. Python 3
stdlib only, threaded (one thread per client connection, HTTP/1.1
keep-alive).

In process:

    with FaultProxy(reg.host, seed=7) as p:          # reg.host = "ip:port"
        p.set_rules([{'method': 'GET', 'path': r'/blobs/sha256:',
                      'action': '503', 'every': 3, 'times': 2}])
        ... point the client at p.host ...
        p.log()   # [{'seq','t','method','path','status','fault',...}]

Stand-alone:

    fault_proxy.py --upstream 127.0.0.1:PORT [--port N] [--seed N]
                   [--rules FILE.json]
    prints "LISTENING <port>" once ready; SIGTERM/SIGINT stop it.

Control endpoints (never logged, never faulted):
  GET    /__log     -> JSON list of the requests seen, in arrival order
  DELETE /__log     -> clears the log
  GET    /__faults  -> {"rules": [...], "seed": N} with per-rule counters
  POST   /__faults  -> body {"rules": [...], "seed": N} (or a bare list):
                       replaces the rules, resets counters and the RNG

A rule (JSON object):
  method   "GET", "HEAD|GET" or absent (any method)
  path     regular expression searched in the request target (path and
           query); absent = any
  action   "503" / "429" / "500" / "404" (shortcuts for "status"),
           "status" (with "status": CODE), "drop" (read the request, close
           without answering), "cut" (forward, send the headers and half the
           body, then close), "truncate" (like cut but without
           Content-Length, so the short body ends "cleanly" at EOF),
           "corrupt" (forward the full body with one byte flipped in the
           middle), "delay" (wait, then forward), "ratelimit" (a token
           bucket of "rate" requests per second, burst one second's worth,
           over every matching request: all test clients are one client,
           127.0.0.1; beyond it answer 429, with Retry-After only when
           "retry_after" is given),
           "cut_request" (forward the request, and close both connections
           after after_bytes bytes of its body: the upstream keeps a
           partial body), "lose_request" (read after_bytes bytes of the
           body, then close without forwarding anything: the request is
           lost before the upstream), "norange" (forward without the
           Range header: a server that ignores Range), "stall" (read
           after_bytes bytes of the body, forward nothing, then wait (at
           most 120 s) until the client goes away: a client killed
           mid-upload, behind a front proxy that buffers request bodies)
  after_bytes  N: where "cut"/"truncate" cut the answer body, and where
           "cut_request"/"lose_request" cut the request body (default: half
           the Content-Length)
  nth      N or [N, ...]: fire on those matching requests (counting from 1)
  every    N: fire on every Nth matching request
  prob     p: fire with probability p (seeded RNG: deterministic for a
           given request order)
           (none of nth/every/prob: fire on every matching request)
  times    fire at most this many times in total
  retry_after  seconds for the Retry-After header of a status answer
           ("503" and "429" default to 1; others send none unless given)
  delay_ms     wait this long first (any action; "delay" requires it)
  body     answer body for a status action (default: a registry-style
           JSON error)
  id       a name, copied into the log entries it produced

`connections` counts the client connections accepted since start.

Log entries also hold 'range' (the request's Range header, or None) and
'req_bytes' (request body bytes read from the client).

Every rule counts each request it matches; the first rule (in list order)
that decides to fire acts. Location and Link headers pointing at the
upstream are rewritten to the proxy, so clients keep going through it.
Basic auth passes through untouched (all headers are forwarded except the
hop-by-hop ones).
"""

import argparse
import http.client
import http.server
import json
import random
import re
import signal
import socket
import sys
import threading
import time

__all__ = ['FaultProxy', 'Rule']

CHUNK = 64 * 1024
HOP_BY_HOP = {'connection', 'keep-alive', 'proxy-authenticate',
              'proxy-authorization', 'te', 'trailer', 'trailers',
              'transfer-encoding', 'upgrade', 'expect',
              'proxy-connection'}
STATUS_SHORTCUTS = {'503': 503, '429': 429, '500': 500, '404': 404}
ACTIONS = {'status', 'drop', 'cut', 'truncate', 'corrupt', 'delay',
           'cut_request', 'lose_request', 'norange', 'stall', 'ratelimit'} | set(
               STATUS_SHORTCUTS)
REGISTRY_CODES = {429: 'TOOMANYREQUESTS', 500: 'UNKNOWN', 502: 'UNKNOWN',
                  503: 'UNAVAILABLE', 504: 'UNKNOWN', 400: 'UNSUPPORTED',
                  403: 'DENIED', 401: 'UNAUTHORIZED'}


class Rule:
    """One fault rule; see the module docstring for the fields."""

    def __init__(self, spec, index=0):
        if not isinstance(spec, dict):
            raise ValueError('a rule must be an object: %r' % (spec,))
        unknown = set(spec) - {'method', 'path', 'action', 'status', 'nth',
                               'every', 'prob', 'times', 'retry_after',
                               'delay_ms', 'body', 'id', 'after_bytes',
                               'rate'}
        if unknown:
            raise ValueError('unknown rule fields: %s' % sorted(unknown))
        self.spec = dict(spec)
        self.id = str(spec.get('id', index))
        action = str(spec.get('action', ''))
        if action not in ACTIONS:
            raise ValueError('unknown action %r' % action)
        self.action = action
        self.status = STATUS_SHORTCUTS.get(action)
        if action == 'status':
            self.status = int(spec['status'])
        self.rate = None
        if action == 'ratelimit':
            self.status = 429
            self.rate = float(spec['rate'])
            if self.rate <= 0:
                raise ValueError('a ratelimit rule needs rate > 0')
            self.tokens = self.rate
            self.last = time.monotonic()
        m = spec.get('method')
        self.methods = None if not m else {
            x.strip().upper() for x in str(m).split('|') if x.strip()}
        self.path = re.compile(spec['path']) if spec.get('path') else None
        nth = spec.get('nth')
        if nth is None:
            self.nth = None
        elif isinstance(nth, list):
            self.nth = {int(x) for x in nth}
        else:
            self.nth = {int(nth)}
        self.every = int(spec['every']) if spec.get('every') else None
        if self.every is not None and self.every < 1:
            raise ValueError('every must be >= 1')
        self.prob = float(spec['prob']) if 'prob' in spec else None
        self.times = int(spec['times']) if 'times' in spec else None
        ra = spec.get('retry_after')
        if ra is None and self.status in (429, 503) and \
                action != 'ratelimit':
            ra = 1
        self.retry_after = ra
        self.delay_ms = int(spec.get('delay_ms', 0))
        if action == 'delay' and self.delay_ms <= 0:
            raise ValueError('a delay rule needs delay_ms > 0')
        self.body = spec.get('body')
        ab = spec.get('after_bytes')
        self.after_bytes = int(ab) if ab is not None else None
        if self.after_bytes is not None and self.after_bytes < 0:
            raise ValueError('after_bytes must be >= 0')
        self.matched = 0
        self.fired = 0

    def matches(self, method, target):
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self.path is None or self.path.search(target) is not None

    def decide(self, rng):
        """Called (under the proxy's lock) for a matching request: counts
        it and says whether the fault fires."""
        self.matched += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.rate is not None:
            now = time.monotonic()
            self.tokens = min(self.rate,
                              self.tokens + (now - self.last) * self.rate)
            self.last = now
            fire = self.tokens < 1
            if not fire:
                self.tokens -= 1
        elif self.nth is not None:
            fire = self.matched in self.nth
        elif self.every is not None:
            fire = self.matched % self.every == 0
        elif self.prob is not None:
            fire = rng.random() < self.prob
        else:
            fire = True
        if fire:
            self.fired += 1
        return fire

    def describe(self):
        d = dict(self.spec)
        d['id'] = self.id
        d['matched'] = self.matched
        d['fired'] = self.fired
        return d

    def error_body(self, target):
        if self.body is not None:
            return self.body.encode() if isinstance(self.body, str) \
                else bytes(self.body)
        if self.status == 404:
            code = 'BLOB_UNKNOWN' if '/blobs/' in target else \
                'MANIFEST_UNKNOWN'
        else:
            code = REGISTRY_CODES.get(self.status, 'UNKNOWN')
        return json.dumps({'errors': [{
            'code': code, 'message': 'injected fault (HTTP %d)' % self.status,
            'detail': None}]}).encode()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy = None

    def handle_error(self, request, client_address):
        # A client that went away (killed, or gave up on a cut answer) is
        # what the faults are about, not an error of the proxy.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    timeout = 120  # a stuck client never pins a thread forever
    server_version = 'fault-proxy/1'

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.proxy._lock:  # one handler per client connection
            self.proxy.connections += 1

    # ------------------------------------------------------------ plumbing

    @property
    def proxy(self):
        return self.server.proxy

    def _body_reader(self):
        """A generator over the request body (Content-Length or chunked);
        yields nothing for a body-less request. Counts what it reads in
        the log entry ('req_bytes')."""
        for data in self._body_chunks():
            e = getattr(self, '_entry', None)
            if e is not None:
                e['req_bytes'] += len(data)
            yield data

    def _body_chunks(self):
        te = (self.headers.get('Transfer-Encoding') or '').lower()
        if 'chunked' in te:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError('client closed mid-body')
                size = int(line.split(b';', 1)[0].strip() or b'0', 16)
                if size == 0:
                    # trailers, up to the empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b'\r\n', b'\n'):
                            return
                left = size
                while left > 0:
                    data = self.rfile.read(min(CHUNK, left))
                    if not data:
                        raise ConnectionError('client closed mid-body')
                    left -= len(data)
                    yield data
                self.rfile.readline(3)  # CRLF after the chunk
        n = int(self.headers.get('Content-Length') or 0)
        while n > 0:
            data = self.rfile.read(min(CHUNK, n))
            if not data:
                raise ConnectionError('client closed mid-body')
            n -= len(data)
            yield data

    def _drain(self):
        total = 0
        for data in self._body_reader():
            total += len(data)
        return total

    def _hard_close(self):
        """Closes the client connection right after this request."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _rewrite(self, value):
        up = self.proxy.upstream_host
        return value.replace('//' + up, '//' + self.proxy.host)

    # ------------------------------------------------------------ control

    def _control(self):
        p = self.proxy
        path = self.path.split('?', 1)[0]
        status, out = 404, {'error': 'unknown control endpoint'}
        try:
            if path == '/__log' and self.command == 'GET':
                status, out = 200, p.log()
            elif path == '/__log' and self.command == 'DELETE':
                p.clear_log()
                status, out = 200, {'ok': True}
            elif path == '/__faults' and self.command == 'GET':
                status, out = 200, p.faults()
            elif path == '/__faults' and self.command in ('POST', 'PUT'):
                raw = b''.join(self._body_reader())
                spec = json.loads(raw or b'[]')
                if isinstance(spec, list):
                    p.set_rules(spec)
                else:
                    p.set_rules(spec.get('rules', []), seed=spec.get('seed'))
                status, out = 200, p.faults()
        except (ValueError, KeyError, re.error) as e:
            status, out = 400, {'error': str(e)}
        data = json.dumps(out, indent=1).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # ------------------------------------------------------------- proxy

    def _any(self):
        if self.path.startswith('/__'):
            self._control()
            return
        p = self.proxy
        entry, rule = p._begin(self.command, self.path)
        entry['range'] = self.headers.get('Range')
        self._entry = entry
        try:
            if rule is not None and rule.delay_ms > 0:
                time.sleep(rule.delay_ms / 1000.0)
            action = rule.action if rule is not None else None
            if rule is not None and rule.status is not None:
                self._answer_status(rule, entry)
            elif action == 'drop':
                self._drain()
                entry['status'] = 0
                self._hard_close()
            elif action in ('lose_request', 'stall'):
                limit = self._request_cut(rule)
                for data in self._body_reader():
                    if entry['req_bytes'] >= limit:
                        break
                entry['status'] = 0
                entry['damaged'] = action
                if action == 'stall':
                    self.connection.settimeout(120)
                    try:
                        while self.connection.recv(CHUNK):
                            pass
                    except OSError:
                        pass
                self._hard_close()
            elif action == 'cut_request':
                self._forward_cut(entry, self._request_cut(rule))
            else:
                if action == 'norange':
                    del self.headers['Range']
                self._forward(entry, action if action in (
                    'cut', 'truncate', 'corrupt') else None,
                    rule.after_bytes if rule is not None else None)
        except (OSError, ConnectionError, http.client.HTTPException) as e:
            entry['error'] = '%s: %s' % (type(e).__name__, e)
            self.close_connection = True
        finally:
            p._end(entry)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

    def _answer_status(self, rule, entry):
        self._drain()
        body = rule.error_body(self.path)
        # Logged before it is sent: a client that gave up on the request
        # meanwhile (a blob copy cancelling its GET because its upload
        # start failed) makes the write fail, not the fault unhappen.
        entry['status'] = rule.status
        self.send_response(rule.status)
        if rule.retry_after is not None:
            self.send_header('Retry-After', str(rule.retry_after))
        self.send_header('Content-Type', 'application/json; charset=utf-8')
        self.send_header('Docker-Distribution-Api-Version', 'registry/2.0')
        self.send_header('Content-Length',
                         '0' if self.command == 'HEAD' else str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _request_cut(self, rule):
        if rule.after_bytes is not None:
            return rule.after_bytes
        return int(self.headers.get('Content-Length') or 0) // 2

    def _forward_cut(self, entry, limit):
        """Forwards the request upstream and closes both sides once limit
        body bytes went up: the upstream sees a body cut short."""
        p = self.proxy
        conn = http.client.HTTPConnection(p.upstream_addr[0],
                                          p.upstream_addr[1], timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True,
                            skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    conn.putheader(k, v)
            conn.endheaders()
            up = 0
            for data in self._body_reader():
                data = data[:max(0, limit - up)]
                if data:
                    conn.send(data)
                    up += len(data)
                if up >= limit:
                    break
            entry['bytes'] = up
            entry['status'] = 0
            entry['damaged'] = 'cut_request'
        finally:
            try:
                conn.sock and conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
            self._hard_close()

    def _forward(self, entry, mangle, after_bytes=None):
        p = self.proxy
        conn = http.client.HTTPConnection(p.upstream_addr[0],
                                          p.upstream_addr[1], timeout=120)
        try:
            self._send_upstream(conn)
            try:
                r = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                entry['error'] = 'upstream: %s' % e
                entry['status'] = 502
                msg = b'{"errors":[{"code":"UNKNOWN","message":"upstream"}]}'
                self.send_response(502)
                self.send_header('Content-Length', str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            entry['status'] = r.status
            self._relay(r, entry, mangle, after_bytes)
        finally:
            conn.close()

    def _send_upstream(self, conn):
        conn.putrequest(self.command, self.path, skip_host=True,
                        skip_accept_encoding=True)
        chunked = 'chunked' in (self.headers.get('Transfer-Encoding') or
                                '').lower()
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in HOP_BY_HOP or (lk == 'content-length' and chunked):
                continue
            conn.putheader(k, v)
        if chunked:
            conn.putheader('Transfer-Encoding', 'chunked')
        conn.endheaders()
        for data in self._body_reader():
            if chunked:
                conn.send(b'%x\r\n' % len(data) + data + b'\r\n')
            else:
                conn.send(data)
        if chunked:
            conn.send(b'0\r\n\r\n')

    def _relay(self, r, entry, mangle, after_bytes=None):
        """Streams the upstream answer to the client, optionally damaged."""
        head = self.command == 'HEAD' or r.status in (204, 304) or \
            100 <= r.status < 200
        length = r.getheader('Content-Length')
        length = int(length) if length is not None and length.isdigit() \
            else None
        if head or length == 0:
            mangle = None  # nothing to damage
        close = False
        self.send_response(r.status)
        for k, v in r.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP:
                continue
            if lk == 'content-length' and (mangle == 'truncate' or
                                           (length is None and not head)):
                continue
            if lk in ('location', 'link'):
                v = self._rewrite(v)
            self.send_header(k, v)
        chunked_out = False
        if not head and length is None and mangle != 'truncate':
            # Upstream used chunked (or close-delimited) framing: re-chunk.
            self.send_header('Transfer-Encoding', 'chunked')
            chunked_out = True
        if mangle in ('cut', 'truncate'):
            self.send_header('Connection', 'close')
            close = True
        self.end_headers()
        if head:
            return
        # The byte offset where the damage happens: half the body.
        limit = None
        if mangle in ('cut', 'truncate', 'corrupt'):
            if length is None:
                data = r.read()  # unknown size: must see it all (small)
                length = len(data)
                src = iter([data])
            else:
                src = None
            limit = length // 2 if after_bytes is None else \
                min(after_bytes, length)
        else:
            src = None
        sent = 0

        def chunks():
            if src is not None:
                yield from src
                return
            while True:
                data = r.read(CHUNK)
                if not data:
                    return
                yield data

        for data in chunks():
            if mangle in ('cut', 'truncate') and sent + len(data) > limit:
                data = data[:limit - sent]
                if data:
                    self.wfile.write(data)
                    sent += len(data)
                entry['bytes'] = sent
                entry['damaged'] = mangle
                self._hard_close()
                return
            if mangle == 'corrupt' and sent <= limit < sent + len(data):
                i = limit - sent
                data = data[:i] + bytes([data[i] ^ 0xff]) + data[i + 1:]
                entry['damaged'] = mangle
            if chunked_out:
                self.wfile.write(b'%x\r\n' % len(data) + data + b'\r\n')
            else:
                self.wfile.write(data)
            sent += len(data)
            entry['bytes'] = sent  # so far, also when the client goes away
        if chunked_out:
            self.wfile.write(b'0\r\n\r\n')
        entry['bytes'] = sent
        if close:
            self._hard_close()


class FaultProxy:
    """The proxy, run in this process (threads) or from main()."""

    def __init__(self, upstream, rules=None, seed=0, port=0):
        if isinstance(upstream, (tuple, list)):
            host, uport = upstream
        else:
            host, _, uport = str(upstream).rpartition(':')
        self.upstream_addr = (host, int(uport))
        self.upstream_host = '%s:%d' % self.upstream_addr
        self._want_port = int(port)
        self.port = None
        self.host = None
        self.url = None
        self._lock = threading.Lock()
        self._rules = []
        self._seed = seed
        self._rng = random.Random(seed)
        self._log = []
        self._seq = 0
        self.connections = 0  # client connections accepted so far
        self._srv = None
        self._thread = None
        if rules:
            self.set_rules(rules, seed=seed)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        for _ in range(20):
            srv = _Server(('127.0.0.1', self._want_port), _Handler)
            if srv.server_address[1] != 5000 or self._want_port:
                break
            srv.server_close()  # never take the registry's usual port
        srv.proxy = self
        self._srv = srv
        self.port = srv.server_address[1]
        self.host = '127.0.0.1:%d' % self.port
        self.url = 'http://' + self.host
        self._thread = threading.Thread(target=srv.serve_forever,
                                        kwargs={'poll_interval': 0.1},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        srv, self._srv = self._srv, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # ---------------------------------------------------------- rules/log

    def set_rules(self, rules, seed=None):
        """Replaces the rules (list of dicts), resets counters and, when
        seed is given, the RNG. Raises ValueError on a bad rule."""
        parsed = [Rule(r, i) for i, r in enumerate(rules or [])]
        with self._lock:
            self._rules = parsed
            if seed is not None:
                self._seed = seed
            self._rng = random.Random(self._seed)

    def faults(self):
        with self._lock:
            return {'seed': self._seed,
                    'rules': [r.describe() for r in self._rules]}

    def log(self):
        """A copy of the request log: dicts with seq, t (time.time() at
        arrival), method, path, status (0 = dropped, None = not finished),
        fault (action or None), rule (id or None), bytes, damaged, error."""
        with self._lock:
            return [dict(e) for e in self._log]

    def clear_log(self):
        with self._lock:
            self._log = []

    def _begin(self, method, target):
        with self._lock:
            self._seq += 1
            chosen = None
            for r in self._rules:
                if r.matches(method, target) and r.decide(self._rng) and \
                        chosen is None:
                    chosen = r
            entry = {'seq': self._seq, 't': time.time(), 'method': method,
                     'path': target, 'status': None,
                     'fault': chosen.action if chosen else None,
                     'rule': chosen.id if chosen else None,
                     'bytes': 0, 'damaged': None, 'error': None,
                     'range': None, 'req_bytes': 0,
                     'done': None}
            self._log.append(entry)
            return entry, chosen

    def _end(self, entry):
        with self._lock:
            entry['done'] = time.time()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--upstream', required=True, help='HOST:PORT')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--rules', help='JSON file: a list of rules')
    a = ap.parse_args(argv)
    rules = []
    if a.rules:
        with open(a.rules) as f:
            rules = json.load(f)
    proxy = FaultProxy(a.upstream, rules=rules, seed=a.seed, port=a.port)
    proxy.start()
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    print('LISTENING %d' % proxy.port, flush=True)
    while not done.wait(0.5):
        pass
    proxy.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
