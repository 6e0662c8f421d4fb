#!/usr/bin/env bash
# The bgp backend's figures, in one run on the bgp suite's topology (BIRD on the nodes, FRR as
# the router between segments A and B):
#   - cross-segment pod-to-pod TCP throughput (iperf3, one stream) over the BGP-routed path,
#     against the same path routed by hand (nodes 4 and 6: static routes on the router, no
#     BGP, no firewall), then over today's VXLAN path between the same pods (the cluster's
#     backend switched to vxlan), against the hand-routed path again;
#   - from a node's daemon start (its BIRD not running) to both its subnets in the router's
#     table, over JOINS joins;
#   - the longest outage of a probe (every 50 ms, from outside the cluster) when a node's BIRD
#     is killed, with graceful restart on and off, KILLS times each.
#
#   netns-test/bench/bgp.sh          SECONDS_EACH=5 ROUNDS=3 JOINS=20 KILLS=3 for other sizes
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"
WITH_BIRD=1
SECONDS_EACH=${SECONDS_EACH:-5} ROUNDS=${ROUNDS:-3} JOINS=${JOINS:-20} KILLS=${KILLS:-3}
command -v iperf3 >/dev/null && command -v bird >/dev/null && command -v vtysh >/dev/null ||
  { echo "no iperf3, bird or vtysh: scripts/install-deps.sh installs them" >&2; exit 1; }

cluster_underlay "1 2 4" "3 6"
start_tor || fail "FRR starts in the router namespace"
cluster_etcd 1
peers=$(segment_peers)
config() { # config GRACEFUL_RESTART_SECONDS
  jq -cn --argjson peers "$peers" --argjson gr "$1" '{network4: "10.249.0.0/16", network6: "fd49::/48",
    backend: "bgp", natOutgoing4: false, natOutgoing6: false, bgp: {asn: 64512, peers: $peers, gracefulRestart: $gr}}'
}
cluster_config "$(config 120)"
for n in 1 2 3; do start_daemon $n; done
for n in 1 2 3; do wait_for_conflist $n || fail "node $n wrote its conflist"; done
for n in 1 3; do add_pod $n || fail "ADD the pod of node $n"; done
in_tor() { [[ -n $(tor_nexthops "$1") ]]; }
everyone_in_tor() { local n; for n in 1 2 3; do in_tor "$(subnet4 "$n")" || return 1; done; }
expect "every node's subnet is in the router's table" eventually 30 everyone_in_tor

# The hand-routed path: a pod behind a bridge on nodes 4 (A) and 6 (B), static routes on the router.
for n in 4 6; do
  new_netns "hpod$n" >/dev/null
  in_ns "n$n" ip link add hb type bridge; in_ns "n$n" ip addr add "10.250.$n.1/24" dev hb
  in_ns "n$n" ip link set hb up
  in_ns "n$n" ip link add hv type veth peer name eth0 netns "pw$RUN_ID-hpod$n"
  in_ns "n$n" ip link set hv master hb up
  in_ns "hpod$n" ip link set eth0 up; in_ns "hpod$n" ip link set lo up
  in_ns "hpod$n" ip addr add "10.250.$n.2/24" dev eth0; in_ns "hpod$n" ip route add default via "10.250.$n.1"
  in_ns router ip route add "10.250.$n.0/24" via "${UNDERLAY4[$n]}"
done

declare -A results
gbps() { awk -v b="$(median <<< "${results[$1]}")" 'BEGIN { printf "%.2f", b / 1e9 }'; }
ratio() { awk -v a="$(median <<< "${results[$1]}")" -v b="$(median <<< "${results[$2]}")" \
  'BEGIN { if (b > 0) printf "%.2f", a / b }'; }
iperf_rounds "$ROUNDS" "bgp:pod1:pod3:${POD4[3]}" "hand 1:hpod4:hpod6:10.250.6.2"

section "from a daemon's start to its subnets in the router's table ($JOINS joins of node 2)"
joins=()
withdrawn() { [[ -z $(tor_nexthops "$1") ]]; }
both_in_tor() { local s; for s in $(subnets 2); do in_tor "$s" || return 1; done; }
for join in $(seq "$JOINS"); do
  old=$(subnet4 2)
  node 1 remove node2 >/dev/null
  eventually 10 withdrawn "$old" || fail "join $join: node 2's subnet withdrawn"
  eventually 10 process_gone "$(cat "$WORK/daemon2.pid")"
  stop_bird 2
  rm -f "$WORK/n2/net.d/10-podwire.conflist"
  start=$(date +%s%N)
  start_daemon 2
  if eventually 30 wait_for_conflist 2 && eventually 30 both_in_tor; then
    joins+=($((($(date +%s%N) - start) / 1000000)))
  else
    fail "join $join: node 2's subnets in the router's table"
  fi
