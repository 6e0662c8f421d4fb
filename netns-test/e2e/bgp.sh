#!/usr/bin/env bash
# Routed pods: the bgp backend, with BIRD on the nodes and FRR as the segments' top-of-rack
# router (two implementations that must agree). Nodes 1 and 2 on segment A, node 3 on B; each
# peers with the router over IPv4 and IPv6. Shown: the router's table holds every node's
# subnets via that node; a client outside the cluster reaches each pod by its own address and
# each side sees the other's; pods cross segments with no encapsulation at the underlay's
# MTU; a node removed is withdrawn and a node joining announced (times printed); BIRD killed
# with graceful restart loses no probe, and BIRD stopped is reported; a
# podwire-node restart flaps no session; the router's restart, and what it costs; a peer that
# does not answer and a wrong AS number reported.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"
WITH_BIRD=1
command -v bird >/dev/null && command -v vtysh >/dev/null ||
  { echo "no bird or vtysh: scripts/install-deps.sh installs them" >&2; exit 1; }

cluster_underlay "1 2" "3"
in_ns outside ip addr add fd18::2/64 dev "o$RUN_ID" nodad; in_ns router ip addr add fd18::1/64 dev "r$RUN_ID" nodad
in_ns outside ip -6 route add default via fd18::1
start_tor || fail "FRR starts in the router namespace"
cluster_etcd 1
peers=$(segment_peers)
config() { # config PEERS: the cluster's config with these BGP peers
  jq -cn --argjson peers "$1" '{network4: "10.249.0.0/16", network6: "fd49::/48", backend: "bgp",
    natOutgoing4: false, natOutgoing6: false, bgp: {asn: 64512, peers: $peers, gracefulRestart: 120}}'
}
cluster_config "$(config "$peers")" || fail "set the cluster config"
for n in 1 2 3; do start_daemon $n; done
for n in 1 2 3; do wait_for_conflist $n || fail "node $n wrote its conflist"; done
for n in 1 2 3; do add_pod $n || fail "ADD the pod of node $n"; done
ip netns exec "pw$RUN_ID-outside" python3 "$REPO/netns-test/tools/hostname-server.py" outside 8083 8081 \
  198.18.0.2 fd18::2 >/dev/null 2>&1 &
remember_pid $!

section "peering: every node's subnets in the router's table, via that node"
# The router's own view: its selected route to each node's subnet, and the node's address
# (for IPv6, FRR keeps the node's link-local address as the next hop).
link_local() { in_ns "n$1" ip -6 -o addr show dev eth0 scope link | awk '{ print $4 }' | cut -d/ -f1; }
routed_via_nodes() {
  local n v4 v6
  for n in 1 2 3; do
    v4=$(tor_nexthops "$(subnets "$n" | grep -v :)") v6=$(tor_nexthops "$(subnets "$n" | grep :)")
    [[ $v4 == "${UNDERLAY4[$n]}" && $v6 == "$(link_local "$n")" ]] ||
      { echo "node $n: via '$v4' and '$v6', wanted ${UNDERLAY4[$n]} and $(link_local "$n")"; return 1; }
  done
}
start=$(date +%s%N)
expect "the router's table holds the three nodes' IPv4 and IPv6 subnets, each via its node" \
  eventually 30 routed_via_nodes
echo "        all six in the router's table $((($(date +%s%N) - start) / 1000000)) ms after the pods were wired"
expect "  the router learnt them over BGP" says "B>\* 10\.249\." tor -c "show ip route bgp"
expect "node 1's BIRD has its two sessions up" says "router_192_168_10_254 .*Established" bird_of 1 show protocols
expect "podwire-node status shows the sessions, with routes received and announced" eventually 10 \
  says "bgp session router_fd10__254 \(fd10::254 AS 65000\): Established, 2 received, 1 announced" \
  node 1 status --name node1
expect "/metrics has each session's state" eventually 10 \
  says 'podwire_bgp_session_established\{.*session="router_192_168_10_254".*\} 1' status_page 1 /metrics
expect "node 1 takes node 3's subnet from BGP (protocol bird), not one of podwire's own routes" \
  says "proto bird" in_ns n1 ip route show "$(subnet4 3)"
refute "  podwire adds no route of its own to a peer BGP covers" has_route 1 .

section "from outside the cluster, by the pods' own addresses"
outside_reaches() { # outside_reaches N FAMILY: the outside host asks pod N; the pod saw the outside's address
  local want src=198.18.0.2; [[ $2 == 4 ]] && want=${POD4[$1]} || { want=${POD6[$1]}; src=fd18::2; }
  is "$(ask_once outside "$want" 8083 2>&1)" "pod$1 $src"
}
for n in 1 2 3; do
  expect "the outside host reaches pod $n at ${POD4[$n]}, and the pod sees the outside's own address" \
    eventually 10 outside_reaches $n 4
  expect "  and at ${POD6[$n]}" eventually 10 outside_reaches $n 6
