#!/usr/bin/env python3
"""Integration: the C TCR client (through tests/tools/tctool) against the
fake Tencent Cloud API (tests/fakes/fake_tc_api.py), plus pure-Python
checks that the fake accepts requests signed the way the official SDKs
sign (reimplemented here from the published algorithm and pinned to the
published Node SDK test vector) and rejects tampered or stale ones.

Environment: BUILD_DIR (tools at $BUILD_DIR/tests/tctool), TESTS_DIR.
Everything runs on 127.0.0.1 with bounded timeouts; the fake is always
killed.
"""

import copy
import datetime
import hashlib
import hmac
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcfake  # noqa: E402

TESTS_DIR = os.environ.get(
    "TESTS_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              ".."))
BUILD_DIR = os.environ.get("BUILD_DIR", "")
TCTOOL = os.path.join(BUILD_DIR, "tests", "tctool")
FIXTURE = os.path.join(TESTS_DIR, "fixtures", "tc-account.json")

with open(FIXTURE, encoding="utf-8") as _f:
    BASE = json.load(_f)
SECRET_ID = BASE["credentials"][0]["secret_id"]
SECRET_KEY = BASE["credentials"][0]["secret_key"]
REGID = "tcr-it000001"


def big_fixture():
    """The base account plus enough items to need several pages."""
    fx = copy.deepcopy(BASE)
    fx["ccr"]["namespaces"] += [{"name": "bulk-%03d" % i}
                                for i in range(250)]
    fx["ccr"]["repos"] += [{"name": "bulk-000/repo-%03d" % i, "tags": []}
                           for i in range(250)]
    fx["ccr"]["repos"].append({"name": "bulk-001/many", "tags": [
        {"name": "t%03d" % i, "digest": "sha256:%064x" % i, "size": i,
         "push_time": "2024-01-01 00:00:00"} for i in range(250)]})
    fx["tcr"]["instances"] += [{"id": "tcr-fleet%03d" % i,
                                "name": "fleet-%03d" % i}
                               for i in range(120)]
    fx["tcr"]["namespaces"][REGID] += [{"name": "ns-%03d" % i}
                                       for i in range(250)]
    fx["tcr"]["repos"][REGID].append({"namespace": "team-a", "name": "many",
                                      "tags": [{"name": "v%03d" % i,
                                                "digest": "sha256:%064x" % i}
                                               for i in range(101)]})
    return fx


class Fake(tcfake.FakeTC):
    """Runs the fake server on a free loopback port."""


def tctool(fake, *args, secret_id=SECRET_ID, secret_key=SECRET_KEY,
           extra=()):
    cmd = [TCTOOL, "--endpoint", fake.endpoint, "--region", "ap-guangzhou",
           "--secret-id", secret_id, "--secret-key", secret_key,
           "--backoff-ms", "20", *extra, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    lines = [l.split("\t") for l in p.stdout.splitlines() if l]
    return p.returncode, lines, p.stderr


# --------------------------------------------------- SDK-style signing

def sdk_sign(secret_id, secret_key, host, action, body, timestamp,
             content_type="application/json", sign_action=False,
             service="tcr"):
    """TC3-HMAC-SHA256 as the official SDKs compute it (Python SDK
    abstract_client._get_tc3_signature / Go sendWithSignatureV3): returns
    the headers to send."""
    date = datetime.datetime.fromtimestamp(
        timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")
    canonical_headers = "content-type:%s\nhost:%s\n" % (content_type, host)
    signed_headers = "content-type;host"
    if sign_action:  # Tencent's hand-written demos
        canonical_headers += "x-tc-action:%s\n" % action.lower()
        signed_headers += ";x-tc-action"
    canonical_request = "POST\n/\n\n%s\n%s\n%s" % (
        canonical_headers, signed_headers, hashlib.sha256(body).hexdigest())
    scope = "%s/%s/tc3_request" % (date, service)
    string_to_sign = "TC3-HMAC-SHA256\n%d\n%s\n%s" % (
        timestamp, scope,
        hashlib.sha256(canonical_request.encode()).hexdigest())

    def sign(key, msg):
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    k = sign(("TC3" + secret_key).encode("utf-8"), date)
    k = sign(k, service)
    k = sign(k, "tc3_request")
    signature = hmac.new(k, string_to_sign.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    return {
        "Authorization": "TC3-HMAC-SHA256 Credential=%s/%s, "
                         "SignedHeaders=%s, Signature=%s" % (
                             secret_id, scope, signed_headers, signature),
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": "2019-09-24",
        "X-TC-Region": "ap-guangzhou",
        "X-TC-RequestClient": "SDK_PYTHON_3.0.0",
    }


def post(fake, headers, body):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        r = conn.getresponse()
        return r.status, json.loads(r.read())["Response"]
    finally:
        conn.close()


class SdkSigningTest(unittest.TestCase):
    """The fake accepts what the official algorithm produces."""

    @classmethod
    def setUpClass(cls):
        cls.fake = Fake(BASE)

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def test_signer_matches_published_sdk_vector(self):
        # tencentcloud-sdk-nodejs test/common/sign.test.ts (reference §2.1)
        h = sdk_sign("test-secret-id", "test-secret-key",
                     "cvm.tencentcloudapi.com", "DescribeInstances",
                     b'{"Action":"DescribeInstances","Version":"2017-03-12"}',
                     1640995200, service="cvm")
        self.assertEqual(
            h["Authorization"],
            "TC3-HMAC-SHA256 Credential=test-secret-id/2022-01-01/cvm/"
            "tc3_request, SignedHeaders=content-type;host, Signature="
            "96473b50fe407833672a5d6d067238d88bb44c8abcc39ef83baa3132afbfadd3")

    def request(self, body=b'{"Namespace":"","Limit":10,"Offset":0}',
                tamper=None, **kw):
        host = "127.0.0.1:%d" % self.fake.port
        ts = kw.pop("timestamp", int(time.time()))
        h = sdk_sign(kw.pop("secret_id", SECRET_ID),
                     kw.pop("secret_key", SECRET_KEY), host,
                     "DescribeNamespacePersonal", body, ts, **kw)
        if tamper:
            body = tamper(body)
        return post(self.fake, h, body)

    def test_sdk_signed_request_accepted(self):
        status, resp = self.request()
        self.assertEqual(status, 200)
        self.assertNotIn("Error", resp)
        self.assertEqual(resp["Data"]["NamespaceCount"], 3)
        self.assertTrue(resp["RequestId"])

    def test_demo_style_and_charset_accepted(self):
        _, resp = self.request(sign_action=True,
                               content_type="application/json; "
                                            "charset=utf-8")
        self.assertNotIn("Error", resp)

    def test_tampered_body_rejected(self):
        _, resp = self.request(
            tamper=lambda b: b.replace(b'"Limit":10', b'"Limit":11'))
        self.assertEqual(resp["Error"]["Code"], "AuthFailure.SignatureFailure")
        self.assertTrue(resp["RequestId"])

    def test_wrong_key_rejected(self):
        _, resp = self.request(secret_key=SECRET_KEY + "x")
        self.assertEqual(resp["Error"]["Code"], "AuthFailure.SignatureFailure")

    def test_unknown_id_rejected(self):
        _, resp = self.request(secret_id="AKIDunknown")
        self.assertEqual(resp["Error"]["Code"], "AuthFailure.SecretIdNotFound")

    def test_stale_timestamp_rejected(self):
        _, resp = self.request(timestamp=int(time.time()) - 301 - 5)
        self.assertEqual(resp["Error"]["Code"], "AuthFailure.SignatureExpire")
        _, resp = self.request(timestamp=int(time.time()) - 200)
        self.assertNotIn("Error", resp)

    def test_wrong_service_rejected(self):
        _, resp = self.request(service="cvm")
        self.assertEqual(resp["Error"]["Code"], "AuthFailure.SignatureFailure")


class ClientAgainstFakeTest(unittest.TestCase):
    """The C client, through tctool, against the fake."""

    def setUp(self):
        self.assertTrue(os.access(TCTOOL, os.X_OK),
                        "tctool not built at %s" % TCTOOL)
        self.fake = Fake(big_fixture())

    def tearDown(self):
        self.fake.close()

    def test_all_pages_listed(self):
        rc, lines, err = tctool(self.fake, "list-ccr-namespaces")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(lines), 253)
        self.assertEqual(len({l[0] for l in lines}), 253)
        calls = self.fake.calls("DescribeNamespacePersonal")
        self.assertEqual([c["params"]["Offset"] for c in calls],
                         [0, 100, 200])
        self.assertTrue(all(c["params"]["Limit"] == 100 for c in calls))
        self.assertTrue(all(c["host"] == "127.0.0.1:%d" % self.fake.port
                            for c in calls))

        rc, lines, err = tctool(self.fake, "list-ccr-repos")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(lines), 254)
        builder = [l for l in lines if l[0] == "team-a/tools/builder"][0]
        self.assertEqual(builder[1:4], ["team-a", "tools/builder",
                                        "ccr.ccs.tencentyun.com"])

        rc, lines, err = tctool(self.fake, "list-ccr-tags", "bulk-001/many")
        self.assertEqual(rc, 0, err)
        self.assertEqual([l[0] for l in lines],
                         ["t%03d" % i for i in range(250)])

        rc, lines, err = tctool(self.fake, "instances", "fleet")
        self.assertEqual(rc, 5)  # 120 found, none named exactly "fleet"
        self.assertEqual(len(lines), 120)
        self.assertEqual([c["params"]["Offset"] for c in
                          self.fake.calls("DescribeInstances")], [0, 100])

        rc, lines, err = tctool(self.fake, "list-tcr-namespaces", REGID)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(lines), 251)
        self.assertEqual([c["params"]["Offset"] for c in
                          self.fake.calls("DescribeNamespaces")], [1, 2, 3])

        rc, lines, err = tctool(self.fake, "list-tcr-images", REGID,
                                "team-a", "many")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(lines), 101)
        self.assertEqual([c["params"]["Offset"] for c in
                          self.fake.calls("DescribeImages")], [1, 2])

    def test_instance_exact_match(self):
        rc, lines, err = tctool(self.fake, "instances", "image-transfer")
        self.assertEqual(rc, 0, err)
        names = [l[1] for l in lines if l[0] != "EXACT"]
        self.assertIn("image-transfer-2", names)  # the fake matches loosely
        self.assertEqual(lines[-1], ["EXACT", "tcr-it000001"])

    def test_bad_secret_key(self):
        bad = "wrong-secret-value-123"
        rc, lines, err = tctool(self.fake, "list-ccr-namespaces",
                                secret_key=bad)
        self.assertEqual(rc, 3, err)
        self.assertIn("AuthFailure.SignatureFailure", err)
        self.assertIn(SECRET_ID, err)
        self.assertNotIn(bad, err)
        self.assertNotIn("Signature=", err)
        self.assertEqual(lines, [])
        # not retried
        self.assertEqual(len(self.fake.calls()), 1)

    def test_throttling_survived(self):
        self.fake.control("POST", "/__faults", [
            {"action": "DescribeNamespacePersonal",
             "code": "RequestLimitExceeded", "nth": [1, 2]},
            {"action": "DescribeImagePersonal",
             "code": "InternalError", "every": 2},
        ])
        rc, lines, err = tctool(self.fake, "list-ccr-namespaces")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(lines), 253)
        errors = [c["error"] for c in
                  self.fake.calls("DescribeNamespacePersonal")]
        self.assertEqual(errors, ["RequestLimitExceeded"] * 2 + [None] * 3)

        rc, lines, err = tctool(self.fake, "list-ccr-tags", "bulk-001/many")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(lines), 250)
        self.assertIn("InternalError", [c["error"] for c in
                                        self.fake.calls(
                                            "DescribeImagePersonal")])

    def test_throttling_exhausts_retries(self):
        self.fake.control("POST", "/__faults", [
            {"action": "*", "code": "RequestLimitExceeded", "every": 1}])
        rc, _, err = tctool(self.fake, "list-ccr-repos",
                            extra=("--retries", "2"))
        self.assertEqual(rc, 6, err)
        self.assertIn("RequestLimitExceeded", err)
        self.assertEqual(len(self.fake.calls()), 3)

    def test_create_namespace_conflict(self):
        rc, _, err = tctool(self.fake, "create-ns", REGID, "team-a")
        self.assertEqual(rc, 4, err)
        self.assertIn("ErrorTcrResourceConflict", err)
        rc, lines, err = tctool(self.fake, "create-ns", REGID, "team-b")
        self.assertEqual(rc, 0, err)
        state = self.fake.control("GET", "/__state")
        created = [n for n in state["tcr_namespaces"][REGID]
                   if n["name"] == "team-b"]
        self.assertEqual(len(created), 1)
        self.assertFalse(created[0]["public"])
        rc, _, err = tctool(self.fake, "create-ns", REGID, "team-b")
        self.assertEqual(rc, 4, err)
        body = self.fake.calls("CreateNamespace")[1]["params"]
        self.assertEqual(body, {"RegistryId": REGID, "NamespaceName": "team-b",
                                "IsPublic": False})

    def test_instance_token(self):
        before = int(time.time() * 1000)
        rc, lines, err = tctool(self.fake, "token", REGID)
        self.assertEqual(rc, 0, err)
        user, exp, _, how = lines[0]
        self.assertEqual(how, "as-sent")
        self.assertEqual(user, BASE["uin"])
        # ExpTime is in milliseconds, about an hour ahead
        self.assertTrue(before + 3500 * 1000 <= int(exp)
                        <= before + 3700 * 1000)
        rc, _, err = tctool(self.fake, "token", "tcr-missing")
        self.assertEqual(rc, 5, err)


