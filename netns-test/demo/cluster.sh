#!/usr/bin/env bash
# The cluster demo: three nodes, each a network namespace running podwire-node, nodes 1 and
# 2 on one segment and node 3 behind a router; etcd in node 1. It shows each node's subnet,
# the routes each daemon programs (direct to a neighbour, VXLAN past the router), and a pod
# asking pods on the other nodes for their names, each answer carrying the address the
# request came from: the asking pod's own. Leaves nothing behind.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"
if [[ -t 1 ]]; then say() { printf '\n\033[1m%s\033[0m\n' "$*"; }; else say() { printf '\n%s\n' "$*"; }; fi
show() { sed 's/^/   /'; }

say "1. Three nodes: node1 and node2 share a switch, node3 is behind a router; etcd runs in node1"
cluster_underlay "1 2" "3"
cluster_etcd 1
cluster_config '{"network4":"10.244.0.0/16","network6":"fd44::/48"}'
for n in 1 2 3; do start_daemon $n; done
for n in 1 2 3; do wait_for_conflist $n; done
sleep 1
node 1 nodes | show

say "2. Each daemon wrote its node's conflist: podwire, with the node's own subnets"
for n in 1 2 3; do
  echo "node$n: $(jq -c '.plugins[0].ipam.ranges' "$WORK/n$n/net.d/10-podwire.conflist")"
done | show

say "3. A pod on each node, added through that node's conflist"
for n in 1 2 3; do add_pod $n; done
for n in 1 2 3; do echo "pod$n on node$n: ${POD4[$n]}, ${POD6[$n]}"; done | show
sleep 0.5

say "4. The routes each daemon programs (proto $PODWIRE_ROUTE_PROTO is podwire's)"
for n in 1 2 3; do
  echo "node$n:"
  ip -n "pw$RUN_ID-n$n" route show proto $PODWIRE_ROUTE_PROTO | sed 's/^/  /'
  ip -n "pw$RUN_ID-n$n" -6 route show proto $PODWIRE_ROUTE_PROTO | sed 's/^/  /'
done | show
echo "   node2 is node1's neighbour: a route via its underlay address. node3 is behind the router:"
echo "   a route via its VTEP address on podwire.vx, with a static neighbour and forwarding entry:"
ip -n "pw$RUN_ID-n1" neigh show dev podwire.vx | show
bridge -n "pw$RUN_ID-n1" fdb show dev podwire.vx | show

say "5. pod1 asks pod2 and pod3 for their names; each answer is the name and the address it saw"
ask() { in_ns pod1 python3 "$REPO/netns-test/tools/hostname-client.py" "$@"; }
for to in 2 3; do
  echo "pod1 -> pod$to (HTTP, IPv4): $(ask http "${POD4[$to]}" 8083)"
  echo "pod1 -> pod$to (UDP, IPv4):  $(ask udp "${POD4[$to]}" 8081)"
  echo "pod1 -> pod$to (HTTP, IPv6): $(ask http "${POD6[$to]}" 8083)"
done | show
echo "   pod1's own addresses are ${POD4[1]} and ${POD6[1]}: no NAT between pods, on any node."
