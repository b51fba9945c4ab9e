#!/usr/bin/env bash
# Installs every build and test dependency on a Debian machine. Idempotent:
# packages already present are left alone, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."  # paths below are relative to the repo root

# clang + libclang-rt-14-dev (libFuzzer and the sanitizer runtimes; only
# recommended by clang, so named here) + llvm (llvm-symbolizer for stacks):
# tests/fuzz/run.sh.
PKGS=(build-essential cmake pkg-config clang-format
      clang libclang-rt-14-dev llvm
      libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev libsqlite3-dev
      libncurses-dev libcmocka-dev
      docker-registry skopeo apache2-utils openssl
      python3 tmux time procps jq strace
      file dpkg-dev man-db systemd
      golang-docker-credential-helpers pass gnupg
      # promtool and node_exporter's textfile collector read --metrics-file
      # in integration.test_monitoring (they start on free loopback ports)
      prometheus prometheus-node-exporter)
# (golang-docker-credential-helpers, pass, gnupg: docker-credential-pass
# over a throw-away gpg key in integration.test_credhelpers; test only, the
# program runs whatever helper the user's Docker config names.)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
# Node.js runs the official Tencent Cloud SDK in integration.test_tc_sdk.
# Checked by command, not by package: a machine may have Node from another
# source (e.g. NodeSource's nodejs, which bundles npm and conflicts with
# Debian's npm package).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "install-deps: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
# The Debian package starts a registry on :5000 as a service; tests start
# their own on free ports and never use it.

# The Node.js packages pinned by tests/sdk/package.json and package-lock.json
# (the official Tencent Cloud SDK for integration.test_tc_sdk; kubernetes-models
# and yaml for integration.test_k8s_manifests), into tests/sdk/node_modules
# (git-ignored). Reinstalled only when one is absent or at another version. A
# failure here is a warning: the tests that need them fail naming this script.
SDK_DIR=tests/sdk
stale=$(node -e '
  const dir = process.argv[1];
  const deps = require("./" + dir + "/package.json").dependencies;
  const out = [];
  for (const [name, want] of Object.entries(deps)) {
    let have = "";
    try {
      have = require("./" + dir + "/node_modules/" + name +
                     "/package.json").version;
    } catch (e) {}
    if (have !== want) out.push(name + "@" + want);
  }
  console.log(out.join(" "));' "$SDK_DIR")
if [ -n "$stale" ]; then
    echo "install-deps: installing $stale into $SDK_DIR"
    if ! (cd "$SDK_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
        echo "install-deps: WARNING: could not install $stale (is the npm registry" \
             "reachable?); integration.test_tc_sdk and test_k8s_manifests will fail" >&2
    fi
fi
echo "install-deps: ok"