class HostileApiTest(unittest.TestCase):
    """The C client, through tctool, against the fake's hostile modes
    (tests/fakes/fake_tc_api.py, "hostile"): listings that never end or
    repeat, absurd numbers, implausible token expiries, malformed
    answers."""

    def setUp(self):
        self.assertTrue(os.access(TCTOOL, os.X_OK),
                        "tctool not built at %s" % TCTOOL)
        self.fake = Fake(BASE)

    def tearDown(self):
        self.fake.close()

    def hostile(self, mode):
        self.fake.control("POST", "/__hostile", mode)
        self.fake.control("POST", "/__reset")

    def test_endless_pages_hit_the_item_cap(self):
        self.hostile({"endless": {"action": "DescribeImagePersonal",
                                  "repo": "team-a/app"}})
        rc, lines, err = tctool(self.fake, "each-ccr-tags", "team-a/app",
                                extra=("--max-items", "500"))
        self.assertEqual(rc, 8, err)
        self.assertIn("more than 500 items", err)
        self.assertIn("DescribeImagePersonal", err)
        # the five pages before the cap were handed over, one at a time
        self.assertEqual([l[:2] for l in lines], [["page", "100"]] * 5)
        self.assertEqual(lines[-1][3], "e000000499")
        self.assertEqual(len(self.fake.calls("DescribeImagePersonal")), 6)

        # the return-all call: the same cap, nothing returned
        rc, lines, err = tctool(self.fake, "list-ccr-tags", "team-a/app",
                                extra=("--max-items", "500"))
        self.assertEqual(rc, 8, err)
        self.assertEqual(lines, [])

    def test_endless_fat_pages_hit_the_page_cap(self):
        # pages of 1,000 although 100 were asked for
        self.hostile({"endless": {"action": "DescribeNamespacePersonal",
                                  "page_items": 1000}})
        rc, lines, err = tctool(self.fake, "list-ccr-namespaces",
                                extra=("--max-pages", "7"))
        self.assertEqual(rc, 8, err)
        self.assertIn("more than 7 pages", err)
        self.assertEqual(lines, [])
        calls = self.fake.calls("DescribeNamespacePersonal")
        self.assertEqual([c["params"]["Offset"] for c in calls],
                         [k * 1000 for k in range(7)])

    def test_repeated_or_cycling_pages(self):
        for cycle in (1, 3):
            self.hostile({"repeat": {"action":
                                     "DescribeRepositoryOwnerPersonal",
                                     "cycle": cycle}})
            rc, lines, err = tctool(self.fake, "list-ccr-repos")
            self.assertEqual(rc, 1, err)
            self.assertIn("same page again", err)
            self.assertEqual(lines, [])
            self.assertEqual(
                len(self.fake.calls("DescribeRepositoryOwnerPersonal")),
                cycle + 1)

    def test_absurd_totals(self):
        # a total that is no integer in 0..2^53 counts as none: the short
        # page ends the listing
        for value in (1e300, -1, "NaN", 2 ** 53 + 1, 1.5, [1]):
            self.hostile({"total": {"action": "DescribeNamespacePersonal",
                                    "value": value}})
            rc, lines, err = tctool(self.fake, "list-ccr-namespaces")
            self.assertEqual(rc, 0, (value, err))
            self.assertEqual(len(lines), 3, value)
            self.assertEqual(
                len(self.fake.calls("DescribeNamespacePersonal")), 1)
        # beyond what a JSON parser holds: the answer is malformed
        self.hostile({"total": {"action": "DescribeNamespacePersonal",
                                "value": 2 ** 64}})
        rc, lines, err = tctool(self.fake, "list-ccr-namespaces")
        self.assertEqual(rc, 1, err)
        self.assertIn("malformed response", err)

    def test_implausible_exp_time(self):
        before = int(time.time() * 1000)
        for value in ("seconds", "past", "far", "absent", 1e300, -5, "NaN",
                      "1735880997750", 1.5e12 + 0.5, None, True):
            self.hostile({"exp_time": value})
            rc, lines, err = tctool(self.fake, "token", REGID)
            self.assertEqual(rc, 0, (value, err))
            user, exp, _, how = lines[0]
            self.assertEqual(how, "assumed", value)
            # now + 5 minutes
            self.assertTrue(before + 290 * 1000 <= int(exp)
                            <= int(time.time() * 1000) + 310 * 1000,
                            (value, exp))

    def test_malformed_describe_instances(self):
        for raw, want in (
                ("not json", "malformed response"),
                ('{"Response": {"Registries": "x", "RequestId": "r"}}',
                 "no Registries list"),
                ('{"Response": {"Registries": [1, "x"], "TotalCount": 2,'
                 ' "RequestId": "r"}}', "not an object"),
                ('{"Response": []}', "malformed response"),
                ('{"Resp": {}}', "malformed response")):
            self.hostile({"raw": {"DescribeInstances": raw}})
            rc, lines, err = tctool(self.fake, "instances", "image-transfer")
            self.assertEqual(rc, 1, (raw, err))
            self.assertIn("DescribeInstances", err)
            self.assertIn(want, err)


