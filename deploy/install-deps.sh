#!/usr/bin/env bash
# Installs every build and test dependency on a Debian machine. Idempotent:
# packages already present are left alone, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."  # paths below are relative to the repo root

PKGS=(build-essential cmake pkg-config clang-format
      libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev
      libncurses-dev libcmocka-dev
      docker-registry skopeo apache2-utils openssl
      python3 tmux time procps jq
      file dpkg-dev man-db systemd)

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

# The official Tencent Cloud Node.js SDK, at the version pinned by
# tests/sdk/package.json and package-lock.json, into tests/sdk/node_modules
# (git-ignored). Reinstalled only when absent or at another version. A
# failure here is a warning, not fatal: only integration.test_tc_sdk needs
# the SDK, and it fails naming the package and this script when it is
# missing.
SDK_DIR=tests/sdk
SDK_PKG=tencentcloud-sdk-nodejs-common
want=$(node -p "require('./$SDK_DIR/package.json').dependencies['$SDK_PKG']")
have=$(node -p "try { require('./$SDK_DIR/node_modules/$SDK_PKG/package.json').version } catch (e) { '' }")
if [ "$have" != "$want" ]; then
    echo "install-deps: installing $SDK_PKG@$want into $SDK_DIR"
    if ! (cd "$SDK_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
        echo "install-deps: WARNING: could not install $SDK_PKG@$want" \
             "(is the npm registry reachable?); integration.test_tc_sdk will fail" >&2
    fi
fi
echo "install-deps: ok"
