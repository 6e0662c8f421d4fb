#!/usr/bin/env bash
# Pods on every node reach each other: five nodes, each a network namespace with its own
# bridge, store, nftables table and podwire-node daemon, on two segments joined by a router,
# so that peers on the other segment are reached over VXLAN; a three-member etcd cluster runs
# in three of the nodes. Then Kubernetes' "Granular Checks: Pods", over IPv4 and IPv6, with the
# sender's own address seen by every receiving pod, and the faults a cluster lives through.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster-lib.sh"

cluster_underlay "1 2 3" "4 5"
cluster_etcd 1 2 3
cluster_config '{"network4":"10.244.0.0/16","network6":"fd44::/48","backend":"auto"}' || fail "set the cluster config"
for n in 1 2 3 4 5; do start_daemon $n; done
for n in 1 2 3 4 5; do wait_for_conflist $n; done

section "five nodes, each with a subnet of its own"
subnets=$(for n in 1 2 3 4 5; do subnet4 $n; done | sort)
expect "every node wrote its conflist, with a different IPv4 subnet each: $(echo $subnets)" \
  bash -c "[[ \$(echo '$subnets' | grep -c '^10.244.') == 5 && \$(echo '$subnets' | sort -u | wc -l) == 5 ]]"

for n in 1 2 3 4 5; do add_pod $n || fail "ADD the pod of node $n"; done
sleep 0.5

section "Granular Checks: Pods, IPv4"
expect "every pod answers HTTP and UDP hostname requests from every pod and every node, and sees the sender's \
own address" \
  conformance 4 1 2 3 4 5
section "Granular Checks: Pods, IPv6"
expect "the same over IPv6" conformance 6 1 2 3 4 5

section "paths"
expect "node 1 reaches node 2's pods by a direct route (same segment)" \
  bash -c "ip -n pw$RUN_ID-n1 route show proto 112 | grep -q 'via ${UNDERLAY4[2]} dev eth0'"
expect "node 1 reaches node 4's pods over VXLAN (behind the router)" \
  bash -c "ip -n pw$RUN_ID-n1 route show proto 112 | grep -q 'dev podwire.vx onlink'"

section "the CLI"
status_out=$(node 1 status --name node1 2>&1)
expect "podwire-node status on node 1 shows node 2 reached directly" grep -q "^node2 .* direct  alive" <<< "$status_out"
expect "  node 4 over VXLAN" grep -q "^node4 .* vxlan  alive" <<< "$status_out"
expect "  and no drift between etcd and the kernel" grep -q "^no drift" <<< "$status_out"
ip -n "pw$RUN_ID-n1" route add 10.244.250.0/24 via "${UNDERLAY4[2]}" proto 112
refute "a route of podwire's that etcd does not account for is drift (exit status 1)" node 1 status --name node1
expect "  and named" bash -c "ip netns exec pw$RUN_ID-n1 $NODE_BIN status --name node1 --endpoints $ENDPOINTS \
  | grep -q 'drift: extra route 10.244.250.0/24'"
kill -HUP "$(cat "$WORK/daemon1.pid")"
expect "SIGHUP makes the daemon list its peers again and remove it, within 5 s" wait_for 5 bash -c \
  "! ip -n pw$RUN_ID-n1 route show proto 112 | grep -q 10.244.250.0"

section "VXLAN's own packets bypass conntrack"
expect "node 1's table inet podwire-node untracks UDP port 4789 on the way in and out" bash -c \
  "[[ \$(ip netns exec pw$RUN_ID-n1 nft list table inet podwire-node | grep -c 'udp dport 4789 notrack') == 2 ]]"