# ------------------------------------------- connections and rate limits

def bulk_fixture(n_repos, options=None):
    """The base account with n_repos more CCR repositories of one tag."""
    fx = copy.deepcopy(BASE)
    fx["ccr"]["repos"] = [{"name": "bulk/r%05d" % i, "tags": [
        {"name": "v1", "digest": "sha256:%064x" % i}]}
        for i in range(n_repos)]
    if options:
        fx["options"] = dict(fx.get("options", {}), **options)
    return fx


class TlsFake(tcfake.FakeTC):
    """The fake serving HTTPS with a throwaway certificate for 127.0.0.1
    (made with `openssl req`); control calls go over TLS too."""

    def __init__(self, fixture):
        self.tmp = tempfile.TemporaryDirectory(prefix="tcfake-tls-")
        self.cert = os.path.join(self.tmp.name, "cert.pem")
        key = os.path.join(self.tmp.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", self.cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        fixture = copy.deepcopy(fixture)
        fixture.setdefault("options", {})["tls"] = {"cert": self.cert,
                                                    "key": key}
        super().__init__(fixture)
        self.endpoint = "https://127.0.0.1:%d" % self.port
        self.ctx = ssl.create_default_context(cafile=self.cert)

    def control(self, method, path, body=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                           timeout=10, context=self.ctx)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data)
            return json.loads(conn.getresponse().read() or b"null")
        finally:
            conn.close()

    def close(self):
        super().close()
        self.tmp.cleanup()


