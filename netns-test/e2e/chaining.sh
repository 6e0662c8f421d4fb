#!/usr/bin/env bash
# End-to-end tests of conflists: every example in conf/, and chains that mix podwire with
# the reference portmap, bandwidth, tuning, firewall and loopback, both ways round. Each
# goes through ADD, CHECK and DEL in the libcni client and must leave nothing behind.
source "$(dirname "$0")/../lib/lib.sh"

DATA="$WORK/data"
# The reference portmap and firewall leave their shared iptables chains (CNI-HOSTPORT-*,
# CNI-FORWARD, …) behind by design. A run that found none removes the ones it caused.
if ! iptables-save 2>/dev/null | grep -q ':CNI-'; then
  remove_reference_chains() {
    local table rule chains
    for table in nat filter; do
      iptables -t "$table" -S | grep -- '-j CNI-' | grep -v '^-A CNI-' | sed 's/^-A/-D/' | while read -r rule; do
        eval "iptables -t $table $rule"
      done
      chains=$(iptables -t "$table" -S | sed -n 's/^-N \(CNI-.*\)/\1/p')
      for rule in $chains; do iptables -t "$table" -F "$rule"; done
      for rule in $chains; do iptables -t "$table" -X "$rule"; done
    done
  }
  trap 'remove_reference_chains; cleanup' EXIT
fi
V6="$SUBNET6_BASE::/64"
# Each section has its own bridge and its own /27 of the run's subnet: two bridges with
# one subnet would leave the node's route to it on only one of them.
SECTION=0
next_subnet() { \
  SECTION=$((SECTION + 1)); SUBNET="$SUBNET_BASE.$((SECTION * 32))/27"; GATEWAY="$SUBNET_BASE.$((SECTION * 32 + 1))"; }
# from_conf FILE NAME BRIDGE: conf/'s example on this run's bridge, subnet and dataDir.
from_conf() {
  next_subnet
  jq --arg name "$2" --arg br "$3" --arg v4 "$SUBNET" --arg v6 "$V6" --arg data "$DATA" '
    .name = $name | .plugins[0].bridge = $br | .plugins[0].ipam.dataDir = $data
    | .plugins[0].ipam.ranges |= map(if .[0].subnet | contains(":") then [{subnet: $v6}] else [{subnet: $v4}] end)' \
    "$REPO/conf/$1" > "$NETCONFPATH/$2.conflist"
}
# A pod's container ID is its netns name, unique to the run like every name here.
run() { runtime_exec "$1" "$2" "pw$RUN_ID-$3" "/var/run/netns/pw$RUN_ID-$3"; }  # run add|check|del NETWORK POD
ip_of() { jq -r ".ips[${2:-0}].address" "$WORK/$1.json" | cut -d/ -f1; }
# nothing_left ID NETWORK [IP]: no lease, host veth, ifb, nftables or iptables entry.
nothing_left() {
  local id=pw$RUN_ID-$1 veth ifb; veth=$(host_veth_of "$id" eth0); ifb=$(ifb_of "$id" eth0)
  [[ -z ${3:-} ]] || ! iptables-save 2>/dev/null | grep -qw -- "$3" || { echo "iptables rules naming $3"; return 1; }
  no_leases "$DATA/$2" || return 1
  lacks_link "$veth" || return 1
  lacks_link "$ifb" || return 1
  ! nft list ruleset 2>/dev/null | grep -q "$2 $id eth0" || { echo "nftables entries"; return 1; }
  ! iptables-save 2>/dev/null | grep -q -- "$id" || { echo "iptables rules naming $id"; return 1; }
}
serve() { ip netns exec "pw$RUN_ID-$1" python3 "$REPO/netns-test/tools/peer-server.py" "${@:2}" & echo $! >> \
  "$WORK/made.pids"; sleep 0.3; }
reach() { python3 "$REPO/netns-test/tools/peer-client.py" "$@" >/dev/null 2>&1; }
HP=$((20000 + RANDOM % 20000))
ports_and_limits() {
  jq -nc --argjson port "$1" '{portMappings: [{hostPort: $port, containerPort: 9000, protocol: "tcp"}],
    bandwidth: {ingressRate: 100000000, ingressBurst: 1000000, egressRate: 100000000, egressBurst: 1000000}}'
}

