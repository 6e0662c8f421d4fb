#!/usr/bin/env bash
# A node heals what other software removes under its running daemon: three nodes, node 3
# behind a router (reached over VXLAN), a pod on each, pod 1 with a host port. Each fault is
# made on node 1; the daemon hears of it from the kernel's notifications (its timer is 60 s
# away) and puts back exactly what was there (routes, the VXLAN device and its entries,
# forwarding, the conflist, the pods' bridge with its ports, the nftables tables), within 2 s.
# Each repair time is printed, and the pods talk again.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"

BRIDGE=pwb$RUN_ID  # start_daemon names it
cluster_underlay "1 2" "3"
cluster_etcd 1
cluster_config '{"network4":"10.247.0.0/16","network6":"fd47::/48","backend":"auto"}' || fail "set the cluster config"
for n in 1 2 3; do start_daemon $n; done
for n in 1 2 3; do wait_for_conflist $n || fail "node $n wrote its conflist"; done
CAP_ARGS='{"portMappings":[{"hostPort":8080,"containerPort":8083,"protocol":"tcp"}]}' add_pod 1 ||
  fail "ADD the pod of node 1, with host port 8080"
for n in 2 3; do wire_pod $n || fail "ADD the pod of node $n"; done
ip netns exec "pw$RUN_ID-outside" python3 "$REPO/netns-test/tools/hostname-server.py" outside 8083 8081 198.18.0.2 \
  >/dev/null 2>&1 &
remember_pid $!
expect "every node holds a route to each of the two others, both families" eventually 30 holds_routes 2 1 2 3

# What node 1 holds of podwire's: its routes, the VXLAN device with its entries, the pods'
# bridge with its ports, and the nftables tables.
state_of() {
  in_ns n1 ip -d link show "$BRIDGE" | grep -oE 'link/ether [0-9a-f:]+|[<,]UP[,>]'
  in_ns n1 ip addr show dev "$BRIDGE" | grep -oE 'inet6? [^ ]+' | grep -v fe80 | sort
  in_ns n1 ip -o link show master "$BRIDGE" | awk '{ print $2 }'
  in_ns n1 bridge -d link show | grep -oE 'hairpin (on|off)'
  in_ns n1 sysctl -n net.ipv4.conf."$BRIDGE".route_localnet
  in_ns n1 nft list table inet podwire | sort
  in_ns n1 nft list table inet podwire-node | sort
  podwire_routes 1 | sort; podwire_routes 1 -6 | sort
  in_ns n1 ip -d link show podwire.vx | grep -oE 'vxlan id [0-9]+.*dstport [0-9]+|link/ether [0-9a-f:]+|state [A-Z]+'
  in_ns n1 ip addr show dev podwire.vx | grep -oE 'inet6? [^ ]+' | grep -v fe80 | sort
  in_ns n1 ip neigh show dev podwire.vx nud permanent | sort
  in_ns n1 bridge fdb show dev podwire.vx | grep ' dst ' | sort
  in_ns n1 sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding
  md5sum < "$WORK/n1/net.d/10-podwire.conflist" 2>&1
}
before=$(state_of)
as_before() { is "$(state_of 2>&1)" "$before"; }
pods_talk() { # pod 1 reaches the pods of nodes 2 and 3 over both families
  local n address
  for n in 2 3; do
    for address in "${POD4[$n]}" "${POD6[$n]}"; do in_ns pod1 ping -q -c1 -W1 "$address" >/dev/null || return 1; done
  done
}
reaches_pod1() { [[ $(ask_once "$1" "$2" 8080 2>&1) == "pod1 "* ]]; }
host_port_and_masquerade() { # pod 1's host port from node 1 (localhost and its underlay address) and
  # node 2; pod 1 reaches the outside host, which sees node 1's address
  reaches_pod1 n1 127.0.0.1 && reaches_pod1 n1 "${UNDERLAY4[1]}" && reaches_pod1 n2 "${UNDERLAY4[1]}" &&
    [[ $(ask_once pod1 198.18.0.2 8083 2>&1) == "outside ${UNDERLAY4[1]}" ]]
}
vxlan_parts() { # routes through the device, its neighbour entries, its forwarding entries
  echo "$(grep -c 'dev podwire.vx' <<< "$before") $(grep -c 'lladdr' <<< "$before") $(grep -c ' dst ' <<< "$before")"
}
expect "node 1 reaches node 3 over VXLAN: 2 routes, 2 neighbour entries, 1 forwarding entry" is "$(vxlan_parts)" "2 2 1"
expect "pod 1 reaches the pods of nodes 2 and 3 over IPv4 and IPv6" eventually 10 pods_talk
expect "pod 1's host port answers on node 1 (localhost too) and node 2; pod 1 reaches outside, masqueraded" \
  eventually 10 host_port_and_masquerade

# heal WHAT COMMAND...: makes the fault, then waits (up to 10 s) for node 1 to hold what it
# held before; passes within 2 s, and prints the time it took.
heal() {
  repaired "$1" 2000 "${@:2}"
  expect "  and pod 1 reaches the others again" eventually 5 pods_talk
  expect "  and its host port and masquerade work" eventually 5 host_port_and_masquerade
}
flush_routes() {
  in_ns n1 ip route flush proto "$PODWIRE_ROUTE_PROTO" && in_ns n1 ip -6 route flush proto "$PODWIRE_ROUTE_PROTO"
}
delete_forwarding() {
  # Shown per device as "MAC dst ADDRESS self permanent".
  in_ns n1 bridge fdb show dev podwire.vx | grep ' dst ' | while read -r mac _ address _; do
    in_ns n1 bridge fdb del "$mac" dev podwire.vx dst "$address" || return 1
  done
}
delete_vtep_address() {
  in_ns n1 ip addr del "$(in_ns n1 ip -4 addr show dev podwire.vx | grep -oE 'inet [^ ]+' | cut -d' ' -f2)" \
    dev podwire.vx
}

