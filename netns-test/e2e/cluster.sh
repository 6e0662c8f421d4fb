#!/usr/bin/env bash
# Pods on every node reach each other: five nodes, each a network namespace with its own
# bridge, store, nftables table and podwire-node daemon, on two segments joined by a router,
# so that peers on the other segment are reached over VXLAN; a three-member etcd cluster runs
# in three of the nodes. Then Kubernetes' "Granular Checks: Pods", over IPv4 and IPv6, with the
# sender's own address seen by every receiving pod, and the faults a cluster lives through.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"

cluster_underlay "1 2 3" "4 5"
cluster_etcd 1 2 3
cluster_config '{"network4":"10.244.0.0/16","network6":"fd44::/48","backend":"auto"}' || fail "set the cluster config"
for n in 1 2 3 4 5; do start_daemon $n; done
for n in 1 2 3 4 5; do wait_for_conflist $n; done

section "five nodes, each with a subnet of its own"
subnets=$(for n in 1 2 3 4 5; do subnet4 $n; done | sort)
expect "every node wrote its conflist, with an IPv4 subnet: $(echo $subnets)" \
  is "$(grep -c '^10\.244\.' <<< "$subnets")" 5
expect "  a different one each" all_different $subnets

for n in 1 2 3 4 5; do add_pod $n || fail "ADD the pod of node $n"; done
sleep 0.5

section "Granular Checks: Pods, IPv4"
expect "every pod answers HTTP and UDP hostname requests from every pod and every node, and sees the sender's \
own address" \
  conformance 4 1 2 3 4 5
section "Granular Checks: Pods, IPv6"
expect "the same over IPv6" conformance 6 1 2 3 4 5

section "paths"
expect "node 1 reaches node 2's pods by a direct route (same segment)" has_route 1 "via ${UNDERLAY4[2]} dev eth0"
expect "node 1 reaches node 4's pods over VXLAN (behind the router)" has_route 1 'dev podwire.vx onlink'

section "the CLI"
status_out=$(node 1 status --name node1 2>&1)
expect "podwire-node status on node 1 shows node 2 reached directly" matches "$status_out" "^node2 .* direct  alive"
expect "  node 4 over VXLAN" matches "$status_out" "^node4 .* vxlan  alive"
expect "  and no drift between etcd and the kernel" matches "$status_out" "^no drift"
ip -n "pw$RUN_ID-n1" route add 10.244.250.0/24 via "${UNDERLAY4[2]}" proto $PODWIRE_ROUTE_PROTO
refute "a route of podwire's that etcd does not account for is drift (exit status 1)" node 1 status --name node1
expect "  and named" says 'drift: extra route 10\.244\.250\.0/24' node 1 status --name node1
kill -HUP "$(cat "$WORK/daemon1.pid")"
lacks_route() { ! has_route "$@" >/dev/null; }  # lacks_route NODE REGEX
expect "SIGHUP makes the daemon list its peers again and remove it, within 5 s" eventually 5 lacks_route 1 10.244.250.0

section "VXLAN's own packets bypass conntrack"
expect "node 1's table inet podwire-node untracks UDP port 4789 on the way in and out" \
  is "$(in_ns n1 nft list table inet podwire-node | grep -c 'udp dport 4789 notrack')" 2

section "the daemon's status"
expect "/healthz answers ok" is "$(status_page 1 /healthz)" ok
metrics=$(status_page 1 /metrics)
expect "/metrics counts 4 peers" matches "$metrics" '^podwire_peers 4(\.0)?$'
has_all() { for name in podwire_routes_programmed podwire_reconcile_runs_total podwire_lease_renewals_total; do
  grep -q "^$name" <<< "$metrics" || return 1; done; }
expect "  and the routes programmed, reconcile runs, and lease renewals" has_all

section "traffic leaving the cluster"
ip netns exec "pw$RUN_ID-outside" python3 "$REPO/netns-test/tools/peer-server.py" 9000 198.18.0.2 >/dev/null 2>&1 &
remember_pid $!
sleep 0.3
answer=$(in_ns pod4 python3 "$REPO/netns-test/tools/peer-client.py" 198.18.0.2 9000 2>&1)
expect "a pod reaches an address outside the cluster, masqueraded as its node" is "$answer" "${UNDERLAY4[4]}"

section "the pod MTU leaves room for VXLAN"
vxlan_mtu_checks 4 1 4

asks() { # asks FROM TO: pod FROM gets pod TO's name over HTTP, IPv4
  [[ $(in_ns "pod$1" python3 "$REPO/netns-test/tools/hostname-client.py" http "${POD4[$2]}" 8083 2>&1) == "pod$2 "* ]]
}
log_lines() { wc -l < "$WORK/daemon$1.log"; }
logged_since() { tail -n +"$(($2 + 1))" "$WORK/daemon$1.log"; }  # logged_since NODE LINES

section "a daemon killed and restarted"
before=$(subnet4 3) routes_before=$(routes_of 3)
kill -9 "$(cat "$WORK/daemon3.pid")"
expect "while it is down, node 3's pod still reaches node 1's" asks 3 1
expect "  and node 4's" asks 3 4
lines=$(log_lines 3)
start_daemon 3
eventually 10 says registered logged_since 3 "$lines"
sleep 2
expect "it keeps its subnet ($before)" is "$(subnet4 3)" "$before"
expect "its routes are the ones it had" is "$(routes_of 3)" "$routes_before"
refute "and it changed nothing in the kernel on the way" says reconciled logged_since 3 "$lines"

