#!/usr/bin/env bash
# Sets everything up, runs every fuzz target for a short fixed time
# (tests/fuzz/run.sh: clang, libFuzzer, ASan + UBSan; 15 s each), then the
# whole test suite twice: a normal -Werror build, then an AddressSanitizer +
# UBSan build. Ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh

jobs=$(nproc)
echo "== format check"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find registry src tencentcloud tui tests -name '*.[ch]')
if [ -n "$files" ]; then
    clang-format --dry-run --Werror $files
fi

echo "== build (warnings are errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIT_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== build (sanitizers)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DIT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"

# Any crash, leak or timeout fails the run here, before the test suites.
echo "== fuzz (${FUZZ_SECONDS:-15} s per target)"
bash tests/fuzz/run.sh "${FUZZ_SECONDS:-15}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs")
echo "== tests under ASan+UBSan"
cd build-asan && ctest --output-on-failure -j"$jobs" 2>&1 | sed '/^Total Test time/d'
exit "${PIPESTATUS[0]}"