section "the daemon's status"
status() { in_ns "n$1" python3 -c "import urllib.request, sys
try: print(urllib.request.urlopen('http://127.0.0.1:9750$2', timeout=2).read().decode())
except Exception as e: print(e); sys.exit(1)"; }
expect "/healthz answers ok" bash -c "[[ \$($(declare -f status in_ns); RUN_ID=$RUN_ID status 1 /healthz) == ok ]]"
metrics=$(status 1 /metrics)
expect "/metrics counts 4 peers" grep -qx "podwire_peers 4.0\|podwire_peers 4" <<< "$metrics"
has_all() { for name in podwire_routes_programmed podwire_reconcile_runs_total podwire_lease_renewals_total; do
  grep -q "^$name" <<< "$metrics" || return 1; done; }
expect "  and the routes programmed, reconcile runs, and lease renewals" has_all

section "traffic leaving the cluster"
ip netns exec "pw$RUN_ID-outside" python3 "$REPO/netns-test/peer-server.py" 9000 198.18.0.2 >/dev/null 2>&1 &
remember_pid $!
sleep 0.3
answer=$(in_ns pod4 python3 "$REPO/netns-test/peer-client.py" 198.18.0.2 9000 2>&1)
expect "a pod reaches an address outside the cluster, masqueraded as its node ($answer)" \
  test "$answer" == "${UNDERLAY4[4]}"

section "the pod MTU leaves room for VXLAN"
vxlan_mtu_checks 4 1 4

asks() { # asks FROM TO: pod FROM gets pod TO's name over HTTP, IPv4
  [[ $(in_ns "pod$1" python3 "$REPO/netns-test/hostname-client.py" http "${POD4[$2]}" 8083 2>&1) == "pod$2 "* ]]
}
log_lines() { wc -l < "$WORK/daemon$1.log"; }
routes_of() { ip -n "pw$RUN_ID-n$1" route show proto 112 | sort; ip -n "pw$RUN_ID-n$1" -6 route show proto 112 | sort; }

section "a daemon killed and restarted"
before=$(subnet4 3) routes_before=$(routes_of 3)
kill -9 "$(cat "$WORK/daemon3.pid")"
expect "while it is down, node 3's pod still reaches node 1's" asks 3 1
expect "  and node 4's" asks 3 4
lines=$(log_lines 3)
start_daemon 3
wait_for 10 grep -q "registered" <(tail -n +"$((lines + 1))" "$WORK/daemon3.log")
sleep 2
expect "it keeps its subnet ($before)" test "$(subnet4 3)" == "$before"
expect "its routes are the ones it had" test "$(routes_of 3)" == "$routes_before"
refute "and it changed nothing in the kernel on the way" grep -q "reconciled" \
  <(tail -n +"$((lines + 1))" "$WORK/daemon3.log")

section "routes of a peer that left while the daemon was down"
pid=$(cat "$WORK/daemon2.pid")
kill "$pid"
expect "the daemon stops on SIGTERM within 5 s" wait_for 5 gone "$pid"
ip -n "pw$RUN_ID-n2" route add 10.244.251.0/24 via "${UNDERLAY4[1]}" proto 112
start_daemon 2
expect "the restarted daemon removes a route no node accounts for, within 5 s" wait_for 5 bash -c \
  "! ip -n pw$RUN_ID-n2 route show proto 112 | grep -q 10.244.251.0 || { tail -3 $WORK/daemon2.log; false; }"

section "one etcd member stopped"
kill "$(cat "$WORK/etcd3.pid")"; sleep 0.5
expect "the nodes are still listed, from the two members left" \
  bash -c "[[ \$(ip netns exec pw$RUN_ID-n1 $NODE_BIN nodes --endpoints $ENDPOINTS | wc -l) == 5 ]]"
expect "pods still reach each other" asks 5 2
start_etcd 3 existing

section "all of etcd stopped"
for n in 1 2 3; do kill "$(cat "$WORK/etcd$n.pid")"; done
sleep 1
expect "existing pods keep talking, across VXLAN too" asks 1 4
ns=$(new_netns pod6); in_ns pod6 ip link set lo up
expect "a new pod on node 2 still gets an address" bash -c "ip netns exec pw$RUN_ID-n2 env CNI_PATH=$CNI_PATH \
  NETCONFPATH=$WORK/n2/net.d CNI_CACHEDIR=$WORK/n2/cache CNI_CONTAINERID=pod6$RUN_ID $CNITOOL add podwire $ns \
  > $WORK/pod6.json"
pod6=$(jq -r '.ips[] | select(.address | contains(".")) | .address | split("/")[0]' "$WORK/pod6.json")
expect "and reaches pod 4 ($pod6)" in_ns pod6 python3 "$REPO/netns-test/hostname-client.py" http "${POD4[4]}" 8083
for n in 1 2 3; do start_etcd $n existing; done
expect "etcd back: every daemon announces itself again within 15 s" wait_for 15 bash -c \
  "ip netns exec pw$RUN_ID-n1 $NODE_BIN nodes --endpoints $ENDPOINTS 2>/dev/null | grep -c '  alive$' | grep -qx 5"

section "a forced compaction, then a node removed"
revision=$(etcdctl_n endpoint status -w json | jq '.[0].Status.header.revision')
expect "etcd compacts its history up to revision $revision" etcdctl_n compact "$revision" --physical
kill "$(cat "$WORK/daemon5.pid")"
gone=$(subnet4 5)
start=$(date +%s%N)
expect "podwire-node remove node5" node 1 remove node5
no_route_to_5() { for n in 1 2 3 4; do routes_of $n | grep -q "^$gone " && return 1; done; return 0; }
wait_for 10 no_route_to_5
took=$(( ($(date +%s%N) - start) / 1000000 ))
within_5s() { no_route_to_5 && ((took < 5000)); }
expect "every node dropped its routes to node 5's $gone within 5 s (in $took ms)" within_5s
expect "and the other pods still reach each other" asks 4 1

section "the removed node joins again, with another subnet"
# Its old subnet taken meanwhile (a key no node's record accounts for, as an operator might put).
etcdctl_n put "/podwire/subnets/${gone/\//-}" someone-else >/dev/null
start_daemon 5
other_subnet() { [[ -n $(subnet4 5) && $(subnet4 5) != "$gone" ]]; }
expect "node 5 registers again and writes its new subnet into its conflist" wait_for 10 other_subnet
expect "  and its bridge no longer holds the old subnet's gateway, nor its route to it" bash -c \
  "ip -n pw$RUN_ID-n5 link show pwb$RUN_ID >/dev/null \
   && ! ip -n pw$RUN_ID-n5 -4 addr show dev pwb$RUN_ID | grep -q ' ${gone%.0/24}\.' \
   && ! ip -n pw$RUN_ID-n5 route show $gone | grep -q ."
expect "node 5's pod of the old subnet is deleted (CNI DEL)" unwire_pod 5
wire_pod 5 || fail "ADD a new pod on node 5"
expect "a new pod on node 5 gets an address in the new subnet, $(subnet4 5)" \
  test "${POD4[5]%.*}.0/24" == "$(subnet4 5)"
expect "  and reaches pod 1 within 5 s" wait_for 5 in_ns pod5 ping -c1 -W1 "${POD4[1]}"

section "a node removed while its daemon runs"
pid=$(cat "$WORK/daemon5.pid")
node 1 remove node5
stopped_saying_why() {
  ! kill -0 "$pid" 2>/dev/null && grep -q "node5 was removed from the cluster" "$WORK/daemon5.log"
}
expect "its daemon stops within 5 s rather than go on routing subnets that are the pool's, saying why" \
  wait_for 5 stopped_saying_why
start_daemon 5
listed_alive() { node 1 nodes 2>/dev/null | grep -q "^node5 .*  alive$"; }
expect "started again, as its unit would, it registers again and is alive" wait_for 10 listed_alive

section "a link flap"
ip -n "pw$RUN_ID-n1" link set eth0 down
refute "with node 1's underlay down, its direct route to node 2 is gone" \
  bash -c "ip -n pw$RUN_ID-n1 route show proto 112 | grep -q 'via ${UNDERLAY4[2]}'"
ip -n "pw$RUN_ID-n1" link set eth0 up
# The node's own network config puts its default routes back, as it would on a real node.
ip -n "pw$RUN_ID-n1" route replace default via 192.168.10.254
ip -n "pw$RUN_ID-n1" -6 route replace default via fd10::254 2>/dev/null
expect "back up, it returns within 5 s" wait_for 5 bash -c \
  "ip -n pw$RUN_ID-n1 route show proto 112 | grep -q 'via ${UNDERLAY4[2]}' || { tail -3 $WORK/daemon1.log; false; }"
expect "and pod 1 reaches pod 2 again" asks 1 2
expect "  and pod 4" asks 1 4

finish
