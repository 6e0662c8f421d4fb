#!/usr/bin/env bash
# Cross-node pod-to-pod TCP throughput (iperf3, one stream): podwire's paths against the same
# paths made by hand with ip commands, in one run, on one underlay. Nodes 1-3 run podwire-node
# (node 2 beside node 1, node 3 behind the router); nodes 4-6 are wired by hand the same way
# (a bridge, a veth into the pod, a direct route to node 5, VXLAN to node 6), with the same
# pod MTU and no firewall rules at all: the kernel's own cost.
#
#   netns-test/bench/datapath.sh          SECONDS_EACH=5 ROUNDS=3 for other lengths
#
# Each figure is the median of ROUNDS transfers, the four kinds taken in turn in every round.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"
SECONDS_EACH=${SECONDS_EACH:-5} ROUNDS=${ROUNDS:-3}
command -v iperf3 >/dev/null || { echo "no iperf3: scripts/install-deps.sh installs it" >&2; exit 1; }

cluster_underlay "1 2 4 5" "3 6"
cluster_etcd 1
cluster_config '{"network4":"10.244.0.0/16"}'
for n in 1 2 3; do start_daemon $n; done
for n in 1 2 3; do wait_for_conflist $n; done
for n in 1 2 3; do add_pod $n || fail "ADD the pod of node $n"; done
mtu=$(in_ns pod1 cat /sys/class/net/eth0/mtu)

# The hand-made side: node N's pods in 10.250.N.0/24 behind a bridge at .1.
for n in 4 5 6; do
  new_netns "hpod$n" >/dev/null
  in_ns "n$n" ip link add hb type bridge; in_ns "n$n" ip addr add "10.250.$n.1/24" dev hb
  in_ns "n$n" ip link set hb up
  in_ns "n$n" ip link add hv type veth peer name eth0 netns "pw$RUN_ID-hpod$n"
  in_ns "n$n" ip link set hv master hb mtu "$mtu" up
  in_ns "hpod$n" ip link set eth0 mtu "$mtu" up; in_ns "hpod$n" ip link set lo up
  in_ns "hpod$n" ip addr add "10.250.$n.2/24" dev eth0; in_ns "hpod$n" ip route add default via "10.250.$n.1"
done
in_ns n4 ip route add 10.250.5.0/24 via "${UNDERLAY4[5]}"
in_ns n5 ip route add 10.250.4.0/24 via "${UNDERLAY4[4]}"
vxlan_by_hand() { # vxlan_by_hand N PEER: node N's half of a VXLAN link to PEER
  local n=$1 peer=$2
  in_ns "n$n" ip link add hvx address "02:00:00:00:00:0$n" mtu "$mtu" type vxlan id 99 \
    local "${UNDERLAY4[$n]}" dev eth0 dstport 4789 nolearning
  in_ns "n$n" ip addr add "10.250.$n.0/32" dev hvx; in_ns "n$n" ip link set hvx up
  in_ns "n$n" ip neigh replace "10.250.$peer.0" lladdr "02:00:00:00:00:0$peer" dev hvx nud permanent
  in_ns "n$n" bridge fdb append "02:00:00:00:00:0$peer" dev hvx dst "${UNDERLAY4[$peer]}" self permanent
  in_ns "n$n" ip route add "10.250.$peer.0/24" via "10.250.$peer.0" dev hvx onlink
}
vxlan_by_hand 4 6; vxlan_by_hand 6 4

declare -A results
kinds=("podwire direct:pod1:pod2:${POD4[2]}" "by hand direct:hpod4:hpod5:10.250.5.2"
       "podwire vxlan:pod1:pod3:${POD4[3]}" "by hand vxlan:hpod4:hpod6:10.250.6.2")
iperf_rounds "$ROUNDS" "${kinds[@]}"
echo
printf '%-34s %12s %12s %8s\n' "cross-node pod to pod, TCP (Gbit/s)" podwire "by hand" ratio
for path in direct vxlan; do
  p=$(median <<< "${results[podwire $path]}") h=$(median <<< "${results[by hand $path]}")
  awk -v label="$path (pod MTU $mtu)" -v p="$p" -v h="$h" \
    'BEGIN { printf "%-34s %12.2f %12.2f %8.2f\n", label, p / 1e9, h / 1e9, p / h }'
  expect "the $path transfers ran ($ROUNDS rounds each)" test -n "$p" -a -n "$h"
done
finish
