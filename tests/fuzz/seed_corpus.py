#!/usr/bin/env python3
"""Writes the seed corpus tests/fuzz/corpus/<target>/ from the test fixtures
(tests/fixtures) plus a few hand-written real-world shapes. Run it again
after changing a fixture; the output is deterministic (file names are
descriptive or a hash of the content), so `git status` shows what changed.
The corpus is kept in the tree; this script is how it was made.
"""
import hashlib
import json
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
OUT = os.path.join(HERE, "corpus")

corpus = {}


def add(target, data, name=None):
    if isinstance(data, str):
        data = data.encode()
    if name is None:
        name = hashlib.sha1(data).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    files = corpus.setdefault(target, {})
    if data in files.values():
        return
    base, n = name, 1
    while name in files:
        n += 1
        name = "%s-%d" % (base, n)
    files[name] = data


def read(*parts):
    with open(os.path.join(FIX, *parts), "rb") as f:
        return f.read()


def unesc(s):
    """The fixtures' escapes: <empty>, \\s, \\t, \\n, \\r, \\\\, \\xNN."""
    if s == "<empty>":
        return b""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            d = s[i + 1]
            if d == "x" and i + 3 < len(s):
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"s": b" ", "t": b"\t", "n": b"\n", "r": b"\r",
                    "\\": b"\\"}.get(d, ("\\" + d).encode())
            i += 2
            continue
        out += c.encode()
        i += 1
    return bytes(out)


def fixture_lines(name, prefix):
    for line in read(name).decode().splitlines():
        if line.startswith(prefix):
            yield line[len(prefix):]


# ------------------------------------------------------------- manifests
CTS = {
    "v2s2.json": "application/vnd.docker.distribution.manifest.v2+json",
    "docker-list.json":
        "application/vnd.docker.distribution.manifest.list.v2+json",
    "schema1-signed.json":
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "schema1-unsigned.json":
        "application/vnd.docker.distribution.manifest.v1+json",
    "oci-manifest-no-mt.json":
        "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
    "oci-index-no-mt.json": "application/vnd.oci.image.index.v1+json",
}
mdir = os.path.join(FIX, "manifests")
for fn in sorted(os.listdir(mdir)):
    if not fn.endswith(".json"):
        continue
    body = read("manifests", fn)
    stem = fn[:-5]
    add("manifest", body.replace(b"\n", b" ") if b"\n" in body else body,
        "nohdr-" + stem)                       # no Content-Type at all
    add("manifest", b"\n" + body, "empty-ct-" + stem)
    add("manifest", CTS.get(fn, "application/json").encode() + b"\n" + body,
        "ct-" + stem)
# the hostile shape of issue 10 item 1, and huge numbers (item 4)
add("manifest", b"application/vnd.oci.image.manifest.v1+json\n" + json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json\r\n"
                 "Content-Length: 0\r\n\r\nDELETE /v2/prod/app/manifests/x "
                 "HTTP/1.1\r\n",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": "sha256:" + "a" * 64, "size": 2},
    "layers": []}).encode(), "hostile-mediatype-crlf")
add("manifest", b"\n" + json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
               "digest": "sha256:" + "b" * 64, "size": 9223372036854775807},
    "layers": [{"mediaType":
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": "sha256:" + "c" * 64, "size": 9007199254740993}]
}).encode(), "huge-sizes")
add("manifest", b"application/vnd.oci.image.index.v1+json\n" + json.dumps({
    "schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": "sha256:" + "%064x" % i, "size": 100 + i,
         "platform": {"os": "linux", "architecture": "arm64",
                      "variant": "v8"}} for i in range(3)]}).encode(),
    "index-dup-platforms")

# --------------------------------------------------- WWW-Authenticate
for h in fixture_lines("www-authenticate.txt", "header: "):
    add("challenge", unesc(h))
add("challenge", 'Bearer realm="https://auth.example/token",service="r",'
    'scope="repository:a/b:pull" , Basic realm="x"', "two-challenges")

# ----------------------------------------------------------------- Link
for h in fixture_lines("link.txt", "header: "):
    add("link", unesc(h))

# ---------------------------------------- Range / Content-Range (resume)
for v in ["bytes 0-9/10", "bytes 100-25165823/25165824", "bytes 5-5/*",
          "bytes 9-0/10", "bytes 5-20/10", "bytes -1-5/10", "bytes */10",
          "bytes 1-9007199254740993/9007199254740994", "0-1023",
          "bytes=0-4", "0-0", "1-5", "0-99999999999999999999"]:
    add("range", v)

# ------------------------------------------------------ URL resolution
for line in read("url-resolve.txt").decode().splitlines():
    if not line.strip() or line.startswith("#"):
        continue
    parts = line.split(" ")
    if len(parts) < 2 or "-" in parts[:2]:
        continue
    add("url_resolve", unesc(parts[0]) + b"\n" + unesc(parts[1]))
