#!/usr/bin/env bash
# Runs the whole test suite under AddressSanitizer and/or ThreadSanitizer, each in its own scratch
# path (.build-asan, .build-tsan; git-ignored), and fails when a test fails or a sanitizer reports.
#
#   scripts/sanitizers.sh [address|thread|all] [RUNS] [swift test arguments…]   (default: all 1)
#
# RUNS: how many times in a row the suite runs after one build (every run must pass).
# The PostgreSQL suites run against a throwaway server (scripts/postgres-test-server.sh) unless
# ECHORD_POSTGRES_TEST_URL is already set.
# Everything runs 5–15× slower under a sanitizer, so the tests' real-time bounds on event waits
# (never protocol time, which is on the injected clock) are multiplied by ECHORD_TEST_TIME_SCALE
# (Tests/EchordTestSupport/TestTime.swift; default here 10 for thread, 4 for address), and at most
# 3 tests run at once (SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH, default here 3).
# ThreadSanitizer reads scripts/tsan-suppressions.txt: each entry names a report inside a
# dependency and why it is not a race in Echord.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
shift || true
runs=1
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
case "$which" in
  address) sanitizers=(address) ;;
  thread) sanitizers=(thread) ;;
  all) sanitizers=(address thread) ;;
  *) echo "usage: scripts/sanitizers.sh [address|thread|all] [RUNS] [swift test arguments]" >&2; exit 2 ;;
esac

if [ -z "${ECHORD_POSTGRES_TEST_URL:-}" ]; then
  pg_env=$(bash scripts/postgres-test-server.sh start)
  eval "$pg_env"
  export ECHORD_POSTGRES_TEST_URL
  trap 'bash scripts/postgres-test-server.sh stop "$ECHORD_POSTGRES_TEST_DATA"' EXIT
fi

# Every test at once (plain swift test) starves a 2-core machine under a sanitizer.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-3}

failed=0
for sanitizer in "${sanitizers[@]}"; do
  case "$sanitizer" in
    address) scratch=.build-asan; scale=${ECHORD_TEST_TIME_SCALE:-4} ;;
    thread) scratch=.build-tsan; scale=${ECHORD_TEST_TIME_SCALE:-10} ;;
  esac
  log=${TMPDIR:-/tmp}/echord-sanitize-$sanitizer
  echo "== swift test --sanitize=$sanitizer (scratch path $scratch, ECHORD_TEST_TIME_SCALE=$scale, width $SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH, $runs run(s))"
  start=$(date +%s)
  if ! swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" >"$log.build.log" 2>&1; then
    grep -E "error:" "$log.build.log" | head -n 40
    echo "the $sanitizer build failed (see $log.build.log)"
    failed=1
    continue
  fi
  echo "build $(( $(date +%s) - start )) s"
  for run in $(seq 1 "$runs"); do
    status=0
    began=$(date +%s)
    # halt_on_error: the first report ends the run, so it cannot scroll past. Leak detection is off
    # by default: every leak LSan reports here is outside Echord or not a leak (XCTest's runner,
    # FoundationEssentials' readBytesFromFile on its error path, NIO's singleton thread pool, and
    # lazily built global dictionaries whose strings LSan cannot see through Swift's tagged string
    # pointers). ASAN_OPTIONS=detect_leaks=1 scripts/sanitizers.sh address shows them.
    ECHORD_TEST_TIME_SCALE=$scale \
      ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=0} \
      TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:suppressions=$(pwd)/scripts/tsan-suppressions.txt} \
      timeout 3000 swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" "$@" >"$log.$run.log" 2>&1 || status=$?
    echo "run $run: tests $(( $(date +%s) - began )) s, exit $status"
    grep -E "^(✔ Test run|✘ Test run)" "$log.$run.log" || true
    if [ "$status" -ne 0 ] || grep -qE "ERROR: (Address|Thread|Leak)Sanitizer|WARNING: ThreadSanitizer" "$log.$run.log"; then
      grep -E "SUMMARY: |ERROR: |WARNING: ThreadSanitizer|^✘" "$log.$run.log" | head -n 40
      echo "--sanitize=$sanitizer failed in run $run (see $log.$run.log)"
      failed=1
      break
    fi
  done
done
exit $failed
