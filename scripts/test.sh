#!/usr/bin/env bash
# Runs every test: the unit tests, then the end-to-end tests in throwaway network
# namespaces (root). Ends with one line "all: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1
scripts/build.sh || exit 1

passed=0 failed=0 skipped=0

# The order file lays out the functions a call runs; one whose symbols are mostly gone has
# silently lost that (scripts/build.sh counts them at the link).
read -r stale total < .build/order-file-stale
echo "order file: $stale of $total symbols no longer exist (at most a fifth may)"
if ((stale * 5 <= total)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
log=$(mktemp)

echo "== unit tests"
# The unit tests start etcd members and fake ones with their files in the temporary directory:
# one of the run's own, so that whatever a crashed test left running is found by that
# directory in its command line, stopped, and counted as a failure.
units_tmp=$(mktemp -d /tmp/podwire-unit-XXXX)
# grep -a: the log is text, but a compiler's quote of a source line may hold any byte.
# Bounded, as the suites below are: a run that never ends (an await never resumed) is a
# failure to report, not a CI job that runs out its time.
TMPDIR=$units_tmp timeout --kill-after=30 1500 swift test >"$log" 2>&1
status=$?
((status == 124 || status == 137)) && echo "unit tests: stopped after 25 minutes (exit status $status)"
left=$(pgrep -f -- "$units_tmp/" | wc -l)
if ((left > 0)); then
  echo "unit tests: $left processes they started were still running; stopped"
  pkill -9 -f -- "$units_tmp/"
  failed=$((failed + 1))
fi
rm -rf "$units_tmp"
grep -aE '✘|error:|Test run with' "$log" || true
units=$(grep -aoE 'Test run with [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1)
if [[ $status -eq 0 && ${units:-0} -gt 0 ]] && grep -aqE 'Test run with [0-9]+ tests? .*passed' "$log"; then
  passed=$((passed + units))
else
  grep -aE '✘|error:' "$log" | head -40
  echo "unit tests: swift test exited $status after ${units:-no} tests"
  failed=$((failed + ${units:-1}))
fi

# The benchmark runs in its quick mode here: it shows its table and asserts only that every
# call worked, never a time. The fuzzer runs for a bounded minute. A suite that hangs is
# stopped after half an hour (its cleanup runs on the TERM) and counts as failed.
# A live pod of another network, as on a real node, made before the suites and checked last:
# whatever a suite cleans up by prefix, or collects that is not its own, shows there.
sentinel=$(mktemp -d /tmp/podwire-sentinel-XXXX)
trap 'rm -f "$log"; bash netns-test/tools/sentinel.sh down "$sentinel"' EXIT
echo
echo "== a live pod of another network"
bash netns-test/tools/sentinel.sh up "$sentinel"

for test in netns-test/e2e/*.sh "netns-test/bench/plugin.sh --quick" "scripts/fuzz.sh 60" \
    "netns-test/tools/sentinel.sh check $sentinel"; do
  echo
  echo "== $test"
  # shellcheck disable=SC2086
  timeout --kill-after=60 1800 bash $test 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  summary=$(grep -aE '^[a-z0-9/-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  if [[ -z "$summary" ]]; then
    echo "$test ended without a summary line (exit status $status)"
    failed=$((failed + 1))
    continue
  fi
  read -r p f s < <(echo "$summary" \
    | sed -E 's/^[^:]*: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\1 \2 \4/')
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + ${s:-0}))
  # A suite that crashed after its summary, or one that tried nothing, failed whatever it printed.
  if [[ $status -ne 0 && $f -eq 0 ]]; then
    echo "$test exited $status although its summary counts no failure"
    failed=$((failed + 1))
  fi
  if [[ $((p + f)) -eq 0 ]]; then
    echo "$test tried nothing"
    failed=$((failed + 1))
  fi
done

echo
echo "all: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