for ref in ["file:///etc/passwd", "HTTP://other.example/x", "javascript:x",
            "//evil.example:1/a/../../b", "/v2/../../../x?y#z"]:
    add("url_resolve", b"https://r.example/v2/a/blobs/uploads/\n" +
        ref.encode())

# ----------------------------------------------------------- references
for line in read("references.txt").decode().splitlines():
    if not line.strip() or line.startswith("#"):
        continue
    add("reference", unesc(line.split("  ")[0]))
for s in ["sha256:" + "0" * 64, "v1.2.3-rc.1_x", "a/b/c", "A" * 129,
          "localhost:5000/a@sha256:" + "f" * 64]:
    add("reference", s)

# ---------------------------------------------------- registry errors
status = None
for line in read("http-errors.txt").decode().splitlines():
    if line.startswith("status: "):
        status = int(line[8:])
    elif line.startswith("body: ") and status is not None:
        body = line[6:]
        if body == "<none>":
            body = "<empty>"
        v = (status - 100) % 500  # fuzz_http_error: 100 + v % 500
        add("http_error", bytes([v >> 8, v & 255]) + unesc(body))

# ------------------------------------------------------- token answers
for t in [
        {"token": "eyJhbGciOiJFUzI1NiJ9.e30.sig", "expires_in": 300,
         "issued_at": "2024-06-22T10:37:26Z"},
        {"access_token": "abc", "token": "abc", "expires_in": 60},
        {"access_token": "only-access-token"},
        {"token": "t", "expires_in": 9223372036854775807},
        {"token": "t", "expires_in": -1},
        {"token": "t", "expires_in": 1e300},
        {"token": "t", "expires_in": "300"},
        {"token": "line\r\nX-Injected: 1"},
        {"token": ""},
        {"errors": [{"code": "UNAUTHORIZED", "message": "no"}]}]:
    add("token", json.dumps(t))
add("token", "not json")

# -------------------------------------------------- Tencent Cloud API
acct = json.loads(read("tc-account.json"))
srv = acct["ccr"]["server"]
resp = {}
resp["ccr_ns"] = {"Data": {"NamespaceCount": 3, "NamespaceInfo": [
    {"Namespace": n["name"], "CreationTime": n["creation_time"],
     "RepoCount": 1} for n in acct["ccr"]["namespaces"]]}}
resp["ccr_repos"] = {"Data": {"TotalCount": len(acct["ccr"]["repos"]),
                              "Server": srv, "RepoInfo": [
    {"RepoName": r["name"], "RepoType": "QCLOUD HUB",
     "TagCount": len(r["tags"]), "Public": r["public"],
     "UpdateTime": "2024-01-02 00:00:00"} for r in acct["ccr"]["repos"]]}}
tags = acct["ccr"]["repos"][0]["tags"]
resp["ccr_tags"] = {"Data": {"TagCount": len(tags), "Server": srv,
                             "RepoName": "team-a/web", "TagInfo": [
    {"TagName": t["name"], "TagId": t["digest"], "SizeByte": t["size"],
     "Size": "%d B" % t["size"], "PushTime": t["push_time"],
     "Kind": "Artifact::application/vnd.docker.distribution.manifest.v2"
             "+json"} for t in tags]}}
resp["instances"] = {"TotalCount": 1, "Registries": [
    {"RegistryId": "tcr-fuzz0001", "RegistryName": "fuzz",
     "RegistryType": "basic", "Status": "Running",
     "PublicDomain": "fuzz.tencentcloudcr.com",
     "RegionName": "ap-guangzhou", "RegionId": 1}]}
resp["tcr_ns"] = {"TotalCount": 2, "NamespaceList": [
    {"Name": "team-a", "CreationTime": "2024-12-10T14:04:56Z",
     "Public": False, "NamespaceId": 1},
    {"Name": "team-b", "CreationTime": "2024-12-10T14:04:56Z",
     "Public": True, "NamespaceId": 2}]}
resp["create_ns"] = {}
resp["tcr_repos"] = {"TotalCount": 1, "RepositoryList": [
    {"Name": "team-a/web", "Namespace": "team-a",
     "CreationTime": "2024-12-10 14:30:36.806284 +0000 UTC",
     "UpdateTime": "2024-12-10 14:30:36.806284 +0000 UTC",
     "Public": False}]}
resp["tcr_images"] = {"TotalCount": 1, "ImageInfoList": [
    {"ImageVersion": "v1", "Digest": "sha256:" + "d" * 64, "Size": 1000,
     "UpdateTime": "2024-03-01 10:00:00", "Kind": "docker"}]}
resp["token"] = {"Username": acct["uin"], "Token": "fake-jwt-0123",
                 "ExpTime": 1700000300000, "TokenId": ""}