done
read -r p50 p99 < <(printf '%s\n' "${joins[@]}" | sort -n | awk '{ v[NR] = $1 }
  END { i = int(NR * 0.99 + 0.999); if (i > NR) i = NR; print v[int((NR + 1) / 2)], v[i] }')
echo "        ${#joins[@]} joins, ms: ${joins[*]}"
echo "        p50 $p50 ms, p99 $p99 ms, from the daemon's start (BIRD not running)"
expect "every join was timed" is "${#joins[@]}" "$JOINS"

section "BIRD killed on node 3: the longest outage of a probe every 50 ms from outside"
outage() { # outage: kills node 3's BIRD mid-probe; prints the longest run of lost replies, in ms
  # A count, not a deadline: with -w, ping stops at the first ICMP error (a router's "no route").
  in_ns outside ping -i 0.05 -W 0.1 -c 240 "${POD4[3]}" 2>/dev/null > "$WORK/probe" & local prober=$!
  sleep 1; kill -9 "$(cat "$WORK/n3/bird/bird.pid")"; wait "$prober"
  eventually 20 says "Established" bird_of 3 show protocols
  echo $(($(longest_loss < "$WORK/probe") * 50))
}
declare -A outages
for gr in on off; do
  if [[ $gr == off ]]; then
    cluster_config "$(config 0)"
    for n in 1 3; do restart_daemon $n; done
    eventually 30 says "graceful restart off" cat "$WORK/n3/bird/bird.conf" || fail "node 3's BIRD without GR"
    sleep 3; eventually 30 everyone_in_tor
  fi
  for _ in $(seq "$KILLS"); do outages[$gr]+="$(outage) "; sleep 2; done
  echo "        graceful restart $gr: ${outages[$gr]}ms"
done
expect "with graceful restart the probe loses less than without" \
  test "$(median <<< "${outages[on]}")" -lt "$(median <<< "${outages[off]}")"

section "today's VXLAN path between the same pods"
cluster_config '{"network4":"10.249.0.0/16","network6":"fd49::/48","backend":"vxlan"}'
for n in 1 2 3; do
  stop_daemon $n; stop_bird $n
  in_ns "n$n" ip route flush proto bird; in_ns "n$n" ip -6 route flush proto bird
  start_daemon $n
done
expect "node 1 routes to node 3 over VXLAN" eventually 30 says "dev podwire.vx" podwire_routes 1
expect "pod 1 reaches pod 3" eventually 10 in_ns pod1 ping -c1 -W1 "${POD4[3]}"
iperf_rounds "$ROUNDS" "vxlan:pod1:pod3:${POD4[3]}" "hand 2:hpod4:hpod6:10.250.6.2"

echo
printf '%-44s %10s %12s %8s\n' "cross-segment pod to pod, TCP (Gbit/s)" path "by hand" ratio
printf '%-44s %10s %12s %8s\n' "routed over BGP (pod MTU 1500)" "$(gbps bgp)" "$(gbps 'hand 1')" "$(ratio bgp 'hand 1')"
printf '%-44s %10s %12s %8s\n' "today's VXLAN (pod MTU 1500, PMTU 1450)" "$(gbps vxlan)" "$(gbps 'hand 2')" \
  "$(ratio vxlan 'hand 2')"
awk -v b="$(ratio bgp 'hand 1')" -v v="$(ratio vxlan 'hand 2')" \
  'BEGIN { if (v > 0) printf "BGP against VXLAN, each against the hand-routed path of its phase: %.2fx\n", b / v }'
awk -v b="$(median <<< "${results[bgp]}")" -v v="$(median <<< "${results[vxlan]}")" \
  'BEGIN { if (v > 0) printf "BGP against VXLAN, as measured: %.2fx\n", b / v }'
printf 'join to the router'"'"'s table: p50 %s ms, p99 %s ms over %s joins\n' "$p50" "$p99" "${#joins[@]}"
printf 'outage when BIRD is killed: graceful restart on %s ms, off %s ms (medians of %s)\n' \
  "$(median <<< "${outages[on]}")" "$(median <<< "${outages[off]}")" "$KILLS"
for kind in bgp "hand 1" vxlan "hand 2"; do
  expect "the $kind transfers ran ($ROUNDS rounds)" test -n "$(median <<< "${results[$kind]}")"
done
finish
