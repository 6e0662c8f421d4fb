#!/usr/bin/env bash
# The routed-pods demo: the cluster demo's three nodes with the bgp backend. Each node's
# podwire-node drives BIRD, which announces the node's subnets to the router between the two
# segments (FRR, standing in for a top-of-rack switch). A client outside the cluster, behind
# the router, then reaches every pod by the pod's own address, with no NAT and no overlay:
# each pod answers with the address it saw asking, the client's own. Leaves nothing behind.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"
WITH_BIRD=1
if [[ -t 1 ]]; then say() { printf '\n\033[1m%s\033[0m\n' "$*"; }; else say() { printf '\n%s\n' "$*"; }; fi
show() { sed 's/^/   /'; }

say "1. Three nodes on two segments; the router between them runs FRR (AS 65000); etcd in node1"
cluster_underlay "1 2" "3"
start_tor
cluster_etcd 1
config=$(jq -cn --argjson peers "$(segment_peers)" '{network4: "10.244.0.0/16", network6: "fd44::/48", backend: "bgp",
  natOutgoing4: false, natOutgoing6: false, bgp: {asn: 64512, peers: $peers}}')
cluster_config "$config"
jq . <<< "$config" | show

say "2. Each node's daemon starts BIRD, which peers with the router over IPv4 and IPv6"
for n in 1 2 3; do start_daemon $n; done
for n in 1 2 3; do wait_for_conflist $n; add_pod $n; done
in_tor_all() { local n s; for n in 1 2 3; do for s in $(subnets $n); do [[ -n $(tor_nexthops "$s") ]] || return 1
  done; done; }
eventually 30 in_tor_all
bgp_status() { node 1 status --name node1 | grep "^bgp"; }
eventually 10 says "received.*received" bgp_status >/dev/null
bgp_status | show

say "3. The router's table: every node's subnets, learnt over BGP (B), each via its node"
tor -c "show ip route bgp" | grep -E "^B" | show
tor -c "show ipv6 route bgp" | grep -E "^B" | show

say "4. A client outside the cluster (198.18.0.2) asks each pod, by the pod's own address"
for n in 1 2 3; do
  eventually 10 ask_once outside "${POD4[$n]}" 8083   # its server may still be starting
  echo "asked ${POD4[$n]}: $(ask_once outside "${POD4[$n]}" 8083 2>&1)"
done | show
echo "   Each pod answers with its name and the address it saw asking: the client's own, no NAT."

say "5. Node1's routes to the other pods are BIRD's (proto bird): node2's direct, node3's through the router"
ip -n "pw$RUN_ID-n1" route show proto bird | show
ip -n "pw$RUN_ID-n1" link show podwire.vx 2>&1 | show
echo "   The pods' MTU is the underlay's: $(in_ns pod1 cat /sys/class/net/eth0/mtu)"
