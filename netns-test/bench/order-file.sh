#!/usr/bin/env bash
# Regenerates scripts/podwire.order, the order in which the linker lays out podwire's
# functions: the ones a call runs first, together, so that a call touches few pages of
# the 8 MB binary. A CNI call is a fresh process each time, and every page it touches is
# a page fault and part of its resident set.
#
# It runs VERSION, then ADD (ipMasq, a port mapping, dual stack), CHECK and DEL of one pod
# in a netns of its own, each under callgrind, and lists the functions each call runs
# that an earlier one did not. Run it after changes that move the hot path; a stale order file only
# costs some locality, since symbols it names that no longer exist are skipped.
#
#   netns-test/bench/order-file.sh          (needs valgrind; scripts/install-deps.sh installs it)
source "$(dirname "$0")/../lib/lib.sh"
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }

# The same build as scripts/build.sh, with its symbols kept for callgrind to name.
scratch="$REPO/.build-order"
source "$REPO/scripts/plugin-build-flags.sh"
swift build "${plugin_build_flags[@]}" --scratch-path "$scratch" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log" >&2; exit 1; }
binary="$scratch/release/podwire"

ns=$(new_netns order)
bridge=$(new_bridge_name o)
host_veth_of "order$RUN_ID" eth0 >/dev/null
config=$(jq -nc --arg b "$bridge" --arg d "$WORK/data" --arg s4 "$SUBNET_BASE.0/24" --arg s6 "$SUBNET6_BASE::/64" \
  --arg n "order$RUN_ID" '
  {cniVersion: "1.0.0", name: $n, type: "podwire", bridge: $b, isGateway: true, isDefaultGateway: true, ipMasq: true,
   runtimeConfig: {portMappings: [{hostPort: 40000, containerPort: 80, protocol: "tcp"}]},
   ipam: {type: "host-local", dataDir: $d, ranges: [[{subnet: $s4}], [{subnet: $s6}]]}}')

profiled() { # profiled COMMAND: one call under callgrind, its function names in first-seen order
  CNI_EXEC_UNDER="valgrind --tool=callgrind --demangle=no --callgrind-out-file=$WORK/cg.$1" \
    cni_exec "$1" "order$RUN_ID" "$config" "$ns" "$binary" >"$WORK/out.$1" 2>"$WORK/err.$1" \
    || { echo "$1 failed:" >&2; cat "$WORK/out.$1" "$WORK/err.$1" >&2; exit 1; }
  # Sorted within a call, for diffs that show what changed; the calls stay in order, so
  # what VERSION runs comes first.
  grep -oE '^c?fn=\([0-9]+\) .+' "$WORK/cg.$1" | sed -E 's/^c?fn=\([0-9]+\) //' | LC_ALL=C sort -u
}
# CHECK compares against the ADD's result, as a runtime passes it.
{
  profiled VERSION
  profiled ADD
  config=$(jq -c --slurpfile r "$WORK/out.ADD" '. + {prevResult: $r[0]}' <<< "$config")
  profiled CHECK
  profiled DEL
} | grep -vE '^0x|^\(below main\)' | awk '!seen[$0]++' > "$REPO/scripts/podwire.order"
echo "scripts/podwire.order: $(wc -l < "$REPO/scripts/podwire.order") functions"
