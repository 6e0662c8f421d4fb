#!/usr/bin/env bash
# A cluster whose nodes have IPv6 only on their underlay links: three nodes, two on one
# segment and one behind the router, etcd on an IPv6 address, dual-stack pods. IPv6 pod
# traffic between neighbours takes a direct route; IPv4 pod traffic, which has no IPv4 underlay
# address to route by, and all traffic to the node behind the router go over VXLAN over IPv6.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"

UNDERLAY_FAMILIES=6 cluster_underlay "1 2" "3"
cluster_etcd 1
cluster_config '{"network4":"10.245.0.0/16","network6":"fd45::/48"}' || fail "set the cluster config"
for n in 1 2 3; do start_daemon $n; done
for n in 1 2 3; do wait_for_conflist $n || fail "node $n wrote no conflist"; done
for n in 1 2 3; do add_pod $n || fail "ADD the pod of node $n"; done
sleep 0.5

section "an IPv6-only underlay"
expect "the nodes' links have no IPv4 address" prints_nothing ip -n "pw$RUN_ID-n1" -4 addr show dev eth0
expect "  and etcd listens on IPv6 ($ENDPOINTS)" matches "$ENDPOINTS" '\[fd10::1\]'
routes6=$(podwire_routes 1 -6)
routes4=$(podwire_routes 1)
expect "node 1 reaches node 2's IPv6 pods by a direct route via node 2's underlay address" \
  matches "$routes6" "via ${UNDERLAY6[2]} dev eth0"
expect "  and node 2's IPv4 pods over VXLAN, via its VTEP address" \
  matches "$routes4" "via $(subnet4 2 | cut -d/ -f1) dev podwire.vx"
expect "  and node 3's pods over VXLAN, both families" is "$(grep -c 'dev podwire.vx' <<< "$routes4
$routes6")" 3
expect "the VXLAN device sends from node 1's IPv6 underlay address" \
  link_shows podwire.vx "local ${UNDERLAY6[1]} " "pw$RUN_ID-n1"
expect "the VXLAN forwarding entries point at the peers' IPv6 underlay addresses" \
  says "dst ${UNDERLAY6[3]} " bridge -n "pw$RUN_ID-n1" fdb show dev podwire.vx
status_out=$(node 1 status --name node1 2>&1)
expect "podwire-node status shows node 2 reached directly" matches "$status_out" "^node2 .* direct  alive"
expect "  node 3 over VXLAN" matches "$status_out" "^node3 .* vxlan  alive"
expect "  and no drift" matches "$status_out" "^no drift"

section "Granular Checks: Pods, over the IPv6 underlay"
expect "every pod answers every pod and node over IPv4, and sees the sender's own address" conformance 4 1 2 3
expect "the same over IPv6" conformance 6 1 2 3

section "the pod MTU leaves room for VXLAN over IPv6"
vxlan_mtu_checks 6 1 3

section "a daemon that waits for etcd still stops when asked"
pid=$(cat "$WORK/daemon3.pid"); kill "$pid"
expect "node 3's daemon stops on SIGTERM" eventually 5 process_gone "$pid"
stop_etcd 1
lines=$(wc -l < "$WORK/daemon3.log")
start_daemon 3
waiting() { tail -n +"$((lines + 1))" "$WORK/daemon3.log" | grep -q "trying again"; }
expect "with etcd down, the restarted daemon keeps trying to reach it" eventually 10 waiting
pid=$(cat "$WORK/daemon3.pid"); kill "$pid"
expect "  and SIGTERM stops it within 5 s" eventually 5 process_gone "$pid"
finish
