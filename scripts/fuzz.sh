#!/usr/bin/env bash
# Fuzzes every parser of outside input (Sources/Tools/fuzz) with libFuzzer, seeded with
# Tests/Tools/fuzz-corpus; first it replays that corpus and Tests/Tools/fuzz-regressions (every input a
# run ever found, kept as a regression test) through a normal build.
#
#   scripts/fuzz.sh             60 s of fuzzing: the test command's bounded run
#   scripts/fuzz.sh 3600        an hour, or any number of seconds
#
# A crash, a trap or a hang (over 5 s for one input) fails the run; the input is written to
# Tests/Tools/fuzz-regressions/ (commit it once the bug is fixed). Ends with
# "fuzz: N passed, N failed, 0 skipped" after a line of figures.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
passed=0 failed=0
work=$(mktemp -d /tmp/podwire-fuzz-XXXX)
trap 'rm -rf "$work"' EXIT

echo "replaying the corpus and the regressions"
if swift build --product podwire-fuzz >"$work/build.log" 2>&1 \
   && .build/debug/podwire-fuzz Tests/Tools/fuzz-corpus Tests/Tools/fuzz-regressions; then
  passed=$((passed + 1))
else
  tail -20 "$work/build.log"
  echo "  FAIL  replaying Tests/Tools/fuzz-corpus and Tests/Tools/fuzz-regressions"
  failed=$((failed + 1))
fi

echo "fuzzing for $seconds s"
# Its own scratch path: every module is built instrumented for libFuzzer and AddressSanitizer.
if ! swift build --product podwire-fuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address \
     -Xswiftc -DPODWIRE_FUZZ >"$work/build.log" 2>&1; then
  tail -20 "$work/build.log"
  echo "fuzz: $passed passed, $((failed + 1)) failed, 0 skipped"
  exit 1
fi
mkdir -p "$work/corpus"
.build-fuzz/debug/podwire-fuzz "$work/corpus" Tests/Tools/fuzz-corpus Tests/Tools/fuzz-regressions \
  -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
  -artifact_prefix=Tests/Tools/fuzz-regressions/ >"$work/fuzz.log" 2>&1
status=$?
runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/fuzz.log" | grep -oE '[0-9]+$')
corpus=$(ls "$work/corpus" | wc -l)
if [[ $status -eq 0 ]]; then
  passed=$((passed + 1))
  crashes=0
else
  grep -E 'ERROR|Fatal error|==[0-9]+==|artifact|Test unit written' "$work/fuzz.log" | head -20
  failed=$((failed + 1))
  crashes=1
fi
echo "fuzzing: ${runs:-0} inputs run in $seconds s, $corpus new corpus entries, $crashes crashes"
echo "fuzz: $passed passed, $failed failed, 0 skipped"
[[ $failed -eq 0 ]]