section "conf/10-podwire.conflist: bridge, gateway, loopback"
from_conf 10-podwire.conflist basic$RUN_ID "$(new_bridge_name a)"
new_netns basic >/dev/null
expect "ADD" into "$WORK/basic.json" run add "basic$RUN_ID" basic
expect "lo is up in the pod (the reference loopback ran)" link_shows lo UP "pw$RUN_ID-basic"
expect "CHECK" run check "basic$RUN_ID" basic
expect "DEL" run del "basic$RUN_ID" basic
expect "nothing left" nothing_left basic "basic$RUN_ID"

section "conf/20-podwire-full.conflist: masquerade, port mappings, bandwidth, loopback"
from_conf 20-podwire-full.conflist full$RUN_ID "$(new_bridge_name b)"
new_netns full >/dev/null
export CAP_ARGS; CAP_ARGS=$(ports_and_limits $HP)
expect "ADD" into "$WORK/full.json" run add "full$RUN_ID" full
serve full 9000 0.0.0.0
expect "the node reaches the pod through host port $HP" reach 127.0.0.1 $HP
expect "the pod is masqueraded (its entry is in masq4)" says 'full eth0' nft list set inet podwire masq4
expect "its host end has a tbf qdisc" says tbf tc qdisc show dev "$(host_veth_of "pw$RUN_ID-full" eth0)" root
expect "CHECK" run check "full$RUN_ID" full
expect "DEL" run del "full$RUN_ID" full
refute "the host port is closed" reach 127.0.0.1 $HP
expect "nothing left" nothing_left full "full$RUN_ID"
unset CAP_ARGS

section "conf/30-podwire-dualstack.conflist"
from_conf 30-podwire-dualstack.conflist dual$RUN_ID "$(new_bridge_name c)"
new_netns dual >/dev/null
expect "ADD" into "$WORK/dual.json" run add "dual$RUN_ID" dual
expect "  gives an IPv4 and an IPv6 address" json "$WORK/dual.json" '.ips | length == 2'
expect "the pod has a default route for IPv4" route_shows "pw$RUN_ID-dual" via default
expect "  and for IPv6" says via ip -n "pw$RUN_ID-dual" -6 route show default
expect "CHECK" run check "dual$RUN_ID" dual
expect "DEL" run del "dual$RUN_ID" dual
expect "nothing left" nothing_left dual "dual$RUN_ID"

