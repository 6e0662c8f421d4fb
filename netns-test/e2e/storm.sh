#!/usr/bin/env bash
# The storm (netns-test/e2e/storm.py): STORM_PODS pods (default 500) added and deleted by
# STORM_WORKERS concurrent workers (default 16), each call made by podwire's store
# (podwire-ipam) or the reference host-local at random, on one dataDir. Ends with
# "storm: N of N pods added, N workers, N duplicates, N leaks, N failed calls".
source "$(dirname "$0")/../lib/lib.sh"

section "a storm of pods on one store, podwire and the reference host-local mixed"
python3 "$REPO/netns-test/e2e/storm.py" --bin-dir "$WORK/bin" --data "$WORK/data" --network "storm$RUN_ID" \
  --subnet "10.$((240 + RANDOM % 8)).0.0/22" --pods "${STORM_PODS:-500}" --workers "${STORM_WORKERS:-16}" \
  --counts "$WORK/counts"
python_status=$?
added=0 duplicates=1 leaks=1 failures=1
read -r added duplicates leaks failures < "$WORK/counts"
expect "storm.py ran to its end (exit $python_status)" test -s "$WORK/counts"
expect "every one of the ${STORM_PODS:-500} pods was added ($added were)" test "$added" -eq "${STORM_PODS:-500}"
expect "no address was handed out while a live pod held it" test "$duplicates" -eq 0
expect "no lease was left, nor an index entry after the GC" test "$leaks" -eq 0
expect "no call failed" test "$failures" -eq 0
finish