section "state removed under a running daemon"
heal "the VXLAN device deleted" in_ns n1 ip link del podwire.vx
heal "podwire's routes flushed" flush_routes
heal "the VXLAN device's neighbour entries flushed" in_ns n1 ip neigh flush dev podwire.vx nud permanent
heal "the VXLAN device's forwarding entries deleted" delete_forwarding
heal "the VXLAN device's VTEP address deleted" delete_vtep_address
heal "the VXLAN device set down" in_ns n1 ip link set podwire.vx down
heal "IPv4 forwarding turned off" in_ns n1 sysctl -qw net.ipv4.ip_forward=0
heal "IPv6 forwarding turned off" in_ns n1 sysctl -qw net.ipv6.conf.all.forwarding=0
heal "the node's conflist deleted" rm "$WORK/n1/net.d/10-podwire.conflist"
heal "the node's conflist changed by hand" sed -i 's/"ipMasq":true/"ipMasq":false/' "$WORK/n1/net.d/10-podwire.conflist"
# Moved away first: the daemon writes the conflist again as soon as it is deleted, and rm -r
# would then find its directory not empty.
delete_conflist_directory() { mv "$WORK/n1/net.d" "$WORK/n1/net.d.gone" && rm -r "$WORK/n1/net.d.gone"; }
heal "the conflist's directory deleted" delete_conflist_directory

section "the pods' state removed under a running daemon, put back from the plugin's records"
delete_gateway() {
  in_ns n1 ip addr del "$(in_ns n1 ip -4 addr show dev "$BRIDGE" | grep -oE 'inet [^ ]+' | cut -d' ' -f2)" dev "$BRIDGE"
}
heal "the pods' bridge deleted" in_ns n1 ip link del "$BRIDGE"
heal "the bridge's IPv4 gateway address deleted" delete_gateway
heal "the bridge set down" in_ns n1 ip link set "$BRIDGE" down
heal "nft flush ruleset" in_ns n1 nft flush ruleset
heal "table inet podwire deleted" in_ns n1 nft delete table inet podwire
heal "table inet podwire-node deleted" in_ns n1 nft delete table inet podwire-node

section "what the daemon says of it"
expect "status on node 1: no drift" says '^no drift' node 1 status --name node1
daemon1=$(cat "$WORK/daemon1.pid")
kill -STOP "$daemon1"
in_ns n1 ip link del podwire.vx
refute "with its daemon stopped (SIGSTOP) and the VXLAN device deleted, status says drift (exit status 1)" \
  node 1 status --name node1
expect "  and names the device" says '^drift: podwire\.vx missing' node 1 status --name node1
kill -CONT "$daemon1"
expect "the daemon, continued, puts it back within 2 s" eventually 2 as_before
metrics=$(status_page 1 /metrics)
for kind in "vxlan device" route neighbour forwarding sysctl conflist bridge "bridge address" "bridge port" nftables; do
  expect "/metrics counts repairs of kind \"$kind\"" \
    matches "$metrics" "^podwire_kernel_repairs_total\{kind=\"$kind\"\} [1-9]"
done
expect "the log names what was missing" file_has "$WORK/daemon1.log" 'missing=.*put back what something else removed'
refute "nodes 2 and 3 were left as they were: no repair counted there" \
  matches "$(status_page 2 /metrics; status_page 3 /metrics)" '^podwire_kernel_repairs_total'

section "the underlay's address changed"
# As DHCP renumbers a node (node 2: node 1 runs etcd): the new address first, then the old
# one goes (the new one is promoted to primary rather than removed with it).
in_ns n2 sysctl -qw net.ipv4.conf.eth0.promote_secondaries=1
new2=192.168.10.12
start=$(date +%s%N)
in_ns n2 ip addr add "$new2/24" dev eth0 && in_ns n2 ip addr del "${UNDERLAY4[2]}/24" dev eth0 ||
  fail "renumber node 2's underlay"
follows() { # node 1 routes to node 2 directly, node 3 over VXLAN, through the new address only
  local routes fdb; routes=$(podwire_routes 1) fdb=$(in_ns n3 bridge fdb show dev podwire.vx)
  grep -q "via $new2 " <<< "$routes" && ! grep -q "via ${UNDERLAY4[2]} " <<< "$routes" &&
    grep -q "dst $new2 " <<< "$fdb" && ! grep -q "dst ${UNDERLAY4[2]} " <<< "$fdb" ||
    { echo "node 1: $routes; node 3: $fdb" | tr '\n' ' '; false; }
}
if eventually 10 follows >/dev/null; then
  took=$((($(date +%s%N) - start) / 1000000))
  pass "node 2 publishes its new address and both peers follow, within the 10 s staleness bound ($took ms)"
else
  fail "node 2 publishes its new address and both peers follow, within the 10 s staleness bound" "$(follows)"
fi
sleep 1
expect "  and stay so a second later" follows
expect "  node 2's record holds it" says "^node2 .*$new2" node 1 nodes
expect "  the log says why" file_has "$WORK/daemon2.log" "underlay's addresses changed"
expect "  pod 1 reaches the others again" eventually 5 pods_talk
expect "  and node 2 shows no drift" eventually 5 says '^no drift' node 2 status --name node2
in_ns n2 ip -6 addr del "${UNDERLAY6[2]}/64" dev eth0
sleep 2
expect "its IPv6 address gone (a family with no address), the record keeps the one it had" \
  says "^node2 .*${UNDERLAY6[2]}" node 1 nodes
finish
