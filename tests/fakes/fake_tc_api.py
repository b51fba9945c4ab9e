#!/usr/bin/env python3
"""fake_tc_api.py - a fake Tencent Cloud TCR API (tcr / 2019-09-24) server.

A test double written from docs/tencentcloud-api.md, independently of the C
client: it verifies every request's TC3-HMAC-SHA256 signature the way the
reference describes (canonical headers rebuilt from the SignedHeaders list,
host as received in the Host header or that name without its port, as the
official Node SDK signs it, raw body bytes hashed, UTC date, a
+-300 s timestamp window, constant-time comparison), answers in the
standard envelope ({"Response": {..., "RequestId"}}, always HTTP 200), and
follows the reference's field names, Offset semantics (record offsets for
the personal calls and DescribeInstances, page numbers from 1 for
DescribeNamespaces / DescribeRepositories / DescribeImages; 0 is treated
as 1) and Limit maxima (100 where documented; larger is rejected with
InvalidParameterValue so clients that overstep are caught).

Usage: fake_tc_api.py --fixture ACCOUNT.json [--port N]
Binds 127.0.0.1 only, prints "LISTENING <port>" when ready.

Control endpoints (no signature):
  GET  /__calls   -> JSON list of the API calls seen (action, region,
                     host, content_type, request_client: the
                     X-TC-RequestClient header; verified: whether the
                     signature checked out, and then secret_id,
                     signed_headers and signed_host: the Host header value
                     or, for the Node SDK, its name without the port;
                     params, error)
  POST /__reset   -> clears the call log and the fault counters
  POST /__faults  -> body: JSON list of fault rules, replaces the current
                     ones. A rule: {"action": "X" or "*", "code":
                     "RequestLimitExceeded", "nth": [2, 3]} fails the 2nd
                     and 3rd calls of X (counting from 1, per action), or
                     {"action": "*", "code": "InternalError", "every": 3}
                     fails every 3rd call. Optional "message"; with
                     "after": true the call is carried out first and
                     only its answer is the error (a lost response).
  GET  /__state   -> the TCR namespaces per instance (to check creations)
  GET  /__stats   -> {"api_connections": TCP (or TLS) connections that
                     carried at least one API call, "calls": {action: n},
                     "throttled": {action: n answered RequestLimitExceeded
                     by the "rate_limits" option}}
  POST /__hostile -> body: the "hostile" object below, replaces the current
Fixture "credentials": [{"secret_id", "secret_key", "token"}]: the keys
the signature is checked against; with a "token" (temporary credentials)
the X-TC-Token header must match it (else AuthFailure.TokenFailure).
Fixture "ccr": {"generate": {"repos": N, "tags": T, "namespaces": K,
"images": [...]}} adds a generated account of N repositories (see
generated_ccr; the names bench/scale_fixture.py uses).
Fixture "options": {"faults": [...], "clock_offset": seconds added to the
server clock, "token_ttl": seconds, "holds": [...], "hostile": {...},
"rate_limits": {...}, "tls": {...}}.
"rate_limits": {"DescribeImagePersonal": 100, "*": 20} enforces a rate per
action (N calls/s; "*" for every action not named) as a token bucket of N
calls refilled at N/s, the most lenient reading of "N/s": a call beyond it
is answered RequestLimitExceeded (and counted in /__stats "throttled").
"tls": {"cert": PEM, "key": PEM} serves HTTPS (and the control endpoints)
with that certificate, e.g. a throwaway one made by `openssl req` in the
test; the handshake runs in the connection's thread. A hold makes an order
of calls deterministic: {"action": "X", "nth": [3], "until": "Y",
"timeout": 10} keeps the 3rd call of X waiting until a call of Y has been
answered (at most `timeout` seconds; then X is answered anyway).

Hostile modes ("hostile", all optional), to try what a compromised or
broken API could send:
  "endless": {"action": A, "repo": R, "page_items": N, "minimal": true}
      A's pages never end: every page has N (default: Limit) new items
      named e000000000, e000000001, ... (for DescribeImagePersonal only
      when RepoName is R, if given), the total is 2**62. N may exceed
      Limit (a server that ignores it); "minimal" leaves out every field
      but the name and time (to make huge pages cheap).
  "repeat": {"action": A, "repo": R, "cycle": K}
      A ignores Offset: it serves its first K pages (default 1) in turn,
      forever, with a total of 2**62.
  "total": {"action": A, "value": V}  A's total count field is V (any
      JSON: 1e300, -1, "NaN", 2**63).
  "exp_time": V   CreateInstanceToken's ExpTime: any JSON value, or
      "seconds" (now + ttl in seconds, not milliseconds), "past" (an hour
      ago, in ms), "far" (ten years ahead, in ms), "absent".
  "raw": {A: TEXT}   A answers with TEXT verbatim (HTTP 200), e.g. a body
      that is not JSON or a Response without the expected list.
Hostile names (ESC, newline, "/../", very long) need no mode: put them
in the fixture's namespaces, repos and tags.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import re
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from serve import serve_loopback  # noqa: E402
from urllib.parse import urlsplit

VERSION = "2019-09-24"
SERVICE = "tcr"
ALGORITHM = "TC3-HMAC-SHA256"
WINDOW = 300  # seconds: "more than 5 minutes" -> AuthFailure.SignatureExpire
MAX_BODY = 1 << 20


class ApiError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------- signing

def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def hmac_sha256(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>[^/\s]+)/"
    r"(?P<service>[^/\s]+)/tc3_request, SignedHeaders=(?P<signed>[^,\s]+), "
    r"Signature=(?P<sig>[0-9a-f]{64})$")


def verify_request(method, raw_path, headers, body, secrets, now):
    """Checks the signature; returns (SecretId, signed header names, the
    host value that was signed) or raises ApiError."""
    auth = headers.get("Authorization")
    if not auth:
        raise ApiError("AuthFailure.InvalidAuthorization",
                       "Authorization header is missing.")
    m = AUTH_RE.match(auth)
    if not m:
        raise ApiError("AuthFailure.InvalidAuthorization",
                       "Authorization header is malformed.")
    secret_id = m.group("id")
    if secret_id not in secrets:
        raise ApiError("AuthFailure.SecretIdNotFound",
                       "The SecretId %s is not found, please ensure that "
                       "your SecretId is correct." % secret_id)
    ts_text = headers.get("X-TC-Timestamp", "")
    if not re.fullmatch(r"[0-9]{1,12}", ts_text):
        raise ApiError("AuthFailure.InvalidAuthorization",
                       "X-TC-Timestamp is missing or not a number.")
    ts = int(ts_text)
    if abs(now - ts) > WINDOW:
        raise ApiError("AuthFailure.SignatureExpire",
                       "Signature expired. Timestamp %d is more than %d s "
                       "from server time %d." % (ts, WINDOW, now))
    date = datetime.datetime.fromtimestamp(
        ts, datetime.timezone.utc).strftime("%Y-%m-%d")
    if m.group("date") != date or m.group("service") != SERVICE:
        raise ApiError("AuthFailure.SignatureFailure",
                       "The provided credentials could not be validated: "
                       "credential scope does not match the request date "
                       "or service.")
    signed = m.group("signed").split(";")
    if "content-type" not in signed or "host" not in signed or \
            signed != sorted(signed):
        raise ApiError("AuthFailure.SignatureFailure",
                       "SignedHeaders must list content-type and host, "
                       "sorted.")
    values = {}
    for name in signed:
        value = headers.get(name)
        if value is None:
            raise ApiError("AuthFailure.SignatureFailure",
                           "Signed header %s is missing." % name)
        values[name] = value.strip().lower()
    if headers.get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD":
        payload_hash = sha256_hex(b"UNSIGNED-PAYLOAD")
    else:
        payload_hash = sha256_hex(body)
    parts = urlsplit(raw_path)
    k = hmac_sha256(("TC3" + secrets[secret_id]).encode("utf-8"), date)
    k = hmac_sha256(k, SERVICE)
    k = hmac_sha256(k, "tc3_request")
    for host in host_forms(values["host"]):
        values["host"] = host
        canon_headers = "".join("%s:%s\n" % (name, values[name])
                                for name in signed)
        canonical = "\n".join([method, parts.path or "/", parts.query,
                               canon_headers, ";".join(signed),
                               payload_hash])
        string_to_sign = "\n".join([
            ALGORITHM, ts_text, "%s/%s/tc3_request" % (date, SERVICE),
            sha256_hex(canonical.encode("utf-8"))])
        want = hmac.new(k, string_to_sign.encode("utf-8"),
                        hashlib.sha256).hexdigest()
        if hmac.compare_digest(want, m.group("sig")):
            return secret_id, signed, host
    raise ApiError("AuthFailure.SignatureFailure",
                   "The provided credentials could not be validated. "
                   "Please check your signature is correct.")


def host_forms(host):
    """The values a client may have signed as `host`, given the Host header
    received: the header itself (the Go SDK and our C client sign the
    endpoint with its port), then, when it carries a port, the name alone
    (the official Node SDK signs URL.hostname but sends URL.host, so behind
    a non-default port the two differ; in production the port is the
    default and they agree). Both come from the received header, so the
    signature still binds the request to this host."""
    forms = [host]
    m = re.fullmatch(r"(\[[0-9a-f:.]+\]|[^:\[\]]+):[0-9]{1,5}", host)
    if m:
        forms.append(m.group(1))
    return forms


# ---------------------------------------------------------------- params

def p_raw(params, name, required):
    """The parameter as sent, or None when absent (an error when
    required)."""
    v = params.get(name)
    if v is None and required:
        raise ApiError("MissingParameter",
                       "The request is missing a required parameter "
                       "`%s`." % name)
    return v


def p_int(params, name, default=None, required=False):
    v = p_raw(params, name, required)
    if v is None:
        return default
    if isinstance(v, bool):
        raise ApiError("InvalidParameter", "`%s` must be an integer." % name)
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]+", v):
        v = int(v)  # the docs' examples send numbers as strings
    if not isinstance(v, int):
        raise ApiError("InvalidParameter", "`%s` must be an integer." % name)
    return v


def p_str(params, name, default=None, required=False):
    v = p_raw(params, name, required)
    if v is None:
        return default
    if not isinstance(v, str):
        raise ApiError("InvalidParameter", "`%s` must be a string." % name)
    return v


def p_bool(params, name, required=False):
    v = p_raw(params, name, required)
    if v is None:
        return False
    if v in ("true", "false"):
        v = v == "true"
    if not isinstance(v, bool):
        raise ApiError("InvalidParameter", "`%s` must be a boolean." % name)
    return v


def limit_of(params, default, maximum):
    limit = p_int(params, "Limit", default)
    if limit < 1 or (maximum is not None and limit > maximum):
        raise ApiError("InvalidParameterValue",
                       "Limit %d out of range [1, %s]." %
                       (limit, maximum if maximum else "inf"))
    return limit


def record_page(items, params, default_limit, maximum, required=False):
    if required:  # DescribeNamespacePersonal marks both as required
        p_int(params, "Limit", required=True)
        p_int(params, "Offset", required=True)
    limit = limit_of(params, default_limit, maximum)
    offset = p_int(params, "Offset", 0)
    if offset < 0:
        raise ApiError("InvalidParameterValue", "Offset must be >= 0.")
    return items[offset:offset + limit]


def number_page(items, params, default_limit, maximum):
    limit = limit_of(params, default_limit, maximum)
    page = p_int(params, "Offset", 1)
    if page < 0:
        raise ApiError("InvalidParameterValue", "Offset must be >= 0.")
    page = max(page, 1)  # Offset 0 behaves like page 1
    return items[(page - 1) * limit:page * limit]


NS_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


def synthetic(action, k, mode):
    """Item k of a made-up listing of `action` (the fixture's format)."""
    name = "e%09d" % k
    if action == "DescribeImagePersonal":
        return {"name": name, "push_time": "2024-01-01 00:00:00",
                "minimal": bool(mode.get("minimal"))}
    if action == "DescribeRepositoryOwnerPersonal":
        return {"name": "%s/%s" % (mode.get("namespace", "team-a"), name),
                "tags": []}
    if action == "DescribeInstances":
        return {"id": "tcr-" + name, "name": name}
    return {"name": name}


def generated_ccr(gen):
    """The CCR account of the fixture's "ccr": {"generate": {...}} key,
    built in memory instead of read from a huge fixture (bench/run.py's
    scale workload): {"repos": N, "tags": T, "namespaces": K, "images":
    [digest, ...]}. Repository k (0 <= k < N) is "ns%04d/app%05d" %
    (k % K, k) with tags v1 .. vT (the names bench/scale_fixture.py
    writes into a registry); tag vt of repository k reports digest
    images[(k + t - 1) % len(images)] when "images" is given. Tags are
    listed newest first: vt was pushed t minutes after 2024-01-01 00:00:00.
    Repositories share their tag lists (one per image offset), so 100,000
    x 10 costs a few tens of MiB. Returns (namespaces, repos) in the
    fixture's own format."""
    n = int(gen.get("repos", 0))
    t_n = int(gen.get("tags", 1))
    k_n = max(1, int(gen.get("namespaces", 100)))
    images = list(gen.get("images") or [])
    base = datetime.datetime(2024, 1, 1)

    def when(t):
        return (base + datetime.timedelta(minutes=t)).strftime(
            "%Y-%m-%d %H:%M:%S")

    lists = []
    for off in range(len(images) or 1):
        tags = []
        for t in range(t_n, 0, -1):
            tag = {"name": "v%d" % t, "push_time": when(t), "size": 0}
            if images:
                tag["digest"] = images[(off + t - 1) % len(images)]
            tags.append(tag)
        lists.append(tags)
    namespaces = [{"name": "ns%04d" % i, "creation_time": when(0)}
                  for i in range(min(k_n, n))]
    newest = when(t_n)
    repos = [{"name": "ns%04d/app%05d" % (k % k_n, k),
              "tags": lists[k % len(lists)], "creation_time": when(0),
              "update_time": newest} for k in range(n)]
    return namespaces, repos


# ----------------------------------------------------------------- state

class Account:
    def __init__(self, fixture):
        self.lock = threading.Lock()
        self.secrets = {c["secret_id"]: c["secret_key"]
                        for c in fixture.get("credentials", [])}
        # temporary credentials: their X-TC-Token must come along
        self.tokens = {c["secret_id"]: c["token"]
                       for c in fixture.get("credentials", []) if "token" in c}
        self.uin = str(fixture.get("uin", "100000000001"))
        ccr = fixture.get("ccr", {})
        self.ccr_server = ccr.get("server", "ccr.ccs.tencentyun.com")
        self.ccr_namespaces = list(ccr.get("namespaces", []))
        self.ccr_repos = list(ccr.get("repos", []))
        if ccr.get("generate"):
            gen_ns, gen_repos = generated_ccr(ccr["generate"])
            self.ccr_namespaces += gen_ns
            self.ccr_repos += gen_repos
        self.ccr_by_name = {}  # DescribeImagePersonal: the first of a name
        for r in self.ccr_repos:
            self.ccr_by_name.setdefault(r["name"], r)
        tcr = fixture.get("tcr", {})
        self.instances = list(tcr.get("instances", []))
        self.tcr_namespaces = {k: list(v) for k, v in
                               tcr.get("namespaces", {}).items()}
        self.tcr_repos = {k: list(v) for k, v in
                          tcr.get("repos", {}).items()}
        opts = fixture.get("options", {})
        self.faults = list(opts.get("faults", []))
        self.clock_offset = int(opts.get("clock_offset", 0))
        self.token_ttl = int(opts.get("token_ttl", 3600))
        self.holds = list(opts.get("holds", []))
        self.hostile = dict(opts.get("hostile", {}))
        self.rate_limits = dict(opts.get("rate_limits", {}))
        self.tls = opts.get("tls")
        self.buckets = {}  # action -> [tokens, last refill (monotonic s)]
        self.throttled = {}  # action -> calls answered RequestLimitExceeded
        self.api_connections = 0
        self.repeat_counts = {}
        self.cond = threading.Condition(self.lock)
        self.received = {}  # action -> calls received
        self.answered = {}  # action -> calls answered
        self.counts = {}
        self.total_calls = 0
        self.calls = []

    def instance(self, registry_id):
        for inst in self.instances:
            if inst["id"] == registry_id:
                return inst
        raise ApiError("ResourceNotFound.TcrResourceNotFound",
                       "instance %s not found" % registry_id)

    def hold(self, action):
        """Counts a received call; waits while a hold applies to it."""
        with self.cond:
            n = self.received[action] = self.received.get(action, 0) + 1
            for h in self.holds:
                if h.get("action") == action and n in h.get("nth", []):
                    self.cond.wait_for(
                        lambda h=h: self.answered.get(h["until"], 0) > 0,
                        timeout=float(h.get("timeout", 10)))

    def fault_for(self, action):
        """Counts the call and returns (code, message, after) of a fault or
        None. Called with the lock held."""
        self.total_calls += 1
        n = self.counts[action] = self.counts.get(action, 0) + 1
        for rule in self.faults:
            if rule.get("action", "*") not in ("*", action):
                continue
            count = n if rule.get("action", "*") != "*" else self.total_calls
            hit = count in rule.get("nth", []) or (
                rule.get("every") and count % int(rule["every"]) == 0)
            if hit:
                return (rule.get("code", "InternalError"),
                        rule.get("message", "injected fault"),
                        bool(rule.get("after", False)))
        return None

    def over_rate(self, action):
        """True when `action` is past its "rate_limits" rate (a bucket of N
        calls refilled at N/s); counts the throttled call. Called with the
        lock held."""
        rate = self.rate_limits.get(action, self.rate_limits.get("*"))
        if not rate:
            return False
        rate = float(rate)
        now = time.monotonic()
        b = self.buckets.setdefault(action, [rate, now])
        b[0] = min(rate, b[0] + (now - b[1]) * rate)
        b[1] = now
        if b[0] >= 1.0:
            b[0] -= 1.0
            return False
        self.throttled[action] = self.throttled.get(action, 0) + 1
        return True

    # ------------------------------------------------------- hostile
    def page(self, action, p, items, default_limit, maximum, numbers=False,
             required=False, repo=None):
        """(page of items, total) for one call, honest or, when a hostile
        mode applies to this action (and repository), not."""
        endless = self.hostile.get("endless") or {}
        repeat = self.hostile.get("repeat") or {}
        total = self.hostile.get("total") or {}
        if endless.get("action") == action and \
                endless.get("repo") in (None, repo):
            limit = limit_of(p, default_limit, maximum)
            n = int(endless.get("page_items", limit))
            offset = p_int(p, "Offset", 0)
            start = (max(offset, 1) - 1) * n if numbers else offset
            return ([synthetic(action, k, endless)
                     for k in range(start, start + n)], 2 ** 62)
        if repeat.get("action") == action and \
                repeat.get("repo") in (None, repo):
            limit = limit_of(p, default_limit, maximum)
            cycle = int(repeat.get("cycle", 1))
            # the repository's own calls, whatever runs beside them
            key = (action, repo)
            k = self.repeat_counts[key] = self.repeat_counts.get(key, -1) + 1
            start = (k % cycle) * limit
            if len(items) < cycle * limit:  # enough distinct pages
                items = [synthetic(action, i, {})
                         for i in range(cycle * limit)]
            return items[start:start + limit], 2 ** 62
        if numbers:
            page = number_page(items, p, default_limit, maximum)
        else:
            page = record_page(items, p, default_limit, maximum, required)
        if total.get("action") == action:
            return page, total.get("value")
        return page, len(items)

    # ----------------------------------------------------------- actions

    def DescribeNamespacePersonal(self, p):
        query = p_str(p, "Namespace", required=True)
        items = [n for n in self.ccr_namespaces if query in n["name"]]
        page, total = self.page("DescribeNamespacePersonal", p, items, 20,
                                None, required=True)
        return {"Data": {
            "NamespaceCount": total,
            "NamespaceInfo": [{
                "Namespace": n["name"],
                "CreationTime": n.get("creation_time", "2024-06-22 10:37:26"),
                "RepoCount": sum(1 for r in self.ccr_repos
                                 if r["name"].split("/", 1)[0] == n["name"]),
            } for n in page]}}

    def DescribeRepositoryOwnerPersonal(self, p):
        query = p_str(p, "RepoName", "")
        items = [r for r in self.ccr_repos if query in r["name"]]
        page, total = self.page("DescribeRepositoryOwnerPersonal", p, items,
                                20, 100)
        return {"Data": {
            "TotalCount": total,
            "Server": self.ccr_server,
            "RepoInfo": [{
                "RepoName": r["name"],
                "RepoType": "QCLOUD HUB",
                "TagCount": len(r.get("tags", [])),
                "Public": int(r.get("public", 0)),
                "IsUserFavor": False,
                "IsQcloudOfficial": False,
                "FavorCount": 0,
                "PullCount": 0,
                "Description": "",
                "CreationTime": r.get("creation_time", "2024-01-01 00:00:00"),
                "UpdateTime": r.get("update_time", "2024-01-02 00:00:00"),
            } for r in page]}}

    def DescribeImagePersonal(self, p):
        name = p_str(p, "RepoName", required=True)
        repo = self.ccr_by_name.get(name)
        hostile = any((self.hostile.get(m) or {}).get("repo") == name
                      for m in ("endless", "repeat"))
        if repo is None and hostile:
            repo = {"name": name, "tags": []}
        if repo is None:
            raise ApiError("ResourceNotFound.ErrNoRepo",
                           "repository %s does not exist" % name)
        query = p_str(p, "Tag", "")
        items = [t for t in repo.get("tags", []) if query in t["name"]]
        page, total = self.page("DescribeImagePersonal", p, items, 20, 100,
                                repo=name)
        return {"Data": {
            "TagCount": total,
            "Server": self.ccr_server,
            "RepoName": name,
            "TagInfo": [{"TagName": t["name"], "PushTime": t["push_time"]}
                        if t.get("minimal") else {
                "TagName": t["name"],
                "TagId": t.get("digest", ""),
                "ImageId": t.get("image_id", t.get("digest", "")),
                "Size": "%d B" % t.get("size", 0),
                "SizeByte": t.get("size", 0),
                "CreationTime": t.get("push_time", ""),
                "PushTime": t.get("push_time", ""),
                "UpdateTime": t.get("push_time", ""),
                "Kind": t.get("kind", "Artifact::application/vnd.docker."
                                      "distribution.manifest.v2+json"),
                "Architecture": "amd64",
                "OS": "linux",
                "Id": i + 1,
            } for i, t in enumerate(page)]}}

    def DescribeInstances(self, p):
        ids = p.get("Registryids")
        items = list(self.instances)
        if ids:
            items = [i for i in items if i["id"] in ids]
        for f in p.get("Filters") or []:
            if f.get("Name") == "RegistryName":
                vals = f.get("Values") or []
                # loose match, like the real API may be: callers must pick
                # the exact name themselves
                items = [i for i in items
                         if any(v in i["name"] for v in vals)]
        page, total = self.page("DescribeInstances", p, items, 20, 100)
        return {"TotalCount": total, "Registries": [{
            "RegistryId": i["id"],
            "RegistryName": i["name"],
            "RegistryType": i.get("type", "basic"),
            "Status": i.get("status", "Running"),
            "PublicDomain": i.get("public_domain",
                                  i["name"] + ".tencentcloudcr.com"),
            "CreatedAt": "2024-07-19T15:33:22+08:00",
            "RegionName": i.get("region", "ap-guangzhou"),
            "RegionId": 1,
            "EnableAnonymous": False,
            "TokenValidTime": 1,
        } for i in page]}

    def DescribeNamespaces(self, p):
        rid = p_str(p, "RegistryId", required=True)
        self.instance(rid)
        query = p_str(p, "NamespaceName", "")
        items = [n for n in self.tcr_namespaces.get(rid, [])
                 if query in n["name"]]
        page, total = self.page("DescribeNamespaces", p, items, 20, None,
                                numbers=True)
        return {"TotalCount": total, "NamespaceList": [{
            "Name": n["name"],
            "CreationTime": n.get("creation_time", "2024-12-10T14:04:56Z"),
            "Public": bool(n.get("public", False)),
            "NamespaceId": n.get("id", 0),
            "Metadata": [{"Key": "public",
                          "Value": "true" if n.get("public") else "false"}],
        } for n in page]}

    def CreateNamespace(self, p):
        rid = p_str(p, "RegistryId", required=True)
        name = p_str(p, "NamespaceName", required=True)
        public = p_bool(p, "IsPublic", required=True)
        self.instance(rid)
        if not (2 <= len(name) <= 30 and NS_RE.match(name)):
            raise ApiError("InvalidParameter.ErrorTcrInvalidParameter",
                           "invalid namespace name %r" % name)
        nss = self.tcr_namespaces.setdefault(rid, [])
        if any(n["name"] == name for n in nss):
            raise ApiError("FailedOperation.ErrorTcrResourceConflict",
                           "project named %s already exists" % name)
        nss.append({"name": name, "public": public, "id": len(nss) + 1,
                    "creation_time": datetime.datetime.now(
                        datetime.timezone.utc).strftime(
                        "%Y-%m-%dT%H:%M:%SZ")})
        return {}

    def DescribeRepositories(self, p):
        rid = p_str(p, "RegistryId", required=True)
        self.instance(rid)
        ns = p_str(p, "NamespaceName", "")
        query = p_str(p, "RepositoryName", "")
        items = [r for r in self.tcr_repos.get(rid, [])
                 if (not ns or r["namespace"] == ns) and query in r["name"]]
        page, total = self.page("DescribeRepositories", p, items, 20, 100,
                                numbers=True)
        return {"TotalCount": total, "RepositoryList": [{
            "Name": r["namespace"] + "/" + r["name"],
            "Namespace": r["namespace"],
            "CreationTime": "2024-12-10 14:30:36.806284 +0000 UTC",
            "UpdateTime": "2024-12-10 14:30:36.806284 +0000 UTC",
            "Public": False,
            "Description": "",
            "BriefDescription": "",
        } for r in page]}

    def DescribeImages(self, p):
        rid = p_str(p, "RegistryId", required=True)
        ns = p_str(p, "NamespaceName", required=True)
        name = p_str(p, "RepositoryName", required=True)
        self.instance(rid)
        repo = next((r for r in self.tcr_repos.get(rid, [])
                     if r["namespace"] == ns and r["name"] == name), None)
        if repo is None:
            raise ApiError("ResourceNotFound.TcrResourceNotFound",
                           "repository %s/%s not found" % (ns, name))
        query = p_str(p, "ImageVersion", "")
        items = [t for t in repo.get("tags", []) if query in t["name"]]
        page, total = self.page("DescribeImages", p, items, 20, None,
                                numbers=True)
        return {"TotalCount": total, "ImageInfoList": [{
            "ImageVersion": t["name"],
            "Digest": t.get("digest", ""),
            "Size": t.get("size", 0),
            "UpdateTime": t.get("push_time", ""),
            "Kind": "docker",
            "KmsSignature": "",
        } for t in page]}

    def CreateInstanceToken(self, p):
        rid = p_str(p, "RegistryId", required=True)
        inst = self.instance(rid)
        ttype = p_str(p, "TokenType", "temp")
        ttl = self.token_ttl if ttype == "temp" else 10 * 365 * 86400
        now = int(time.time()) + self.clock_offset
        answer = {
            "Username": self.uin,
            "Token": inst.get("token", "fake-jwt-" + uuid.uuid4().hex),
            "ExpTime": (now + ttl) * 1000,  # milliseconds, as the docs show
            "TokenId": "" if ttype == "temp" else uuid.uuid4().hex[:12],
        }
        if "exp_time" in self.hostile:
            v = self.hostile["exp_time"]
            special = {"seconds": now + ttl, "past": (now - 3600) * 1000,
                       "far": (now + 10 * 365 * 86400) * 1000}
            if v == "absent":
                del answer["ExpTime"]
            else:
                answer["ExpTime"] = special.get(v, v) \
                    if isinstance(v, str) else v
        return answer


ACTIONS = {"DescribeNamespacePersonal", "DescribeRepositoryOwnerPersonal",
           "DescribeImagePersonal", "DescribeInstances",
           "DescribeNamespaces", "CreateNamespace", "DescribeRepositories",
           "DescribeImages", "CreateInstanceToken"}


# ---------------------------------------------------------------- server

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    account = None  # set in main
    tls_context = None  # an ssl.SSLContext when the fixture asks for TLS
    counted = False  # this connection carried an API call
    # headers and body leave in two writes: without TCP_NODELAY a client
    # reusing the connection waits for its delayed ACK (40 ms) every call
    disable_nagle_algorithm = True

    def setup(self):
        if self.tls_context is not None:
            self.request.settimeout(10)
            self.request = self.tls_context.wrap_socket(self.request,
                                                        server_side=True)
            self.request.settimeout(None)
        super().setup()

    def log_message(self, fmt, *args):
        pass  # quiet: tests read /__calls instead

    def send_json(self, obj, status=200):
        data = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_raw(self, data):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        acc = self.account
        if self.path == "/__calls":
            with acc.lock:
                self.send_json(list(acc.calls))
        elif self.path == "/__stats":
            with acc.lock:
                self.send_json({"api_connections": acc.api_connections,
                                "calls": dict(acc.counts),
                                "throttled": dict(acc.throttled)})
        elif self.path == "/__state":
            with acc.lock:
                self.send_json({"tcr_namespaces": acc.tcr_namespaces})
        else:
            self.send_json({"error": "not found"}, 404)

    def do_POST(self):
        acc = self.account
        try:
            body = self.read_body()
        except ValueError:
            self.send_json({"error": "body too large"}, 413)
            return
        if self.path == "/__reset":
            with acc.lock:
                acc.calls.clear()
                acc.counts.clear()
                acc.repeat_counts.clear()
                acc.total_calls = 0
                acc.throttled.clear()
                acc.buckets.clear()
                acc.api_connections = 0
            self.send_json({})
            return
        if self.path == "/__hostile":
            with acc.lock:
                acc.hostile = json.loads(body or b"{}")
                acc.repeat_counts.clear()
            self.send_json({})
            return
        if self.path == "/__faults":
            with acc.lock:
                acc.faults = json.loads(body or b"[]")
                acc.counts.clear()
                acc.total_calls = 0
            self.send_json({})
            return
        self.api(body)

    def api(self, body):
        acc = self.account
        request_id = str(uuid.uuid4())
        action = self.headers.get("X-TC-Action", "")
        if not self.counted:
            self.counted = True
            with acc.lock:
                acc.api_connections += 1
        call = {"action": action,
                "region": self.headers.get("X-TC-Region", ""),
                "host": self.headers.get("Host", ""),
                "content_type": self.headers.get("Content-Type", ""),
                "request_client": self.headers.get("X-TC-RequestClient", ""),
                "secret_id": None, "signed_headers": None,
                "signed_host": None, "verified": False, "params": None,
                "error": None}
        try:
            now = int(time.time()) + acc.clock_offset
            (call["secret_id"], call["signed_headers"],
             call["signed_host"]) = verify_request(
                "POST", self.path, self.headers, body, acc.secrets, now)
            call["verified"] = True
            want = acc.tokens.get(call["secret_id"])
            if want is not None and not hmac.compare_digest(
                    self.headers.get("X-TC-Token", "").encode(),
                    want.encode()):
                raise ApiError("AuthFailure.TokenFailure",
                               "The X-TC-Token is missing or does not "
                               "match the temporary SecretId.")
            if self.headers.get("X-TC-Version") != VERSION:
                raise ApiError("NoSuchVersion",
                               "The requested version %r of service tcr "
                               "does not exist." %
                               self.headers.get("X-TC-Version"))
            if action not in ACTIONS:
                raise ApiError("InvalidAction",
                               "The action %r is not found." % action)
            if not call["region"]:
                raise ApiError("MissingParameter",
                               "The request is missing a required "
                               "parameter `Region`.")
            try:
                params = json.loads(body.decode("utf-8") or "{}")
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ApiError("InvalidParameter", "body is not JSON")
            if not isinstance(params, dict):
                raise ApiError("InvalidParameter", "body is not an object")
            call["params"] = params
            acc.hold(action)
            with acc.lock:
                if acc.over_rate(action):
                    raise ApiError("RequestLimitExceeded",
                                   "Your current request times equals to "
                                   "`%s` in a second, which exceeds the "
                                   "frequency limit `%s` for a second. "
                                   "Please reduce the frequency of calls."
                                   % (action, acc.rate_limits.get(
                                       action, acc.rate_limits.get("*"))))
                fault = acc.fault_for(action)
                if fault is not None and not fault[2]:
                    raise ApiError(fault[0], fault[1])
                raw = (acc.hostile.get("raw") or {}).get(action)
                result = None if raw is not None else \
                    getattr(acc, action)(params)
                if fault is not None:  # done, but the answer is lost
                    raise ApiError(fault[0], fault[1])
            if raw is not None:
                with acc.cond:
                    acc.calls.append(call)
                    acc.answered[action] = acc.answered.get(action, 0) + 1
                    acc.cond.notify_all()
                self.send_raw(raw.encode("utf-8"))
                return
            result["RequestId"] = request_id
            resp = {"Response": result}
        except ApiError as e:
            call["error"] = e.code
            resp = {"Response": {"Error": {"Code": e.code,
                                           "Message": e.message},
                                 "RequestId": request_id}}
        with acc.cond:
            acc.calls.append(call)
            act = call.get("action")
            acc.answered[act] = acc.answered.get(act, 0) + 1
            acc.cond.notify_all()
        self.send_json(resp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    with open(args.fixture, encoding="utf-8") as f:
        Handler.account = Account(json.load(f))
    tls = Handler.account.tls
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls["cert"], tls["key"])
        Handler.tls_context = ctx
    serve_loopback(Handler, args.port)


if __name__ == "__main__":
    sys.exit(main())