def list_all(fake, threads, extra=()):
    """tctool list-ccr-all: (rc, {key: value}, stderr)."""
    rc, lines, err = tctool(fake, "list-ccr-all", str(threads), extra=extra)
    return rc, {l[0]: l[1] for l in lines if len(l) == 2}, err


class ConnectionReuse(unittest.TestCase):
    """One client, many calls: the connections the fake accepted (and the
    client counted) stay at one per concurrent caller, over HTTP and over
    HTTPS with a test CA."""

    N = 200

    def check(self, fake, extra=()):
        # 1 + 200 calls from one thread: one connection
        rc, out, err = list_all(fake, 1, extra)
        self.assertEqual(rc, 0, err)
        self.assertEqual((out["repos"], out["tags"], out["errors"]),
                         (str(self.N), str(self.N), "0"), out)
        stats = fake.control("GET", "/__stats")
        self.assertEqual(stats["calls"]["DescribeImagePersonal"], self.N)
        self.assertEqual(stats["api_connections"], 1, stats)
        self.assertEqual(out["connections"], "1")
        # the same from 4 threads: at most 4
        fake.control("POST", "/__reset")
        rc, out, err = list_all(fake, 4, extra)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["errors"], "0", out)
        stats = fake.control("GET", "/__stats")
        self.assertEqual(stats["calls"]["DescribeImagePersonal"], self.N)
        self.assertGreaterEqual(stats["api_connections"], 1)
        self.assertLessEqual(stats["api_connections"], 4, stats)
        self.assertEqual(out["connections"], str(stats["api_connections"]))

    def test_http(self):
        fake = Fake(bulk_fixture(self.N))
        try:
            self.check(fake)
        finally:
            fake.close()

    def test_https_with_test_ca(self):
        fake = TlsFake(bulk_fixture(self.N))
        try:
            self.check(fake, extra=("--ca-file", fake.cert))
            # and a client without the CA is refused, not retried
            rc, lines, err = tctool(fake, "list-ccr-repos")
            self.assertEqual(rc, 1, err)
            self.assertIn("certificate", err.lower())
        finally:
            fake.close()


