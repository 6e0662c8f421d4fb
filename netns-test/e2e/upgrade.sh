#!/usr/bin/env bash
# An upgrade with live pods: an older podwire and podwire-node, built from this repository's
# own history, run two nodes (node 2 behind the router, over VXLAN) with a pod each, pod 1
# with a host port; the pods probe each other ten times a second. The newer plugin is
# installed over the older one and each daemon is restarted as the newer one. Nothing is
# deleted and re-added (`ip monitor`, `nft monitor`), no probe is lost for more than a few
# intervals, and the old pods' CHECK, DEL and GC work with the newer plugin.
#
# BASE is the last commit before an on-disk or in-kernel format changed; docs/upgrades.md
# lists them. Its build is kept in .build-base/COMMIT for the next run.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"

BASE=${UPGRADE_BASE:-5f63ec4}
base_bin=$REPO/.build-base/$BASE

section "the older build ($BASE)"
if [[ ! -x $base_bin/podwire || ! -x $base_bin/podwire-node ]]; then
  git -C "$REPO" cat-file -e "$BASE^{commit}" 2>/dev/null ||
    fail "commit $BASE is in this clone's history (a shallow clone needs git fetch --unshallow)"
  tree=$WORK/base
  git -C "$REPO" worktree add --detach "$tree" "$BASE" >/dev/null 2>&1 || fail "git worktree add $BASE"
  echo "$tree" >> "$WORK/made.worktrees"
  echo "        building $BASE (once; kept in $base_bin)"
  (cd "$tree" && scripts/build.sh) > "$WORK/base-build.log" 2>&1 ||
    fail "build $BASE" "$(tail -20 "$WORK/base-build.log")"
  mkdir -p "$base_bin"
  cp "$tree/.build/release/podwire" "$tree/.build/release/podwire-node" "$base_bin/"
fi
expect "the older plugin and daemon are built" test -x "$base_bin/podwire-node"

install_plugin() { # install_plugin FILE: as a package manager installs it, a new file renamed over the old
  cp "$1" "$CNI_PATH/.podwire.new" && mv "$CNI_PATH/.podwire.new" "$CNI_PATH/podwire"
}
install_plugin "$base_bin/podwire"
NEW_NODE_BIN=$NODE_BIN NODE_BIN=$base_bin/podwire-node

cluster_underlay "1" "2"
cluster_etcd 1
cluster_config '{"network4":"10.249.0.0/16","network6":"fd49::/48","backend":"auto"}' || fail "set the cluster config"
for n in 1 2; do start_daemon $n; done
for n in 1 2; do wait_for_conflist $n || fail "node $n wrote its conflist"; done
CAP_ARGS='{"portMappings":[{"hostPort":9081,"containerPort":8081,"protocol":"udp"}]}' add_pod 1 ||
  fail "ADD pod 1 with the older plugin"
add_pod 2 || fail "ADD pod 2 with the older plugin"
expect "each node holds a route to the other, both families" eventually 30 holds_routes 1 1 2
for n in 1 2; do
  m=$((3 - n)) targets=()
  targets+=("$n-$m-4=${POD4[$m]}" "$n-$m-6=${POD6[$m]}")
  [[ $n == 2 ]] && targets+=("2-1-hp=${UNDERLAY4[1]},9081")
  ip netns exec "pw$RUN_ID-pod$n" python3 "$REPO/netns-test/tools/prober.py" 0.1 8081 "$WORK/probes$n.txt" \
    "${targets[@]}" &
  remember_pid $!
done
answering() { # the last three rounds of each prober: every target answered
  local n
  for n in 1 2; do
    [[ -s $WORK/probes$n.txt ]] && tail -3 "$WORK/probes$n.txt" | awk '$3 != 1 { exit 1 }' || return 1
  done
}
expect "the pods answer each other over both families, and pod 1's host port answers" eventually 20 answering

# What each node holds, with the kernel's indexes and nftables handles: a link or rule made
# again shows as a new index or handle.
state_of() {
  in_ns "n$1" ip -o link show | grep -E "pwb$RUN_ID|podwire\.vx|pw[0-9a-f]{13}" | cut -d' ' -f1,2
  podwire_routes "$1" | sort; podwire_routes "$1" -6 | sort
  in_ns "n$1" ip neigh show dev podwire.vx nud permanent | sort
  in_ns "n$1" ip addr show dev "pwb$RUN_ID" | grep -oE 'inet6? [^ ]+' | grep -v fe80 | sort
  in_ns "n$1" nft -a list table inet podwire; in_ns "n$1" nft -a list table inet podwire-node
}
before1=$(state_of 1) before2=$(state_of 2)
monitors=()
for n in 1 2; do
  ip netns exec "pw$RUN_ID-n$n" ip monitor link address route > "$WORK/monitor$n.txt" 2>&1 &
  remember_pid $!; monitors+=($!)
  ip netns exec "pw$RUN_ID-n$n" nft monitor > "$WORK/nft-monitor$n.txt" 2>&1 &
  remember_pid $!; monitors+=($!)
