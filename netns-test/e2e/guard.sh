#!/usr/bin/env bash
# podwire-node's guard mode on a node without a cluster: a node (a netns) with an uplink to
# an outside host, podwire's conflist with masquerade, hairpin, the spoof check and a host
# port, one pod. Each fault is made under the running guard (its timer 5 s away); the guard
# hears of it from the kernel and puts back what the pod's record names, within 2 s; the
# repair time is printed, and the pod's host port, masquerade and CHECK work again.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"

node_ns=$(new_netns node) && outside_ns=$(new_netns outside)
ip link add "u$RUN_ID" type veth peer name "o$RUN_ID"
ip link set "u$RUN_ID" netns "pw$RUN_ID-node"; ip link set "o$RUN_ID" netns "pw$RUN_ID-outside"
in_ns node ip link set "u$RUN_ID" up; in_ns outside ip link set "o$RUN_ID" up
in_ns node ip link set lo up
in_ns node ip addr add 198.18.0.1/24 dev "u$RUN_ID"; in_ns outside ip addr add 198.18.0.2/24 dev "o$RUN_ID"
BRIDGE=pwg$RUN_ID
mkdir -p "$WORK/net.d"
jq -n --arg b "$BRIDGE" --arg d "$WORK/leases" '{cniVersion: "1.0.0", name: "guarded", plugins: [{type: "podwire",
  bridge: $b, isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true, macspoofchk: true,
  capabilities: {portMappings: true},
  ipam: {type: "host-local", dataDir: $d, ranges: [[{subnet: "10.250.0.0/24"}], [{subnet: "fd50::/64"}]]}}]}' \
  > "$WORK/net.d/10-guarded.conflist"
on_node() { RUNTIME_NETNS="pw$RUN_ID-node" NETCONFPATH="$WORK/net.d" CNI_CACHEDIR="$WORK/cache" "$@"; }
ports='{"portMappings":[{"hostPort":8080,"containerPort":8083,"protocol":"tcp"}]}'
pod=$(new_netns pod)
in_ns pod ip link set lo up
CAP_ARGS=$ports on_node runtime_exec add guarded "pod$RUN_ID" "$pod" > "$WORK/pod.json" || fail "ADD the pod"
pod4=$(jq -r '.ips[] | select(.address | contains(".")) | .address | split("/")[0]' "$WORK/pod.json")
pod6=$(jq -r '.ips[] | select(.address | contains(":")) | .address | split("/")[0]' "$WORK/pod.json")
ip netns exec "pw$RUN_ID-pod" python3 "$REPO/netns-test/tools/hostname-server.py" pod 8083 8081 "$pod4" "$pod6" \
  >/dev/null 2>&1 &
remember_pid $!
ip netns exec "pw$RUN_ID-outside" python3 "$REPO/netns-test/tools/hostname-server.py" outside 8083 8081 198.18.0.2 \
  >/dev/null 2>&1 &
remember_pid $!
# The record is left to its ADD for two seconds (PodState.settling): the faults come after.
sleep 2
ip netns exec "pw$RUN_ID-node" "$NODE_BIN" guard --data-dir "$WORK/leases" --resync 5 \
  --status-address 127.0.0.1:9751 >> "$WORK/guard.log" 2>&1 &
remember_pid $!
status_page_guard() {
  in_ns node python3 -c "import urllib.request, sys
try: print(urllib.request.urlopen('http://127.0.0.1:9751$1', timeout=2).read().decode())
except Exception as e: print(e); sys.exit(1)"
}
expect "the guard serves its health" eventually 10 says '^ok' status_page_guard /healthz

state_of() { # what the node holds for the pod, with the bridge's MAC
  in_ns node ip -d link show "$BRIDGE" | grep -oE 'link/ether [0-9a-f:]+|[<,]UP[,>]'
  in_ns node ip addr show dev "$BRIDGE" | grep -oE 'inet6? [^ ]+' | grep -v fe80 | sort
  in_ns node ip -o link show master "$BRIDGE" | awk '{ print $2 }'
  in_ns node bridge -d link show | grep -oE 'hairpin (on|off)'
  in_ns node sysctl -n net.ipv4.conf."$BRIDGE".route_localnet net.ipv4.ip_forward net.ipv6.conf.all.forwarding
  in_ns node nft list table inet podwire | sort
  in_ns node nft list table bridge podwire | sort
}
before=$(state_of)
as_before() { is "$(state_of 2>&1)" "$before"; }
works() { # the host port from the node's localhost and from outside; the pod reaches outside, masqueraded
  [[ $(ask_once node 127.0.0.1 8080 2>&1) == "pod "* ]] &&
    [[ $(ask_once outside 198.18.0.1 8080 2>&1) == "pod "* ]] &&
    [[ $(ask_once pod 198.18.0.2 8083 2>&1) == "outside 198.18.0.1" ]]
}
expect "the host port answers on localhost and from outside; the pod reaches outside, masqueraded" eventually 10 works
check() { CAP_ARGS=$ports on_node runtime_exec check guarded "pod$RUN_ID" "$pod"; }

heal() { # heal WHAT COMMAND...: the fault, then the state back within 2 s, the pod working and CHECK passing
  repaired "$1" "${WITHIN:-2000}" "${@:2}"
  expect "  and the host port and masquerade work again" eventually 5 works
  expect "  and CHECK passes" check
}
delete_gateway() {
  local gateway; gateway=$(in_ns node ip -4 addr show dev "$BRIDGE" | grep -oE 'inet [^ ]+' | cut -d' ' -f2)
  in_ns node ip addr del "$gateway" dev "$BRIDGE"
}

section "the pod's state removed under a running guard"
heal "the bridge deleted" in_ns node ip link del "$BRIDGE"
heal "the bridge set down" in_ns node ip link set "$BRIDGE" down
heal "the bridge's IPv4 gateway address deleted" delete_gateway
heal "nft flush ruleset" in_ns node nft flush ruleset
heal "table inet podwire deleted" in_ns node nft delete table inet podwire
heal "table bridge podwire deleted (the spoof check)" in_ns node nft delete table bridge podwire
WITHIN=6000 heal "route_localnet turned off: no notification, put back by the 5 s timer" \
  in_ns node sysctl -qw net.ipv4.conf."$BRIDGE".route_localnet=0

section "what the guard says of it"
metrics=$(status_page_guard /metrics)
for kind in bridge "bridge address" "bridge port" nftables sysctl; do
  expect "/metrics counts repairs of kind \"$kind\"" \
    matches "$metrics" "^podwire_kernel_repairs_total\{kind=\"$kind\"\} [1-9]"
done
expect "the log names what was missing" file_has "$WORK/guard.log" 'missing=.*put back what something else removed'

section "a pod being deleted is not wired again"
expect "DEL of the pod" on_node runtime_exec del guarded "pod$RUN_ID" "$pod"
in_ns node nft flush ruleset
sleep 1
refute "after DEL and a flush, the guard puts none of the pod's entries back" says 'comment' \
  in_ns node nft list ruleset
expect "  and no lease is left" no_leases "$WORK/leases/guarded"
finish
