"""serve.py - the one way the HTTP test doubles listen: a threading server
on 127.0.0.1 (port 0 = a free one), "LISTENING <port>" printed for the test
that started it, served until killed."""
from http.server import ThreadingHTTPServer


def serve_loopback(handler, port=0):
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
