#!/usr/bin/env bash
# Sets everything up and runs a real migration on a local sandbox: a
# docker-registry standing in for a CCR account, another for a TCR
# Enterprise instance (basic auth), and the test double of the Tencent
# Cloud API holding the demo account; then `image-transfer --ccrToTcr=true`
# migrates the account with the live dashboard (headless progress lines
# without a terminal) and skopeo compares every tag. All on 127.0.0.1,
# all stopped at the end; state in .sandbox/, so a second run skips
# everything. Options: see deploy/sandbox.py (--reset, --generic, --dir).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target image-transfer
exec python3 deploy/sandbox.py --binary build/src/image-transfer "$@"
