#!/usr/bin/env python3
"""fake_tc_metadata.py - a fake CVM metadata service: the CAM role
credentials part, as Tencent Cloud documents it (and the official SDKs'
CVM role providers read it).

  GET /latest/meta-data/cam/security-credentials/        -> the role name
                                                             (text), or 404
                                                             with --no-role
  GET /latest/meta-data/cam/security-credentials/<role>  -> {"TmpSecretId",
      "TmpSecretKey", "Token", "ExpiredTime": Unix s, "Expiration": ISO
      8601, "Code": "Success"}; 404 for another role name

Each fetch of the role's credentials hands out the next entry of
--creds (a JSON file: [{"secret_id", "secret_key", "token"}, ...]; the
last one is repeated), with ExpiredTime = now + --ttl (a --ttl below 300
makes them due for renewal at once). --code answers another Code.

Control (no auth): GET /__count -> {"list": N, "creds": N} fetches so far.
Usage: fake_tc_metadata.py --role NAME --creds FILE [--ttl S] [--no-role]
       [--code C] [--port N]. Binds 127.0.0.1, prints "LISTENING <port>".
"""
import argparse
import datetime
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from serve import serve_loopback  # noqa: E402

PREFIX = "/latest/meta-data/cam/security-credentials/"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    opts = None
    creds = []
    lock = threading.Lock()
    count = {"list": 0, "creds": 0}

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, ctype="application/json"):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        o = self.opts
        if self.path == "/__count":
            with self.lock:
                self.send(200, json.dumps(self.count))
            return
        if self.path == PREFIX:
            with self.lock:
                self.count["list"] += 1
            if o.no_role:
                self.send(404, "<html>404 Not Found</html>", "text/html")
            else:
                self.send(200, o.role, "text/plain")
            return
        if self.path == PREFIX + o.role and not o.no_role:
            with self.lock:
                n = self.count["creds"]
                self.count["creds"] += 1
            c = self.creds[min(n, len(self.creds) - 1)]
            now = int(time.time())
            exp = now + o.ttl
            self.send(200, json.dumps({
                "TmpSecretId": c["secret_id"],
                "TmpSecretKey": c["secret_key"],
                "Token": c["token"],
                "ExpiredTime": exp,
                "Expiration": datetime.datetime.fromtimestamp(
                    exp, datetime.timezone.utc).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"),
                "Code": o.code}))
            return
        self.send(404, "<html>404 Not Found</html>", "text/html")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", default="CVM_QcsRole")
    ap.add_argument("--creds", required=True)
    ap.add_argument("--ttl", type=int, default=7200)
    ap.add_argument("--no-role", action="store_true")
    ap.add_argument("--code", default="Success")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    with open(args.creds, encoding="utf-8") as f:
        Handler.creds = json.load(f)
    Handler.opts = args
    serve_loopback(Handler, args.port)


if __name__ == "__main__":
    sys.exit(main())
