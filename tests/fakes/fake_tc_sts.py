#!/usr/bin/env python3
"""fake_tc_sts.py - a fake Tencent Cloud STS (sts / 2018-08-13) that
answers AssumeRoleWithWebIdentity, the unsigned call the official SDKs'
TKE OIDC providers make: POST / with "Authorization: SKIP", X-TC-Action,
X-TC-Version, X-TC-Region, X-TC-Timestamp and a JSON body {ProviderId,
WebIdentityToken, RoleArn, RoleSessionName, DurationSeconds}. Everything
is checked against the options (a mismatch is the documented error
envelope with InvalidParameter / AuthFailure codes); the answer is
{"Response": {"Credentials": {"Token", "TmpSecretId", "TmpSecretKey"},
"ExpiredTime": now + --ttl, "Expiration": ISO 8601, "RequestId"}}, the
next entry of --creds each time (the last one repeated). --error CODE
answers that error instead.

Control (no auth): GET /__count -> {"calls": N, "sessions": [...]} and
GET /__requests -> the request bodies seen.
Usage: fake_tc_sts.py --creds FILE --role-arn ARN --provider-id ID
       --jwt-file FILE --region R [--ttl S] [--error CODE] [--port N].
Binds 127.0.0.1, prints "LISTENING <port>".
"""
import argparse
import datetime
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from serve import serve_loopback  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    opts = None
    creds = []
    lock = threading.Lock()
    requests = []

    def log_message(self, fmt, *args):
        pass

    def send(self, obj):
        data = json.dumps(obj).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with self.lock:
            if self.path == "/__count":
                self.send({"calls": len(self.requests),
                           "sessions": [r.get("RoleSessionName")
                                        for r in self.requests]})
            else:
                self.send(list(self.requests))

    def error(self, code, message):
        self.send({"Response": {"Error": {"Code": code, "Message": message},
                                "RequestId": str(uuid.uuid4())}})

    def do_POST(self):
        o = self.opts
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if 0 < n < 1 << 20 else b""
        try:
            p = json.loads(body or b"{}")
        except ValueError:
            p = None
        with self.lock:
            self.requests.append(p if isinstance(p, dict) else {})
            count = len(self.requests)
        h = self.headers
        with open(o.jwt_file, encoding="utf-8") as f:
            jwt = f.read().strip()
        if h.get("Authorization") != "SKIP":
            return self.error("AuthFailure.SignatureFailure",
                              "AssumeRoleWithWebIdentity is unsigned")
        if h.get("X-TC-Action") != "AssumeRoleWithWebIdentity" or \
                h.get("X-TC-Version") != "2018-08-13":
            return self.error("InvalidAction", "unknown action or version")
        if h.get("X-TC-Region") != o.region:
            return self.error("InvalidParameter.Region", "wrong region")
        if not isinstance(p, dict):
            return self.error("InvalidParameter", "body is not an object")
        if o.error:
            return self.error(o.error, "the web identity was refused")
        want = {"ProviderId": o.provider_id, "RoleArn": o.role_arn,
                "WebIdentityToken": jwt}
        for k, v in want.items():
            if p.get(k) != v:
                return self.error("InvalidParameter.WebIdentityTokenError"
                                  if k == "WebIdentityToken" else
                                  "InvalidParameter", "%s mismatch" % k)
        if not p.get("RoleSessionName") or \
                not isinstance(p.get("DurationSeconds"), int) or \
                not 0 < p["DurationSeconds"] <= 43200:
            return self.error("InvalidParameter",
                              "RoleSessionName or DurationSeconds")
        c = self.creds[min(count - 1, len(self.creds) - 1)]
        exp = int(time.time()) + o.ttl
        self.send({"Response": {
            "Credentials": {"Token": c["token"],
                            "TmpSecretId": c["secret_id"],
                            "TmpSecretKey": c["secret_key"]},
            "ExpiredTime": exp,
            "Expiration": datetime.datetime.fromtimestamp(
                exp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RequestId": str(uuid.uuid4())}})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--creds", required=True)
    ap.add_argument("--role-arn", required=True)
    ap.add_argument("--provider-id", required=True)
    ap.add_argument("--jwt-file", required=True)
    ap.add_argument("--region", required=True)
    ap.add_argument("--ttl", type=int, default=7200)
    ap.add_argument("--error", default="")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    with open(args.creds, encoding="utf-8") as f:
        Handler.creds = json.load(f)
    Handler.opts = args
    serve_loopback(Handler, args.port)


if __name__ == "__main__":
    sys.exit(main())
