#!/usr/bin/env bash
# The storm (netns-test/storm.py): STORM_PODS pods (default 500) added and deleted by
# STORM_WORKERS concurrent workers (default 16), each call made by podwire's store
# (podwire-ipam) or the reference host-local at random, on one dataDir. Ends with
# "storm: N pods, N workers, N duplicates, N leaks, N failed calls".
source "$(dirname "$0")/lib.sh"

section "a storm of pods on one store, podwire and the reference host-local mixed"
python3 "$REPO/netns-test/storm.py" --bin-dir "$WORK/bin" --data "$WORK/data" --network "storm$RUN_ID" \
  --subnet "10.$((240 + RANDOM % 8)).0.0/22" --pods "${STORM_PODS:-500}" --workers "${STORM_WORKERS:-16}" \
  --counts "$WORK/counts"
read -r pods duplicates leaks failures < "$WORK/counts" || { pods=0; duplicates=1; leaks=1; failures=1; }
expect "the storm ran all $pods pods" test "$pods" -gt 0
expect "no address was handed out while a live pod held it" test "$duplicates" -eq 0
expect "no lease was left, nor an index entry after the GC" test "$leaks" -eq 0
expect "no call failed" test "$failures" -eq 0
finish