done
expect "pod 3 reaches the outside host, which sees the pod's own address (natOutgoing4: false)" \
  eventually 10 says "^outside ${POD4[3]}$" ask_once pod3 198.18.0.2 8083
expect "  over IPv6 too (natOutgoing6: false)" eventually 10 says "^outside ${POD6[3]}$" ask_once pod3 fd18::2 8083

section "across segments, with no encapsulation"
expect "every pod reaches every pod, over IPv4" conformance 4 1 2 3
expect "  and over IPv6" conformance 6 1 2 3
for n in 1 2 3; do
  refute "node $n has no VXLAN device: nothing can be encapsulated" has_link podwire.vx "pw$RUN_ID-n$n"
done
expect "the pods' MTU is the underlay's: $(in_ns pod1 cat /sys/class/net/eth0/mtu)" \
  is "$(in_ns pod1 cat /sys/class/net/eth0/mtu)" 1500
expect "a DF ping of 1472 bytes of payload crosses from pod 1 to pod 3" \
  in_ns pod1 ping -M do -s 1472 -c 1 -W 2 "${POD4[3]}"
expect "  and 1452 bytes over IPv6" in_ns pod1 ping -6 -M do -s 1452 -c 1 -W 2 "${POD6[3]}"
expect "  the packets cross the router unencapsulated: it sees pod 1's address" \
  says "${POD4[1]} > ${POD4[3]}: ICMP echo request" \
  bash -c "timeout 3 ip netns exec pw$RUN_ID-router tcpdump -lni eth-b -c1 icmp 2>/dev/null &
           sleep 1; ip netns exec pw$RUN_ID-pod1 ping -c1 -W1 ${POD4[3]} >/dev/null; wait"

section "a restart of podwire-node flaps no session"
established() { # established: how many sessions the router has ever established, over both families
  tor -c "show bgp neighbors json" | jq '[.[] | .connectionsEstablished? // 0] | add'
}
before=$(established)
restart_daemon 1
expect "node 1's daemon is back" eventually 20 says "^ok" status_page 1 /healthz
sleep 2
expect "the router established no session again: $before before, $(established) after" is "$(established)" "$before"

section "BIRD killed on a node, with graceful restart"
# probe NS ADDRESS SECONDS: pings every 0.1 s for SECONDS; prints the longest run of lost
# replies, in probes.
# A count, not a deadline: with -w, ping stops at the first ICMP error (a router's "no route").
probe() { in_ns "$1" ping -i 0.1 -W 0.2 -c $(($3 * 10)) "$2" 2>/dev/null | longest_loss; }
outage_when() { # outage_when FAULT...: node 3's pod probed from the outside host while FAULT runs
  probe outside "${POD4[3]}" 8 > "$WORK/outage" & local prober=$!
  sleep 1; "$@"; wait "$prober"; cat "$WORK/outage"
}
kill_bird() { kill -9 "$(cat "$WORK/n$1/bird/bird.pid")"; }
lost=$(outage_when kill_bird 3)
expect "node 3's BIRD is started again by podwire-node" eventually 10 says "Established" bird_of 3 show protocols
expect "the outside host's probes of pod 3 (every 0.1 s) lost $lost in a row: the router kept the routes" \
  test "$lost" -le 2
expect "  the repair is logged" says "kind=bgp daemon" cat "$WORK/daemon3.log"

section "BIRD stopped (SIGSTOP): reported while pods keep talking"
bird3=$(cat "$WORK/n3/bird/bird.pid")
kill -STOP "$bird3"
expect "node 3's status says BIRD does not answer" \
  eventually 15 says "bgp daemon: BIRD does not answer" node 3 status --name node3
expect "  pods across segments still talk (the kernel holds BIRD's routes)" in_ns pod1 ping -c1 -W1 "${POD4[3]}"
kill -CONT "$bird3"
expect "once it goes on, its sessions are read again" \
  eventually 15 says "bgp session router_192_168_20_254 .*Established" node 3 status --name node3

section "the router restarted"
restart_tor() { stop_tor; start_tor; }
lost=$(outage_when restart_tor)
expect "the sessions come back" eventually 30 routed_via_nodes
echo "        the outside host lost $lost probes in a row (0.1 s each) while the router restarted"
expect "  pods across segments talk again" eventually 10 in_ns pod1 ping -c1 -W1 "${POD4[3]}"

section "a node removed, and joining"
gone_from_tor() { [[ -z $(tor_nexthops "$1") ]]; }
subnet3=$(subnet4 3)
start=$(date +%s%N)
node 1 remove node3 >/dev/null
expect "node 3's subnet is withdrawn from the router" eventually 10 gone_from_tor "$subnet3"
echo "        withdrawn $((($(date +%s%N) - start) / 1000000)) ms after podwire-node remove"
no_route() { [[ -z $(in_ns "n$1" ip route show "$2") ]]; }
expect "  node 1 drops its route to it" eventually 10 no_route 1 "$subnet3"
eventually 10 process_gone "$(cat "$WORK/daemon3.pid")"
start=$(date +%s%N)
start_daemon 3
expect "node 3 joins again" eventually 20 wait_for_conflist 3
joined() { [[ -n $(tor_nexthops "$(subnet4 3)") && -n $(tor_nexthops "$(subnets 3 | grep :)") ]]; }
expect "its subnets are in the router's table" eventually 20 joined
joined || { bird_of 3 show protocols; tail -20 "$WORK/daemon3.log"; }
echo "        announced $((($(date +%s%N) - start) / 1000000)) ms after its daemon started"

