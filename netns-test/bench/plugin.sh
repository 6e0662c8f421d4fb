#!/usr/bin/env bash
# The benchmark: podwire against the reference bridge + host-local from Debian, in one run,
# interleaved, each call a real exec with a fresh pod netns (netns-test/bench/plugin.py measures).
#
#   netns-test/bench/plugin.sh                     the full run: 41 iterations, density at 1, 500
#                                           and 1000 pods, 200 pods 8 at a time (minutes)
#   netns-test/bench/plugin.sh --quick             a smoke test, under a minute (the test command's)
#   netns-test/bench/plugin.sh --json FILE         where the JSON goes (default ./podwire-bench.json)
#   ITERATIONS=N DENSITY="1 500" PODS=200 WORKERS=8 RUNS=5 netns-test/bench/plugin.sh   other sizes
#                                           (RUNS: rounds of the concurrency rows, each
#                                           reported as the median of its rounds)
#
# It asserts only that every scenario ran and produced its row, never a time.
source "$(dirname "$0")/../lib/lib.sh"

json=$PWD/podwire-bench.json quick=false
while (($#)); do
  case $1 in
    --quick) quick=true; shift ;;
    --json) json=$2; shift 2 ;;
    *) echo "unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
if $quick; then
  ITERATIONS=${ITERATIONS:-5} DENSITY=${DENSITY:-1 200} PODS=${PODS:-48} json="$WORK/bench.json"
fi
ITERATIONS=${ITERATIONS:-41} DENSITY=${DENSITY:-1 500 1000} PODS=${PODS:-200} WORKERS=${WORKERS:-8} RUNS=${RUNS:-5}

# The floor's binary is copied into place as podwire is (lib.sh): a binary fresh from the
# linker takes more page faults per exec than an installed copy.
cp "$REPO/.build/release/podwire-pause" "$WORK/bin/podwire-pause"

# A /16 of its own to carve /22s from, away from the 10.250-253 the other tests use.
supernet="10.$((240 + RANDOM % 8)).0.0/16"
# shellcheck disable=SC2086
python3 "$REPO/netns-test/bench/plugin.py" --work "$WORK" --run-id "$RUN_ID" --supernet "$supernet" --json "$json" \
  --pause "$WORK/bin/podwire-pause" --concurrency-runs "$RUNS" \
  --iterations "$ITERATIONS" --density $DENSITY --concurrent-pods "$PODS" --workers "$WORKERS"
status=$?

section "the benchmark's own checks"
expect "every call of both plugins succeeded" test "$status" -eq 0
expected=$((8 + 2 * $(wc -w <<< "$DENSITY") + 3))
expect "the JSON holds a row for each of the $expected scenarios" json "$json" ".rows | length == $expected"
expect "every row compares podwire with the reference" \
  json "$json" "[.rows[] | select(.podwire.median > 0 and .reference.median > 0)] | length == $expected"
finish
