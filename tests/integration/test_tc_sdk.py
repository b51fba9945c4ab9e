#!/usr/bin/env python3
"""Integration: the fake Tencent Cloud API (tests/fakes/fake_tc_api.py)
accepts requests signed by the OFFICIAL Tencent Cloud SDK, not only by our
own C client and our own reimplementation of the algorithm.

The calls are made by tests/integration/sdk_call.js with the pinned
tencentcloud-sdk-nodejs-common (CommonClient, TC3-HMAC-SHA256), installed
into tests/sdk/node_modules by deploy/install-deps.sh. When Node or the SDK
is missing the tests FAIL, naming what is missing: CI installs it, so a
skip would hide a broken setup.

Every accepted call is also checked in the fake's /__calls log: its
signature was verified, for the fixture's SecretId, and it came from the
Node SDK (X-TC-RequestClient). Everything runs on 127.0.0.1 with bounded
timeouts; the fake is always killed.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcfake  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.environ.get("TESTS_DIR", os.path.join(HERE, ".."))
FIXTURE = os.path.join(TESTS_DIR, "fixtures", "tc-account.json")
SDK_CALL = os.path.join(TESTS_DIR, "integration", "sdk_call.js")
SDK_ROOT = os.path.join(TESTS_DIR, "sdk")
SDK_PKG = "tencentcloud-sdk-nodejs-common"
API_HOST = "tcr.fake.invalid"  # sdk_call.js resolves it to the fake
REGID = "tcr-it000001"
REGION = "ap-guangzhou"

with open(FIXTURE, encoding="utf-8") as _f:
    BASE = json.load(_f)
SECRET_ID = BASE["credentials"][0]["secret_id"]
SECRET_KEY = BASE["credentials"][0]["secret_key"]


def sdk_problem():
    """None when node and the pinned SDK are installed, else why not."""
    with open(os.path.join(SDK_ROOT, "package.json"), encoding="utf-8") as f:
        want = json.load(f)["dependencies"][SDK_PKG]
    fix = ("run deploy/install-deps.sh (it installs %s@%s into %s with npm)"
           % (SDK_PKG, want, os.path.join(SDK_ROOT, "node_modules")))
    if shutil.which("node") is None:
        return "node (Node.js) is not installed; " + fix
    meta = os.path.join(SDK_ROOT, "node_modules", SDK_PKG, "package.json")
    try:
        with open(meta, encoding="utf-8") as f:
            have = json.load(f).get("version")
    except OSError:
        return "the official SDK package %s is not installed; %s" % (
            SDK_PKG, fix)
    if have != want:
        return "%s is at version %s, the tests pin %s; %s" % (
            SDK_PKG, have, want, fix)
    return None


class SdkAgainstFakeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        problem = sdk_problem()
        if problem:
            raise AssertionError("official Tencent Cloud SDK unavailable: "
                                 + problem)
        with open(os.path.join(SDK_ROOT, "node_modules", SDK_PKG,
                               "package.json"), encoding="utf-8") as f:
            cls.sdk_version = json.load(f)["version"]

    def setUp(self):
        self.fake = tcfake.FakeTC(BASE, prefix="tcsdk-")

    def tearDown(self):
        self.fake.close()

    def sdk(self, action, params, secret_id=SECRET_ID,
            secret_key=SECRET_KEY):
        """One call through the official SDK: (exit code, decoded JSON
        answer, the fake's log entry for it). Asserts the call reached the
        fake exactly once and that nothing secret was printed."""
        before = len(self.fake.calls())
        env = dict(os.environ, TC_SECRET_ID=secret_id,
                   TC_SECRET_KEY=secret_key)
        p = subprocess.run(
            ["node", SDK_CALL, "--connect", "127.0.0.1:%d" % self.fake.port,
             "--api-host", API_HOST, "--region", REGION,
             "--action", action, "--params", json.dumps(params)],
            capture_output=True, text=True, timeout=60, env=env)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        self.assertNotIn(secret_key, p.stdout + p.stderr)
        out = json.loads(p.stdout)
        calls = self.fake.calls()
        self.assertEqual(len(calls), before + 1, "exactly one request")
        return p.returncode, out, calls[-1]

    def check_log(self, call, action):
        """The log entry is this call, sent by the official SDK."""
        self.assertEqual(call["action"], action)
        self.assertEqual(call.get("request_client"),
                         "SDK_NODEJS_" + self.sdk_version)
        self.assertEqual(call["host"], "%s:%d" % (API_HOST, self.fake.port))
        self.assertEqual(call["region"], REGION)

    def ok(self, action, params):
        """A call that must succeed and must have been verified."""
        rc, out, call = self.sdk(action, params)
        self.assertEqual(rc, 0, "the fake rejected the official SDK: %s"
                         % json.dumps(out))
        self.assertNotIn("Error", out)
        self.check_log(call, action)
        self.assertTrue(out["RequestId"])
        self.assertTrue(call.get("verified"), call)
        self.assertIsNone(call["error"])
        self.assertEqual(call["secret_id"], SECRET_ID)
        # the Node SDK signs the endpoint's name without the port
        self.assertEqual(call.get("signed_host"), API_HOST)
        self.assertEqual(call["signed_headers"], ["content-type", "host"])
        self.assertEqual(call["content_type"], "application/json")
        self.assertEqual(call["params"], params)
        return out

    def failed(self, action, params, code, **kw):
        """A call that must fail with `code` as the SDK reports it."""
        rc, out, call = self.sdk(action, params, **kw)
        self.assertEqual(rc, 1, out)
        self.assertEqual(out["Error"]["Code"], code)
        self.check_log(call, action)
        self.assertTrue(out["RequestId"])
        self.assertEqual(call["error"], code)
        return out, call

    def test_describe_instances_name_filter(self):
        for name in ("image-transfer", "other-registry"):
            out = self.ok("DescribeInstances", {
                "Filters": [{"Name": "RegistryName", "Values": [name]}],
                "Limit": 100, "Offset": 0})
            # the fake matches names loosely (contains), like the real API
            want = [i for i in BASE["tcr"]["instances"]
                    if name in i["name"]]
            self.assertTrue(want)
            self.assertEqual(out["TotalCount"], len(want))
            self.assertEqual(
                [(r["RegistryId"], r["RegistryName"], r["PublicDomain"])
                 for r in out["Registries"]],
                [(i["id"], i["name"],
                  i.get("public_domain", i["name"] + ".tencentcloudcr.com"))
                 for i in want])
            exact = [r["RegistryId"] for r in out["Registries"]
                     if r["RegistryName"] == name]
            self.assertEqual(len(exact), 1)
        self.assertEqual(exact, ["tcr-other003"])

    def walk(self, action, params, items_of, total_of, limit):
        """Pages through a record-offset call; every page checked."""
        got, offset = [], 0
        for _ in range(10):  # bounded: the fixture needs at most 2 pages
            page = self.ok(action, dict(params, Offset=offset,
                                        Limit=limit))["Data"]
            items = items_of(page)
            self.assertLessEqual(len(items), limit)
            got += items
            offset += limit
            if offset >= total_of(page):
                return got, total_of(page)
        self.fail("%s did not finish paging" % action)

    def test_ccr_personal_calls_page_by_record_offset(self):
        want = [n["name"] for n in BASE["ccr"]["namespaces"]]
        got, total = self.walk(
            "DescribeNamespacePersonal", {"Namespace": ""},
            lambda d: [n["Namespace"] for n in d["NamespaceInfo"]],
            lambda d: d["NamespaceCount"], 2)
        self.assertEqual((got, total), (want, len(want)))
        offsets = [c["params"]["Offset"] for c in
                   self.fake.calls("DescribeNamespacePersonal")]
        self.assertEqual(offsets, [0, 2])

        want = [r["name"] for r in BASE["ccr"]["repos"]]
        got, total = self.walk(
            "DescribeRepositoryOwnerPersonal", {},
            lambda d: [r["RepoName"] for r in d["RepoInfo"]],
            lambda d: d["TotalCount"], 2)
        self.assertEqual((got, total), (want, len(want)))

        # an offset past the end is an empty page, not an error
        data = self.ok("DescribeRepositoryOwnerPersonal",
                       {"Offset": len(want), "Limit": 2})["Data"]
        self.assertEqual((data["RepoInfo"], data["TotalCount"]),
                         ([], len(want)))
        # Limit above the documented maximum of 100: a parameter error
        # the SDK passes through with its code, after a valid signature
        _, call = self.failed("DescribeRepositoryOwnerPersonal",
                              {"Offset": 0, "Limit": 101},
                              "InvalidParameterValue")
        self.assertTrue(call["verified"])

    def test_create_namespace(self):
        self.ok("CreateNamespace", {"RegistryId": REGID,
                                    "NamespaceName": "sdk-team",
                                    "IsPublic": False})
        state = self.fake.control("GET", "/__state")["tcr_namespaces"]
        created = [n for n in state[REGID] if n["name"] == "sdk-team"]
        self.assertEqual(len(created), 1)
        self.assertFalse(created[0]["public"])
        _, call = self.failed("CreateNamespace",
                              {"RegistryId": REGID,
                               "NamespaceName": "sdk-team",
                               "IsPublic": False},
                              "FailedOperation.ErrorTcrResourceConflict")
        self.assertTrue(call["verified"])

    def test_wrong_secret_key_rejected(self):
        bad = SECRET_KEY[:-1] + ("x" if SECRET_KEY[-1] != "x" else "y")
        out, call = self.failed("DescribeInstances", {},
                                "AuthFailure.SignatureFailure",
                                secret_key=bad)
        self.assertFalse(call["verified"])
        self.assertIsNone(call["params"])  # never carried out
        # the same call with the right key goes through
        self.ok("DescribeInstances", {})

    def test_unknown_secret_id_rejected(self):
        _, call = self.failed("DescribeInstances", {},
                              "AuthFailure.SecretIdNotFound",
                              secret_id="AKIDunknown0000000000000000000000")
        self.assertFalse(call["verified"])
        self.assertIsNone(call["params"])

    def test_no_side_effect_without_valid_signature(self):
        self.failed("CreateNamespace", {"RegistryId": REGID,
                                        "NamespaceName": "sdk-forged",
                                        "IsPublic": False},
                    "AuthFailure.SignatureFailure",
                    secret_key=SECRET_KEY + "0")
        state = self.fake.control("GET", "/__state")["tcr_namespaces"]
        self.assertNotIn("sdk-forged", [n["name"] for n in state[REGID]])


class HostFormsTest(unittest.TestCase):
    """The fake's allowance for the Node SDK (host signed without the
    port) binds to the received Host header; it does not accept a
    signature made for another host. Signed with the reimplementation in
    test_tc_fake.py, which can choose the host it signs."""

    @classmethod
    def setUpClass(cls):
        import test_tc_fake
        cls.sign = staticmethod(test_tc_fake.sdk_sign)
        cls.post = staticmethod(test_tc_fake.post)
        cls.fake = tcfake.FakeTC(BASE, prefix="tcsdk-")

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def request(self, signed_host, sent_host):
        body = b'{"Namespace":"","Limit":10,"Offset":0}'
        h = self.sign(SECRET_ID, SECRET_KEY, signed_host,
                      "DescribeNamespacePersonal", body, int(time.time()))
        h["Host"] = sent_host
        _, resp = self.post(self.fake, h, body)
        return resp.get("Error", {}).get("Code"), self.fake.calls()[-1]

    def test_forms(self):
        port = self.fake.port
        cases = [
            ("127.0.0.1:%d" % port, "127.0.0.1:%d" % port, None),
            ("127.0.0.1", "127.0.0.1:%d" % port, None),
            ("tcr.fake.invalid", "tcr.fake.invalid:%d" % port, None),
            ("tcr.fake.invalid", "127.0.0.1:%d" % port,
             "AuthFailure.SignatureFailure"),
            ("127.0.0.1:%d" % (port + 1), "127.0.0.1:%d" % port,
             "AuthFailure.SignatureFailure"),
            ("127.0.0.1:%d" % port, "127.0.0.1", "AuthFailure.SignatureFailure"),
        ]
        for signed, sent, want in cases:
            with self.subTest(signed=signed, sent=sent):
                code, call = self.request(signed, sent)
                self.assertEqual(code, want)
                self.assertEqual(call["verified"], want is None)
                if want is None:
                    self.assertEqual(call["signed_host"], signed)


if __name__ == "__main__":
    unittest.main(verbosity=2)