section "podwire, then the reference bandwidth, tuning and firewall, and loopback"
# main_plugin TYPE BRIDGE: the chain's first plugin, podwire or the reference bridge.
main_plugin() {
  jq -nc --arg type "$1" --arg br "$2" --arg v4 "$SUBNET" --arg data "$DATA" \
    '{type: $type, bridge: $br, isGateway: true, isDefaultGateway: true, hairpinMode: true,
      ipam: {type: "host-local", ranges: [[{subnet: $v4}]], dataDir: $data}}'
}
REFERENCE_TAIL='{"type":"bandwidth","capabilities":{"bandwidth":true}},'
REFERENCE_TAIL+='{"type":"tuning","sysctl":{"net.core.somaxconn":"1234"}},{"type":"firewall"},{"type":"loopback"}'
PORTMAP='{"type":"portmap","capabilities":{"portMappings":true},"snat":true}'
BR=$(new_bridge_name d)
next_subnet
write_conflist mix$RUN_ID "[$(main_plugin podwire "$BR"),$REFERENCE_TAIL]"
write_conflist mixpm$RUN_ID "[$(main_plugin podwire "$BR"),$PORTMAP,$REFERENCE_TAIL]"
new_netns mix >/dev/null
export CAP_ARGS; CAP_ARGS=$(ports_and_limits $((HP + 1)))
expect "ADD through all five" into "$WORK/mix.json" run add "mix$RUN_ID" mix
expect "the result holds podwire's three interfaces, the reference bandwidth's ifb, and the pod's address" \
  json "$WORK/mix.json" "(.interfaces | length) == 4 and .interfaces[2].sandbox != null
    and (.interfaces[3].name | startswith(\"bwp\")) and (.ips[0].address | startswith(\"$SUBNET_BASE.\"))"
expect "the reference bandwidth shaped podwire's host end" \
  says tbf tc qdisc show dev "$(host_veth_of "pw$RUN_ID-mix" eth0)" root
expect "tuning set net.core.somaxconn in the pod" \
  is "$(ip netns exec "pw$RUN_ID-mix" sysctl -n net.core.somaxconn)" 1234
expect "the reference firewall admitted the pod's address" says "CNI-FORWARD.*$(ip_of mix)" iptables-save -t filter
expect "CHECK through all five" run check "mix$RUN_ID" mix
expect "DEL through all five, in reverse" run del "mix$RUN_ID" mix
expect "nothing left: no lease, veth, ifb, nftables or iptables rule of the pod" nothing_left mix "mix$RUN_ID" \
  "$(ip_of mix)"

section "the same with the reference portmap after podwire"
expect "ADD through all six" into "$WORK/mix.json" run add "mixpm$RUN_ID" mix
serve mix 9000 0.0.0.0
expect "the reference portmap forwards host port $((HP + 1)) to podwire's pod" reach "$GATEWAY" $((HP + 1))
expect "CHECK fails only in the reference portmap 1.1.1, by its bug #819 (an IPv6 chain sought for an IPv4-only pod)" \
  says 'could not check ipv6 dnat' run check "mixpm$RUN_ID" mix
expect "DEL through all six, in reverse" run del "mixpm$RUN_ID" mix
refute "the host port is closed" reach "$GATEWAY" $((HP + 1))
expect "nothing left: no lease, veth, ifb, nftables or iptables rule of the pod" nothing_left mix "mixpm$RUN_ID" \
  "$(ip_of mix)"
BR=$(new_bridge_name f)
next_subnet
write_conflist refpm$RUN_ID "[$(main_plugin bridge "$BR"),$PORTMAP,$REFERENCE_TAIL]"
new_netns refpm >/dev/null
run add "refpm$RUN_ID" refpm >/dev/null || fail "ADD through the reference bridge and portmap"
expect "control: with the reference bridge in podwire's place, CHECK fails the same way" \
  says 'could not check ipv6 dnat' run check "refpm$RUN_ID" refpm
run del "refpm$RUN_ID" refpm || fail "DEL through the reference bridge and portmap"
unset CAP_ARGS

section "the reference bridge, then podwire-portmap"
BR=$(new_bridge_name e)
next_subnet
write_conflist ref$RUN_ID "$(jq -nc --arg br "$BR" --arg v4 "$SUBNET" --arg data "$DATA" '[
  {type: "bridge", bridge: $br, isGateway: true, isDefaultGateway: true, hairpinMode: true,
   ipam: {type: "host-local", ranges: [[{subnet: $v4}]], dataDir: $data}},
  {type: "podwire-portmap", capabilities: {portMappings: true}},
  {type: "loopback"}]')"
new_netns ref >/dev/null
export \
  CAP_ARGS; CAP_ARGS=$(printf '{"portMappings":[{"hostPort":%s,"containerPort":9000,"protocol":"tcp"}]}' $((HP + 2)))
expect "ADD" into "$WORK/ref.json" run add "ref$RUN_ID" ref
expect "podwire-portmap passed the reference bridge's result on" \
  json "$WORK/ref.json" '(.interfaces | length) == 3 and (.ips | length) == 1'
serve ref 9000 0.0.0.0
expect "podwire-portmap forwards host port $((HP + 2)) to the reference bridge's pod" reach 127.0.0.1 $((HP + 2))
expect "CHECK" run check "ref$RUN_ID" ref
expect "DEL" run del "ref$RUN_ID" ref
refute "the host port is closed" reach 127.0.0.1 $((HP + 2))
refute "no nftables entry of the pod is left" says "ref$RUN_ID pw$RUN_ID-ref eth0" nft list ruleset
expect "no lease is left" no_leases "$DATA/ref$RUN_ID"
unset CAP_ARGS
expect "podwire-portmap with no prevResult is refused" cni_error 7 \
  cni_exec ADD "pw$RUN_ID-x" '{"cniVersion":"1.0.0","name":"x","type":"podwire-portmap"}' \
  "/var/run/netns/pw$RUN_ID-ref" podwire-portmap

finish
