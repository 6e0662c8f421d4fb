#!/usr/bin/env bash
# Runs every test: the unit tests, then the end-to-end tests in throwaway network
# namespaces (root). Ends with one line "all: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1
scripts/build.sh || exit 1

passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== unit tests"
swift test 2>&1 | tee "$log" | grep -E '✘|error:|Test run with' || true
units=$(grep -oE 'Test run with [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1)
if grep -qE 'Test run with [0-9]+ tests? .*passed' "$log"; then
  passed=$((passed + ${units:-0}))
else
  grep -E '✘' "$log" | head -40
  failed=$((failed + ${units:-1}))
fi

# The benchmark runs in its quick mode here: it shows its table and asserts only that every
# call worked, never a time. The fuzzer runs for a bounded minute.
for test in netns-test/e2e-*.sh "netns-test/bench.sh --quick" "scripts/fuzz.sh 60"; do
  echo
  echo "== $test"
  # shellcheck disable=SC2086
  bash $test 2>&1 | tee "$log"
  summary=$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  if [[ -z "$summary" ]]; then
    echo "$test ended without a summary line"
    failed=$((failed + 1))
    continue
  fi
  read -r p f s < <(echo "$summary" | sed -E 's/^[^:]*: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\1 \2 \4/')
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + ${s:-0}))
done

echo
echo "all: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
