#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses of Fuzz/ (their own package: CI's test build never
# builds them).
#
#   scripts/fuzz.sh build                     build the harnesses (-sanitize=fuzzer,address, release)
#   scripts/fuzz.sh run [SECONDS] [HARNESS…]  replay Fuzz/Regressions, then fuzz each harness for
#                                             SECONDS (default 60) from seeds made from the fixtures
#   scripts/fuzz.sh ci [SECONDS]              build, then run every harness (default 30 s each)
#
# Harnesses: inflater (ZlibStreamInflater), envelope (GatewayEnvelope scan + typed decode +
# PayloadValidator), event-decode (GatewayEvent, every kind), simulator (the simulator's HTTP,
# handshake and inbound frame handling on an EmbeddedChannel).
# Fixtures: $ECHORD_FIXTURES, else ../shared/fixtures beside the repository.
# Corpora and crash artifacts go to Fuzz/.build/fuzz/ (git-ignored); a crash fails the run, its
# input is saved there and named on stderr; keep it under Fuzz/Regressions/HARNESS/ once fixed.
# Inputs are capped at 4 KiB (-max_len; the seeds' 176 KB GUILD_CREATE ran at 800 exec/s instead
# of 5,000). Leak detection is off: LSan reports the lazily built PayloadValidator tables at exit
# (Swift's tagged string pointers hide them from it), which are not leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
fixtures=${ECHORD_FIXTURES:-$root/../shared/fixtures}
all=(inflater envelope event-decode simulator)
flags=(-c release --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
work=Fuzz/.build/fuzz
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

target() {
  case "$1" in
    inflater) echo FuzzInflater ;;
    envelope) echo FuzzEnvelope ;;
    event-decode) echo FuzzEventDecode ;;
    simulator) echo FuzzSimulator ;;
    *) echo "unknown harness: $1 (one of: ${all[*]})" >&2; exit 2 ;;
  esac
}

build() {
  mkdir -p Fuzz/.build
  local status=0
  swift build "${flags[@]}" >Fuzz/.build/fuzz-build.log 2>&1 || status=$?
  grep -E "error:" Fuzz/.build/fuzz-build.log | head -n 20 || true
  tail -n 1 Fuzz/.build/fuzz-build.log
  return $status
}

seeds() {
  if [ ! -d "$fixtures" ]; then
    echo "fixtures not found at $fixtures (set ECHORD_FIXTURES)" >&2
    exit 1
  fi
  rm -rf "$work/seeds"
  python3 scripts/fuzz-seeds.py "$fixtures" Sources/EchordModels/Generated/GatewayEvent.swift "$work/seeds"
}

# Prints the input a failed run wrote (libFuzzer's "Test unit written to PATH"): the command that
# replays it, and its bytes (base64, up to 4 KiB: -max_len) so that a CI log alone reproduces it.
reproducer() {
  local exe=$1 log=$2 artifact
  artifact=$(grep -Eo "Test unit written to [^ ]+" "$log" | tail -n 1 | sed 's/^Test unit written to //' || true)
  if [ -z "$artifact" ] || [ ! -f "$artifact" ]; then
    echo "no reproducer was written (the log's last lines follow)" >&2
    tail -n 30 "$log" >&2
    return
  fi
  echo "reproduce with: $exe $artifact" >&2
  echo "the input ($(wc -c <"$artifact") bytes, base64; base64 -d > crash to rebuild it):" >&2
  base64 -w 76 "$artifact" >&2
}

run() {
  local seconds=${1:-60}
  shift || true
  local harnesses=("$@")
  [ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
  local bin
  bin=$(swift build "${flags[@]}" --show-bin-path)
  seeds
  local failed=0
  for harness in "${harnesses[@]}"; do
    local exe="$bin/$(target "$harness")"
    [ -x "$exe" ] || { echo "$exe is missing: run scripts/fuzz.sh build" >&2; exit 1; }
    mkdir -p "$work/corpus/$harness" "$work/artifacts"
    local log="$work/$harness.log"
    if [ -d "Fuzz/Regressions/$harness" ] && [ -n "$(ls -A "Fuzz/Regressions/$harness")" ]; then
      echo "== $harness: regression inputs"
      if ! "$exe" -rss_limit_mb=2048 -detect_leaks=0 "Fuzz/Regressions/$harness"/* >"$work/$harness.regressions.log" 2>&1; then
        echo "$harness: a regression input fails" >&2
        tail -n 40 "$work/$harness.regressions.log" >&2
        failed=1
        continue
      fi
    fi
    echo "== $harness: fuzzing for ${seconds}s"
    local status=0
    "$exe" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=25 -detect_leaks=0 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/$harness-" \
      "$work/corpus/$harness" "$work/seeds/$harness" >"$log" 2>&1 || status=$?
    local execs rate
    execs=$(grep -Eo "stat::number_of_executed_units: *[0-9]+" "$log" | grep -Eo "[0-9]+$" | tail -n 1 || true)
    rate=$(grep -Eo "stat::average_exec_per_sec: *[0-9]+" "$log" | grep -Eo "[0-9]+$" | tail -n 1 || true)
    echo "$harness: $execs inputs executed, $rate exec/s, exit $status"
    if [ "$status" -ne 0 ]; then
      echo "$harness: the fuzzer found a crash (see $log)" >&2
      grep -E "==ERROR|Fatal error|Test unit written|SUMMARY" "$log" | head -n 20 >&2
      reproducer "$exe" "$log"
      failed=1
    fi
  done
  return $failed
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  ci) build; run "${2:-30}" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
