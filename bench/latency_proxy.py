#!/usr/bin/env python3
"""latency_proxy.py - an HTTP/1.1 proxy on 127.0.0.1 that adds a fixed delay
to every request and counts requests by kind (Python 3 stdlib, asyncio).

It sits in front of one plain-HTTP registry: each client connection gets its
own upstream connection (keep-alive is kept on both sides), each request is
held for `delay_ms` before it is forwarded, then the request body and the
response are relayed as they come (Content-Length, chunked, or until close).
The Host header is forwarded unchanged, so a docker-registry builds upload
Locations that point back at the proxy.

Used by bench/run.py (in-process):

    with LatencyProxy('127.0.0.1', 5001, delay_ms=50) as p:
        ... point a client at p.host ...
        print(p.counts())      # {'HEAD manifest': 12, 'PUT upload': 30, ...}

or standalone (prints the counts as JSON on SIGINT/SIGTERM):

    python3 latency_proxy.py --upstream 127.0.0.1:5001 --delay-ms 50 \
        [--listen-port N]
"""

import argparse
import asyncio
import collections
import json
import re
import signal
import socket
import sys
import threading
import time

__all__ = ['LatencyProxy', 'classify']

_CHUNK = 256 * 1024
_BLOB = re.compile(r'^/v2/.+/blobs/sha256:[0-9a-f]{64}$')
_UPLOAD = re.compile(r'^/v2/.+/blobs/uploads/[^/]+$')


def classify(method, target):
    """A short name for a registry request: 'HEAD manifest', 'POST mount',
    'PUT upload', 'GET blob', 'GET tags', 'GET ping', ..."""
    path, _, query = target.partition('?')
    if re.match(r'^[a-z]+://', path):  # absolute-form target
        path = '/' + path.split('/', 3)[3] if path.count('/') >= 3 else '/'
    if path in ('/v2/', '/v2'):
        kind = 'ping'
    elif path == '/v2/_catalog':
        kind = 'catalog'
    elif path.endswith('/tags/list'):
        kind = 'tags'
    elif '/manifests/' in path:
        kind = 'manifest'
    elif path.endswith('/blobs/uploads/') or path.endswith('/blobs/uploads'):
        kind = 'mount' if 'mount=' in query else 'upload-start'
    elif _UPLOAD.match(path):
        kind = 'upload'
    elif _BLOB.match(path):
        kind = 'blob'
    else:
        kind = 'other'
    return '%s %s' % (method, kind)


def _headers(head):
    """(first line, [(name, value)]) of a raw header block."""
    lines = head.decode('latin-1').split('\r\n')
    out = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(':')
        out.append((name.strip(), value.strip()))
    return lines[0], out


def _get(headers, name):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def _relay_n(reader, writer, n):
    while n > 0:
        data = await reader.read(min(n, _CHUNK))
        if not data:
            raise ConnectionError('short body')
        writer.write(data)
        await writer.drain()
        n -= len(data)


async def _relay_chunked(reader, writer):
    while True:
        line = await reader.readuntil(b'\r\n')
        writer.write(line)
        size = int(line.split(b';')[0].strip() or b'0', 16)
        if size == 0:
            while True:  # trailers, then the empty line
                t = await reader.readuntil(b'\r\n')
                writer.write(t)
                if t == b'\r\n':
                    break
            await writer.drain()
            return
        await _relay_n(reader, writer, size + 2)


async def _relay_eof(reader, writer):
    while True:
        data = await reader.read(_CHUNK)
        if not data:
            return
        writer.write(data)
        await writer.drain()


