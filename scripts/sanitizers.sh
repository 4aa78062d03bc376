#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer and/or ThreadSanitizer, each in its own scratch path
# (.build-asan, .build-tsan; git-ignored), and fails when a test fails or a sanitizer reports.
#
#   scripts/sanitizers.sh [address|thread|all]   (default all)
#
# Extra arguments after the first go to `swift test` (e.g. --filter EchordModelsTests).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
shift || true
case "$which" in
  address) sanitizers=(address) ;;
  thread) sanitizers=(thread) ;;
  all) sanitizers=(address thread) ;;
  *) echo "usage: scripts/sanitizers.sh [address|thread|all] [swift test arguments]" >&2; exit 2 ;;
esac

failed=0
for sanitizer in "${sanitizers[@]}"; do
  case "$sanitizer" in address) scratch=.build-asan ;; thread) scratch=.build-tsan ;; esac
  log=${TMPDIR:-/tmp}/echord-sanitize-$sanitizer.log
  echo "== swift test --sanitize=$sanitizer (scratch path $scratch)"
  start=$(date +%s)
  if ! swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" >"$log.build" 2>&1; then
    grep -E "error:" "$log.build" | head -n 40
    echo "the $sanitizer build failed (see $log.build)"
    failed=1
    continue
  fi
  built=$(date +%s)
  status=0
  # halt_on_error: the first report ends the run, so it cannot scroll past. Leak detection is off
  # by default: every leak LSan reports here is outside Echord or not a leak (XCTest's runner,
  # FoundationEssentials' readBytesFromFile on its error path, NIO's singleton thread pool, and
  # lazily built global dictionaries whose strings LSan cannot see through Swift's tagged string
  # pointers). ASAN_OPTIONS=detect_leaks=1 scripts/sanitizers.sh address shows them.
  ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=0} TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} \
    timeout 2400 swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" "$@" >"$log" 2>&1 || status=$?
  done_at=$(date +%s)
  echo "build $((built - start)) s, tests $((done_at - built)) s, exit $status"
  grep -E "^(✔ Test run|✘ Test run)" "$log" || true
  if [ "$status" -ne 0 ] || grep -qE "ERROR: (Address|Thread|Leak)Sanitizer|WARNING: ThreadSanitizer" "$log"; then
    grep -E "SUMMARY: |ERROR: |WARNING: ThreadSanitizer|^✘" "$log" | head -n 40
    echo "--sanitize=$sanitizer failed (see $log)"
    failed=1
  fi
done
exit $failed