# ExpTime 1e300 (issue 10 item 4) is kept in crashes-found/tc_api/.
resp["token_exptime_seconds"] = dict(resp["token"], ExpTime=1700000300)


def envelope(r, rid="fuzz-req-1"):
    return json.dumps({"Response": dict(r, RequestId=rid)})


for name, r in resp.items():
    add("tc_api", envelope(r), name)
for code, msg in [("AuthFailure.SignatureFailure", "signature mismatch"),
                  ("RequestLimitExceeded", "slow down"),
                  ("InternalError.ErrorTcrResourceConflict", "conflict"),
                  ("ResourceNotFound.ErrNoRepo", "no repo"),
                  ("FailedOperation", "fuzzSecretKey-must-never-show-0001"),
                  ("InvalidParameter", "bad \x1b]0;title\x07")]:
    add("tc_api", envelope({"Error": {"Code": code, "Message": msg}}),
        "error-" + code)
# several answers: page 1, page 2, an empty page; a retried 500; a
# transport failure then success; a page repeated (Offset ignored)
p1 = {"TotalCount": 250, "Registries": resp["instances"]["Registries"] * 100}
add("tc_api", envelope(p1) + "\n---\n" + envelope(resp["instances"]) +
    "\n---\n" + envelope({"TotalCount": 250, "Registries": []}), "pages")
add("tc_api", "HTTP 500\n<html>oops</html>\n---\n" +
    envelope(resp["ccr_repos"]), "retry-500")
add("tc_api", "!\n---\n" + envelope(resp["tcr_ns"]), "retry-transport")
add("tc_api", "HTTP 429\n\n---\nHTTP 429\n\n---\nHTTP 429\n", "gives-up")
add("tc_api", envelope({"Data": "not an object"}), "bad-data")
add("tc_api", json.dumps({"Response": [1, 2]}), "bad-response")

# -------------------------------------------------------------- journal
DG = "sha256:" + "0123456789abcdef" * 4
blob = json.dumps({"t": "blob", "registry": "127.0.0.1:5001",
                   "repo": "team-a/web", "digest": DG, "size": 1000},
                  separators=(",", ":"))
image = json.dumps({"t": "image", "source": "127.0.0.1:5000/team-a/web:v1",
                    "digest": DG, "target": "127.0.0.1:5001/team-a/web:v1"},
                   separators=(",", ":"))
add("journal", "", "empty")
add("journal", blob + "\n" + image + "\n", "two-records")
add("journal", blob + "\n" + image + "\n" + blob[:30], "torn-tail")
add("journal", blob + "\n{not json}\n" + image + "\n", "corrupt-middle")
add("journal", blob + "\n" + json.dumps({"t": "blob", "size": 1}) + "\n",
    "record-without-fields")
add("journal", json.dumps({"t": "blob", "registry": "r", "repo": "x",
                           "digest": DG, "size": 9.5e300}) + "\n",
    "size-float")

# ---------------------------------------------------------------- YAML
cdir = os.path.join(FIX, "config")
for fn in sorted(os.listdir(cdir)):
    data = read("config", fn)
    if fn.startswith("secrets-"):
        add("secrets_yaml", data, fn)
    elif fn.startswith("rules-") and fn.endswith(".yaml"):
        add("rules_yaml", data, fn)
    elif fn.startswith("tc-"):
        add("tc_secrets_yaml", data, fn)
    elif fn.startswith("docker-config"):
        add("docker_config", data, fn)
add("secrets_yaml", "a: &x {username: u, password: p}\nb: *x\n", "alias")
add("secrets_yaml", "lol: &a [x, x]\nlol2: &b [*a, *a]\nlol3: [*b, *b]\n",
    "laughs")
# it_rule_resolve cases as rule files
rules = []
for line in read("config", "rules-resolve.table").decode().splitlines():
    if not line.strip() or line.startswith("#"):
        continue
    cols = [c.strip() for c in line.split("|")]
    if len(cols) >= 2:
        src, dst = cols[0], cols[1]
        rules.append('"%s": %s' % (src, "" if dst == "-" else
                                   '"%s"' % dst))
for i in range(0, len(rules), 4):
    add("rules_yaml", "\n".join(rules[i:i + 4]) + "\n")
add("docker_config", json.dumps({"auths": {
    "registry.example.com": {"auth": "dXNlcjpwYXNz"},
    "other.example.com": {"auth": "bm9jb2xvbg=="},
    "bad.example.com": {"auth": "!!!"},
    "ghcr.io": {"username": "cfg", "password": "cfg"}}}), "mixed")

# issue 14: it_platform_filter_index on index bodies (the fixtures' lists
# and indexes, and hand-written shapes)
for fn in sorted(os.listdir(mdir)):
    body = read("manifests", fn)
    if fn.endswith(".json") and b'"manifests"' in body:
        add("platform_filter", body, fn[:-5])