class RateLimits(unittest.TestCase):
    """The fake enforces the documented 100/s on DescribeImagePersonal
    (a bucket of 100 refilled at 100/s, answering RequestLimitExceeded
    beyond): listing 1,000 repositories' tags from 8 threads completes
    with at most a handful of throttled calls (counts, not times)."""

    def test_documented_rate_respected(self):
        fake = Fake(bulk_fixture(1000, {"rate_limits": {
            "DescribeImagePersonal": 100,
            "DescribeRepositoryOwnerPersonal": 100}}))
        try:
            rc, out, err = list_all(fake, 8)
            self.assertEqual(rc, 0, err)
            self.assertEqual((out["repos"], out["tags"], out["errors"]),
                             ("1000", "1000", "0"), out)
            stats = fake.control("GET", "/__stats")
            self.assertEqual(stats["calls"]["DescribeImagePersonal"], 1000)
            throttled = sum(stats["throttled"].values())
            self.assertLessEqual(throttled, 5, stats)
        finally:
            fake.close()

    def test_throttled_client_slows_down(self):
        """A fake far stricter than the documentation (10/s): the client's
        retries and halved bucket still list everything, and the throttled
        answers stay well below the calls (no storm)."""
        fake = Fake(bulk_fixture(60, {"rate_limits": {
            "DescribeImagePersonal": 10}}))
        try:
            rc, out, err = list_all(fake, 4, extra=("--retries", "8",
                                                    "--backoff-ms", "100"))
            self.assertEqual(rc, 0, err)
            self.assertEqual((out["tags"], out["errors"]), ("60", "0"), out)
            stats = fake.control("GET", "/__stats")
            self.assertLess(stats["throttled"].get(
                "DescribeImagePersonal", 0), 60, stats)
        finally:
            fake.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
