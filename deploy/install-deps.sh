#!/usr/bin/env bash
# Installs every build and test dependency on a Debian machine. Idempotent:
# packages already present are left alone, so a second run is quick.
set -euo pipefail

PKGS=(build-essential cmake pkg-config clang-format
      libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev
      libncurses-dev libcmocka-dev
      docker-registry skopeo apache2-utils openssl
      python3 tmux time procps)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
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
echo "install-deps: ok"