section "routes of a peer that left while the daemon was down"
pid=$(cat "$WORK/daemon2.pid")
kill "$pid"
expect "the daemon stops on SIGTERM within 5 s" eventually 5 process_gone "$pid"
ip -n "pw$RUN_ID-n2" route add 10.244.251.0/24 via "${UNDERLAY4[1]}" proto $PODWIRE_ROUTE_PROTO
start_daemon 2
expect "the restarted daemon removes a route no node accounts for, within 5 s" eventually 5 lacks_route 2 10.244.251.0

section "one etcd member stopped"
stop_etcd 3
expect "the nodes are still listed, from the two members left" is "$(node 1 nodes | wc -l)" 5
expect "pods still reach each other" asks 5 2
start_etcd 3 existing

section "all of etcd stopped"
for n in 1 2 3; do stop_etcd $n; done
sleep 1
expect "existing pods keep talking, across VXLAN too" asks 1 4
ns=$(new_netns pod6); in_ns pod6 ip link set lo up
pod6_on_node2() {
  RUNTIME_NETNS="pw$RUN_ID-n2" NETCONFPATH="$WORK/n2/net.d" CNI_CACHEDIR="$WORK/n2/cache" \
    runtime_exec add podwire "pod6$RUN_ID" "$ns"
}
expect "a new pod on node 2 still gets an address" into "$WORK/pod6.json" pod6_on_node2
pod6=$(jq -r '.ips[] | select(.address | contains(".")) | .address | split("/")[0]' "$WORK/pod6.json")
expect "and reaches pod 4 ($pod6)" in_ns pod6 python3 "$REPO/netns-test/tools/hostname-client.py" http "${POD4[4]}" 8083
# Started together: a member alone has no quorum, and waits for the others.
for n in 1 2 3; do start_etcd $n; done
for n in 1 2 3; do eventually 20 member_healthy $n || echo "        etcd member $n did not come back"; done
all_alive() { is "$(node 1 nodes 2>/dev/null | grep -c '  alive$')" 5; }
expect "etcd back: every daemon announces itself again within 15 s" eventually 15 all_alive

section "a forced compaction, then a node removed"
revision=$(etcdctl_n endpoint status -w json | jq '.[0].Status.header.revision')
expect "etcd compacts its history up to revision $revision" etcdctl_n compact "$revision" --physical
kill "$(cat "$WORK/daemon5.pid")"
gone=$(subnet4 5)
start=$(date +%s%N)
expect "podwire-node remove node5" node 1 remove node5
no_route_to_5() { for n in 1 2 3 4; do routes_of $n | grep -q "^$gone " && return 1; done; return 0; }
eventually 10 no_route_to_5
took=$(( ($(date +%s%N) - start) / 1000000 ))
within_5s() { no_route_to_5 && ((took < 5000)); }
expect "every node dropped its routes to node 5's $gone within 5 s (in $took ms)" within_5s
expect "and the other pods still reach each other" asks 4 1

section "the removed node joins again, with another subnet"
# Its old subnet taken meanwhile (a key no node's record accounts for, as an operator might put).
etcdctl_n put "/podwire/subnets/${gone/\//-}" someone-else >/dev/null
start_daemon 5
other_subnet() { [[ -n $(subnet4 5) && $(subnet4 5) != "$gone" ]]; }
expect "node 5 registers again and writes its new subnet into its conflist" eventually 10 other_subnet
expect "  its bridge is there" has_link "pwb$RUN_ID" "pw$RUN_ID-n5"
refute "  and no longer holds the old subnet's gateway" address_shows "pw$RUN_ID-n5" "pwb$RUN_ID" " ${gone%.0/24}\\."
expect "  nor its route to it" prints_nothing ip -n "pw$RUN_ID-n5" route show "$gone"
expect "node 5's pod of the old subnet is deleted (CNI DEL)" unwire_pod 5
wire_pod 5 || fail "ADD a new pod on node 5"
expect "a new pod on node 5 gets an address in the new subnet, $(subnet4 5)" is "${POD4[5]%.*}.0/24" "$(subnet4 5)"
expect "  and reaches pod 1 within 5 s" eventually 5 in_ns pod5 ping -c1 -W1 "${POD4[1]}"

section "a node removed while its daemon runs"
pid=$(cat "$WORK/daemon5.pid")
node 1 remove node5
stopped_saying_why() {
  ! kill -0 "$pid" 2>/dev/null && grep -q "node5 was removed from the cluster" "$WORK/daemon5.log"
}
expect "its daemon stops within 5 s rather than go on routing subnets that are the pool's, saying why" \
  eventually 5 stopped_saying_why
start_daemon 5
listed_alive() { node 1 nodes 2>/dev/null | grep -q "^node5 .*  alive$"; }
expect "started again, as its unit would, it registers again and is alive" eventually 10 listed_alive

section "a link flap"
ip -n "pw$RUN_ID-n1" link set eth0 down
refute "with node 1's underlay down, its direct route to node 2 is gone" has_route 1 "via ${UNDERLAY4[2]}"
ip -n "pw$RUN_ID-n1" link set eth0 up
# The node's own network config puts its default routes back, as it would on a real node.
ip -n "pw$RUN_ID-n1" route replace default via 192.168.10.254
ip -n "pw$RUN_ID-n1" -6 route replace default via fd10::254 2>/dev/null
expect "back up, it returns within 5 s" eventually 5 has_route 1 "via ${UNDERLAY4[2]}"
expect "and pod 1 reaches pod 2 again" asks 1 2
expect "  and pod 4" asks 1 4

finish