done
sleep 0.5

section "upgraded while the pods run"
upgraded_at=$(($(date +%s%N) / 1000000))
install_plugin "$PODWIRE"
NODE_BIN=$NEW_NODE_BIN
for n in 1 2; do
  pid=$(cat "$WORK/daemon$n.pid")
  kill -TERM "$pid"
  exited() { ! kill -0 "$pid" 2>/dev/null; }
  eventually 10 exited || fail "the older daemon of node $n stops on SIGTERM"
  start_daemon $n
done
running_new() { node 1 status --name node1 >/dev/null 2>&1 && node 2 status --name node2 >/dev/null 2>&1; }
expect "both daemons run the newer build and show no drift" eventually 20 running_new
sleep 2
expect "node 1 holds what it held, with the same links and nftables handles" is "$(state_of 1)" "$before1"
expect "node 2 too" is "$(state_of 2)" "$before2"
for n in 1 2; do
  refute "node $n: nothing of links, addresses or routes was deleted (ip monitor)" \
    grep -E '^Deleted' "$WORK/monitor$n.txt"
  refute "node $n: nothing of nftables was deleted or added (nft monitor)" \
    grep -E '^(delete|add) ' "$WORK/nft-monitor$n.txt"
done
kill "${monitors[@]}" 2>/dev/null
# The longest run of unanswered rounds after the upgrade began, of any target (0.1 s each).
gap=$(awk -v from="$upgraded_at" '$1 >= from { if ($3 == 1) run[$2] = 0; else if (++run[$2] > worst) worst = run[$2] }
  END { print worst + 0 }' "$WORK"/probes[12].txt)
echo "        the longest run of lost probes after the upgrade began: $gap rounds of 0.1 s"
expect "no pod lost more than 3 probe rounds in a row (0.3 s)" at_least 3 "$gap"

section "the older pods with the newer plugin"
on_node() { # on_node N COMMAND...: as node N's runtime runs it, with node N's conflist and cache
  RUNTIME_NETNS="pw$RUN_ID-n$1" NETCONFPATH="$WORK/n$1/net.d" CNI_CACHEDIR="$WORK/n$1/cache" "${@:2}"
}
CAP_ARGS='{"portMappings":[{"hostPort":9081,"containerPort":8081,"protocol":"udp"}]}' \
  expect "CHECK of pod 1, which the older plugin made" \
  on_node 1 runtime_exec check podwire "pod1$RUN_ID" "/var/run/netns/pw$RUN_ID-pod1"
fresh=$(new_netns fresh)
expect "ADD of a new pod on node 1" on_node 1 runtime_exec add podwire "fresh$RUN_ID" "$fresh"
entry=$(ls "$WORK/n1/leases/.podwire.podwire/fresh$RUN_ID"* 2>/dev/null)
expect "  its index entry holds its record beside its addresses" says '^\{"bridge"' cat "$entry"
expect "CHECK of the new pod" on_node 1 runtime_exec check podwire "fresh$RUN_ID" "$fresh"
gc_config=$(jq -c --arg id "fresh$RUN_ID" '.plugins[0] + {cniVersion: "1.1.0", name: .name,
  "cni.dev/valid-attachments": [{containerID: $id, ifname: "eth0"}]}' "$WORK/n1/net.d/10-podwire.conflist")
expect "GC on node 1, keeping only the new pod" on_node 1 cni_exec GC "" "$gc_config"
pod1_veth=$(attachment_name host-veth podwire "pod1$RUN_ID" eth0)
expect "  takes pod 1's host end" lacks_link "$pod1_veth" "pw$RUN_ID-n1"
expect "  its addresses (the new pod's stay)" is "$(leases_in "$WORK/n1/leases/podwire" | wc -l)" 2
refute "  and its nftables entries" says "pod1$RUN_ID" in_ns n1 nft list table inet podwire
pod2_veth=$(attachment_name host-veth podwire "pod2$RUN_ID" eth0)
expect "DEL of pod 2, which the older plugin made" unwire_pod 2
expect "  takes its host end" lacks_link "$pod2_veth" "pw$RUN_ID-n2"
expect "  and its addresses" no_leases "$WORK/n2/leases/podwire"
finish