class LatencyProxy:
    """A proxy running its own asyncio loop in a daemon thread.

    host: '127.0.0.1:PORT' to give to clients; delay_ms may be changed
    between runs; counts() / reset() read and clear the request counters.
    """

    def __init__(self, upstream_host, upstream_port, delay_ms=50,
                 listen_port=0):
        self.upstream = (upstream_host, int(upstream_port))
        self.delay = delay_ms / 1000.0
        self.listen_port = listen_port
        self.port = None
        self.host = None
        self._counts = collections.Counter()
        self._timeline = []  # (arrived, answered, kind), time.monotonic()
        self.connections = 0  # client connections accepted since reset()
        self._lock = threading.Lock()
        self._loop = None
        self._server = None
        self._thread = None
        self._ready = threading.Event()
        self._error = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def counts(self):
        with self._lock:
            return dict(self._counts)

    def total(self):
        with self._lock:
            return sum(self._counts.values())

    def reset(self):
        with self._lock:
            self._counts.clear()
            del self._timeline[:]
            self.connections = 0

    def timeline(self):
        """[(arrived, answered, kind)] per request since the last reset,
        in time.monotonic() seconds: when its head arrived and when its
        answer was relayed."""
        with self._lock:
            return list(self._timeline)

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError('latency proxy did not start')
        if self._error is not None:
            raise RuntimeError('latency proxy: %s' % self._error)
        return self

    def stop(self):
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _shutdown(self):
        if self._server is not None:
            self._server.close()
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.stop()

    def _run(self):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, '127.0.0.1',
                                     self.listen_port, limit=1 << 20))
            self.port = self._server.sockets[0].getsockname()[1]
            self.host = '127.0.0.1:%d' % self.port
        except Exception as e:  # reported by start()
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.close()

    async def _handle(self, creader, cwriter):
        ureader = uwriter = None
        with self._lock:
            self.connections += 1
        try:
            while True:
                try:
                    first = await creader.readexactly(1)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if first == b'\x16':
                    # A TLS ClientHello (a client probing https first):
                    # refuse at once, as a plain-HTTP server would.
                    with self._lock:
                        self._counts['TLS probe'] += 1
                    if self.delay > 0:
                        await asyncio.sleep(self.delay)
                    cwriter.write(b'HTTP/1.1 400 Bad Request\r\n'
                                  b'Connection: close\r\n'
                                  b'Content-Length: 0\r\n\r\n')
                    await cwriter.drain()
                    return
                try:
                    head = first + await creader.readuntil(b'\r\n\r\n')
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, headers = _headers(head)
                parts = line.split(' ')
                if len(parts) != 3:
                    return
                method, target = parts[0], parts[1]
                kind = classify(method, target)
                arrived = time.monotonic()
                with self._lock:
                    self._counts[kind] += 1
                if self.delay > 0:
                    await asyncio.sleep(self.delay)
                if uwriter is None:
                    ureader, uwriter = await asyncio.open_connection(
                        *self.upstream, limit=1 << 20)
                    sock = uwriter.get_extra_info('socket')
                    if sock is not None:
                        sock.setsockopt(socket.IPPROTO_TCP,
                                        socket.TCP_NODELAY, 1)
                # Answer 100-continue here so the body starts right away;
                # the upstream never sees Expect.
                expect = (_get(headers, 'Expect') or '').lower()
                fwd = [(k, v) for k, v in headers if k.lower() != 'expect']
                out = line + '\r\n' + ''.join(
                    '%s: %s\r\n' % kv for kv in fwd) + '\r\n'
                uwriter.write(out.encode('latin-1'))
                if expect == '100-continue':
                    cwriter.write(b'HTTP/1.1 100 Continue\r\n\r\n')
                    await cwriter.drain()
                te = (_get(headers, 'Transfer-Encoding') or '').lower()
                cl = _get(headers, 'Content-Length')
                if 'chunked' in te:
                    await _relay_chunked(creader, uwriter)
                elif cl:
                    await _relay_n(creader, uwriter, int(cl))
                await uwriter.drain()
                while True:
                    rhead = await ureader.readuntil(b'\r\n\r\n')
                    rline, rheaders = _headers(rhead)
                    status = int(rline.split(' ')[1])
                    if 100 <= status < 200:
                        continue  # interim responses: already handled
                    break
                cwriter.write(rhead)
                close = ((_get(rheaders, 'Connection') or '').lower() ==
                         'close' or (_get(headers, 'Connection') or '')
                         .lower() == 'close')
                rte = (_get(rheaders, 'Transfer-Encoding') or '').lower()
                rcl = _get(rheaders, 'Content-Length')
                if method == 'HEAD' or status in (204, 304):
                    pass
                elif 'chunked' in rte:
                    await _relay_chunked(ureader, cwriter)
                elif rcl is not None:
                    await _relay_n(ureader, cwriter, int(rcl))
                else:
                    await _relay_eof(ureader, cwriter)
                    close = True
                await cwriter.drain()
                with self._lock:
                    self._timeline.append((arrived, time.monotonic(), kind))
                if close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError,
                asyncio.LimitOverrunError, OSError):
            return
        except asyncio.CancelledError:
            return
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    try:
                        w.close()
                    except Exception:
                        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--upstream', required=True, help='HOST:PORT')
    ap.add_argument('--delay-ms', type=float, default=50)
    ap.add_argument('--listen-port', type=int, default=0)
    args = ap.parse_args()
    host, _, port = args.upstream.rpartition(':')
    proxy = LatencyProxy(host, int(port), args.delay_ms, args.listen_port)
    proxy.start()
    print('listening on %s' % proxy.host, flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(1):
        pass
    proxy.stop()
    json.dump(proxy.counts(), sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == '__main__':
    main()
