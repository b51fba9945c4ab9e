#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan, in the
# build dir build-fuzz) and runs each for a fixed time, starting from its
# seed corpus tests/fuzz/corpus/<target>/ (copied to a scratch dir: the tree
# is not modified) and the reproducers of earlier findings
# tests/fuzz/crashes-found/<target>/, with its dictionary
# tests/fuzz/dict/<target>.dict.
#
#   tests/fuzz/run.sh [SECONDS-PER-TARGET] [TARGET...]
#
# SECONDS defaults to 15 (CI); TARGETs default to all (manifest, tc_api,
# ...: the file names fuzz_<target>.c without the prefix). FUZZ_JOBS targets
# run at once (default: the number of CPUs, at most 4). Exits non-zero when
# any target found a crash, a leak, a timeout (an input slower than 10 s)
# or ran out of memory, printing the reproducer's path (kept under
# build-fuzz/artifacts/<target>/) and the end of the target's log.
# Replay a reproducer: build-fuzz/tests/fuzz/fuzz_<target> FILE
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-15}
[ $# -gt 0 ] && shift
case "$secs" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS-PER-TARGET] [TARGET...]" >&2
    exit 2
    ;;
esac
build=${FUZZ_BUILD_DIR:-build-fuzz}
cc=${FUZZ_CC:-clang}

echo "== fuzz: build ($build, $cc)"
cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DIT_FUZZ=ON \
    -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIT_WERROR=OFF \
    >/dev/null
# Warnings are not errors here: the -Werror builds (gcc) judge those; a
# clang-only warning must not stop the fuzzing.
cmake --build "$build" -j"$(nproc)" --target fuzz >/dev/null

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets <"$build/tests/fuzz/targets.txt"
fi

# Bytes per input: room for the largest seed, small enough to stay fast.
max_len() {
    case "$1" in
    manifest | tc_api) echo 65536 ;;
    journal | http_error | referrers_index) echo 16384 ;;
    *_yaml | docker_config) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

# Scratch (corpus copies, the files the journal and YAML targets rewrite
# for every input) on /dev/shm when there is one: on a disk each fsync makes
# those targets 20 times slower.
if [ -z "${FUZZ_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    FUZZ_TMPDIR=/dev/shm
fi
scratch=$(mktemp -d "${FUZZ_TMPDIR:-${TMPDIR:-/tmp}}/it-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=print_suppressions=0

# Runs one target; writes its one-line result to $scratch/<t>.result.
run_one() {
    local t=$1 bin="$build/tests/fuzz/fuzz_$1"
    local work="$scratch/$t" art="$build/artifacts/$t"
    local dict=tests/fuzz/dict/$t.dict
    mkdir -p "$work/corpus" "$work/tmp" "$art"
    if [ ! -x "$bin" ]; then
        echo "$t: FAILED: no binary $bin (not built?)" >"$scratch/$t.result"
        return
    fi
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp -R "tests/fuzz/corpus/$t/." "$work/corpus/"
    fi
    local args=(-max_total_time="$secs" -max_len="$(max_len "$t")"
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$art/")
    [ -f "$dict" ] && args+=(-dict="$dict")
    local rc=0
    # The first dir gets what the run finds; the inputs of crashes found
    # before (tests/fuzz/crashes-found/<target>/) are run first, read-only.
    local dirs=("$work/corpus")
    [ -d "tests/fuzz/crashes-found/$t" ] && dirs+=("tests/fuzz/crashes-found/$t")
    TMPDIR="$work/tmp" "$bin" "${args[@]}" "${dirs[@]}" \
        >"$work/log" 2>&1 || rc=$?
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" |
        tail -1)
    if [ "$rc" -eq 0 ]; then
        printf '%-16s ok      %10s runs in %ss\n' "$t" "${execs:-?}" \
            "$secs" >"$scratch/$t.result"
    else
        local repro
        repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' \
            "$work/log" | tail -1)
        {
            printf '%-16s FAILED  exit %s after %s runs; reproducer: %s\n' \
                "$t" "$rc" "${execs:-?}" "${repro:-none}"
            grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*fuzz check failed|.*ERROR: libFuzzer)' \
                "$work/log" | head -5 | sed 's/^/    /'
        } >"$scratch/$t.result"
        cp "$work/log" "$art/last.log"
        echo "---- $t: end of log (whole log: $art/last.log)" >&2
        tail -60 "$work/log" >&2
    fi
}

jobs=${FUZZ_JOBS:-$(nproc)}
[ "$jobs" -gt 4 ] && jobs=4
[ "$jobs" -lt 1 ] && jobs=1
echo "== fuzz: ${#targets[@]} targets, ${secs}s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
wait || true

failed=0
for t in "${targets[@]}"; do
    if [ -f "$scratch/$t.result" ]; then
        cat "$scratch/$t.result"
        grep -q 'FAILED' "$scratch/$t.result" && failed=$((failed + 1))
    else
        echo "$t: FAILED: no result"
        failed=$((failed + 1))
    fi
done
if [ "$failed" -gt 0 ]; then
    echo "== fuzz: $failed of ${#targets[@]} targets FAILED" >&2
    exit 1
fi
echo "== fuzz: all ${#targets[@]} targets ran ${secs}s without a finding"