section "bad config: a peer that does not answer, a wrong AS number"
# Node 1 gets a second router that is not there; node 2's IPv4 router gets the wrong AS number.
bad=$(jq -c '[.[] | if .node == "node2" and .address == "192.168.10.254" then .asn = 65001 else . end]
  + [{address: "192.168.10.253", asn: 65000, node: "node1"}]' <<< "$peers")
cluster_config "$(config "$bad")" || fail "set the bad config"
# podwire-node takes a new cluster config on its restart
for n in 1 2; do restart_daemon $n; done
expect "node 1's status names the session that does not come up" \
  eventually 30 says "bgp session router_192_168_10_253 \(192.168.10.253 AS 65000\): (Connect|Active)" \
  node 1 status --name node1
expect "node 2's status names the wrong AS number" \
  eventually 30 says "router_192_168_10_254 .*AS 65001\): (Active|Connect|Idle).*last error: .*(Bad peer AS|[Aa]s)" \
  node 2 status --name node2
expect "  and the log" \
  says "lastError=.*(Bad peer AS|[Aa]s).*session=router_192_168_10_254.*bgp session not established" \
  cat "$WORK/daemon2.log"
expect "node 1's other sessions stay up" says "router_192_168_10_254 .*Established" bird_of 1 show protocols
expect "pods keep talking over what works: pod 1 reaches pod 3 over IPv4, pod 2 over IPv6" \
  eventually 10 bash -c "ip netns exec pw$RUN_ID-pod1 ping -c1 -W1 ${POD4[3]} && \
    ip netns exec pw$RUN_ID-pod2 ping -c1 -W1 ${POD6[3]}"

section "BFD: a silent link to a node takes its sessions down in a second, not the hold time's 9"
cluster_config "$(jq -c '.bgp.bfd = true' <<< "$(config "$peers")")" || fail "set the BFD config"
tor_bfd || fail "FRR's bfdd starts, BFD on the router's sessions"
restart_daemon 3
bfd_up() {
  tor -c "show bfd peers json" | jq -e --arg p "${UNDERLAY4[3]}" '.[] | select(.peer == $p and .status == "up")'
}
expect "node 3's BIRD and the router run BFD on their session" eventually 30 bfd_up
session3() { tor -c "show bgp summary json" | jq -r --arg p "${UNDERLAY4[3]}" '.ipv4Unicast.peers[$p].state'; }
up3() { is "$(session3)" Established; }
expect "  and BGP is up" eventually 20 up3
in_ns router nft add table inet "bfd$RUN_ID"
in_ns router nft add chain inet "bfd$RUN_ID" in '{ type filter hook input priority 0; }'
in_ns router nft add rule inet "bfd$RUN_ID" in ip saddr "${UNDERLAY4[3]}" drop
start=$(date +%s%N)
down3() { ! up3; }
# Within 4 s: the hold timer (9 s, a keepalive every 3 s) would take 6 s at the least.
expect "the router takes node 3's IPv4 session down within 4 s of node 3 falling silent" eventually 4 down3
echo "        down $((($(date +%s%N) - start) / 1000000)) ms after node 3's packets were dropped (hold time: 9 s)"
in_ns router nft delete table inet "bfd$RUN_ID"
expect "  and up again once they pass" eventually 30 up3

section "a mesh without routers: BGP between the nodes of a link, VXLAN past it"
cluster_config "$(jq -cn '{network4: "10.249.0.0/16", network6: "fd49::/48", backend: "bgp",
  bgp: {asn: 64512, mesh: true}}')" || fail "set the mesh config"
for n in 1 2 3; do restart_daemon $n; done
expect "nodes 1 and 2 peer with each other over both families" \
  eventually 20 says "mesh_node2_4 .*Established" bird_of 1 show protocols
expect "  node 1's route to node 2's subnet is BIRD's, via node 2" \
  eventually 10 says "via ${UNDERLAY4[2]} .*proto bird" in_ns n1 ip route show "$(subnet4 2)"
expect "node 3, off the link, is reached over VXLAN (podwire's own route)" \
  eventually 20 says "dev podwire.vx proto $PODWIRE_ROUTE_PROTO" in_ns n1 ip route show "$(subnet4 3)"
refute "node 1 has no session with node 3" says "mesh_node3" bird_of 1 show protocols
expect "pod 1 reaches pods 2 and 3" eventually 10 bash -c "ip netns exec pw$RUN_ID-pod1 ping -c1 -W1 ${POD4[2]} &&
  ip netns exec pw$RUN_ID-pod1 ping -c1 -W1 ${POD4[3]}"

finish
