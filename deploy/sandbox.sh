#!/usr/bin/env bash
# Sets everything up and runs a real migration on a local sandbox: two
# docker-registry processes on loopback ports (a source without auth, a
# target with basic auth), seeded with images of every kind, migrated by
# image-transfer with the live dashboard, then verified with skopeo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target image-transfer
exec python3 deploy/sandbox.py --binary build/src/image-transfer "$@"