add("platform_filter", json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"digest": "sha256:" + "a" * 64, "size": 1,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:" + "b" * 64, "size": 1,
         "platform": {"os": "linux", "architecture": "arm",
                      "variant": "v6"}},
        {"digest": "sha256:" + "c" * 64, "size": 1,
         "platform": {"os": "windows", "architecture": "amd64",
                      "os.version": "10.0.17763.1879"}}]}), "index-4")
add("platform_filter", '{"manifests":[{"platform":{"os":"linux",'
    '"architecture":"amd64\\u001b[2J"}},{"platform":{"os":"linux",'
    '"architecture":"aarch64","variant":"8"}},{"platform":7},3]}', "hostile")
add("platform_filter", '{"manifests":{}}', "not-array")

# ------------------------------------------- referrers index (OCI 1.1)
# reg_referrers_parse_index: the referrers API's answer or the index a
# "sha256-<hex>" referrers tag holds.
OCI_IDX = "application/vnd.oci.image.index.v1+json"
OCI_MAN = "application/vnd.oci.image.manifest.v1+json"


def referrer(i, **kw):
    d = {"mediaType": OCI_MAN, "digest": "sha256:" + "%064x" % (i + 1),
         "size": 500 + i}
    d.update(kw)
    return d


def ref_index(manifests, **kw):
    d = {"schemaVersion": 2, "mediaType": OCI_IDX, "manifests": manifests}
    d.update(kw)
    return json.dumps(d)


add("referrers_index", ref_index([
    referrer(0, artifactType="application/vnd.dev.cosign.artifact.sig.v1"
             "+json", annotations={
                 "org.opencontainers.image.created": "2024-06-01T00:00:00Z"}),
    referrer(1, artifactType="application/spdx+json"),
    referrer(2, artifactType="application/vnd.in-toto+json", annotations={
        "dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1",
        "a": "b"})]), "valid")
add("referrers_index", ref_index([]), "empty-manifests")
add("referrers_index", ref_index(None), "null-manifests")
add("referrers_index", '{"manifests":[]}', "bare")
add("referrers_index", ref_index([referrer(0, artifactType=
                                           "application/vnd.example+type")]),
    "artifact-type")
add("referrers_index", ref_index([referrer(0, annotations={
    "org.opencontainers.image.title": "sbom.spdx.json",
    "x": "\x1b]0;pwned\x07\r\nX-Injected: 1\x7f\u009b2J",
    "nested": {"deep": [1, 2.5, None, True]}})]), "annotations")
add("referrers_index", ref_index([referrer(0, annotations={})]),
    "annotations-empty")
add("referrers_index", ref_index([referrer(0, annotations=[1])]),
    "annotations-not-object")
add("referrers_index", ref_index([referrer(0), referrer(0), referrer(1),
                                  referrer(0, size=1)]), "duplicates")
# more than REG_REFERRERS_MAX (1024); the compact form stays small
add("referrers_index", '{"manifests":[' + ",".join(
    '{"digest":"sha256:%064x","size":1}' % i for i in range(1100)) + "]}",
    "oversized")
add("referrers_index", ref_index([referrer(0, size=9007199254740993),
                                  referrer(1, size=-1)]), "huge-sizes")
add("referrers_index", ref_index([referrer(0, size=1.5)]), "size-float")
add("referrers_index", ref_index([referrer(
    0, mediaType=OCI_MAN + "\r\nX-Injected: 1",
    artifactType="text/plain\x1b[2J")]), "hostile-media-types")
add("referrers_index", ref_index([referrer(0, digest="sha256:" + "A" * 64),
                                  referrer(1, digest="sha512:" + "a" * 128)]),
    "bad-digests")
add("referrers_index", ref_index([{"x": [[[[{"manifests": [{}]}]]]]}, 3,
                                  "s", None, [referrer(0)]],
                                 subject={"digest": "sha256:" + "e" * 64}),
    "nested-junk")
add("referrers_index", '{"manifests":' + "[" * 300 + "]" * 300 + "}",
    "deep-arrays")
add("referrers_index", '{"manifests":[],"manifests":[]}', "duplicate-key")
add("referrers_index", '{"manifests":{}}', "manifests-object")
add("referrers_index", '[{"manifests":[]}]', "not-object")
add("referrers_index", ref_index([referrer(0)]) + " trailing", "trailing")
add("referrers_index", "", "empty")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    total = 0
    for target, files in sorted(corpus.items()):
        d = os.path.join(OUT, target)
        os.makedirs(d)
        for name, data in sorted(files.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += 1
        print("%-16s %3d inputs" % (target, len(files)))
    print("total %d" % total)


if __name__ == "__main__":
    sys.exit(main())
