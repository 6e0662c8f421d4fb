#!/usr/bin/env bash
# End-to-end: podwire as a runtime drives it (libcni), in throwaway network namespaces,
# next to the reference bridge and host-local plugins. Needs root.
source "$(dirname "$0")/../lib/lib.sh"

BR=$(new_bridge_name a)
SUBNET="$SUBNET_BASE.0/24"
GATEWAY="$SUBNET_BASE.1"
DATA="$WORK/data"
podwire_conf() { # podwire_conf EXTRA_BRIDGE_KEYS EXTRA_IPAM_KEYS
  local format='[{"type":"podwire","bridge":"%s","isGateway":true,"isDefaultGateway":true%s,'
  format+='"ipam":{"type":"host-local","subnet":"%s","dataDir":"%s"%s}}]'
  # shellcheck disable=SC2059
  printf "$format" "$BR" "${1:-}" "$SUBNET" "$DATA" "${2:-}"
}
write_conflist basic "$(podwire_conf)"

in_subnet() { # in_subnet ADDRESS NETWORK
  python3 -c "import ipaddress,sys; sys.exit(ipaddress.ip_address('$1') not in ipaddress.ip_network('$2'))"
}
locally_administered() { (( (0x${1:0:2} & 3) == 2 )) || { echo "$1 is not unicast and locally administered"; false; }; }
pod_mac() { ip netns exec "$1" cat /sys/class/net/eth0/address; }

section "three pods on one bridge"
declare -A NS IP VETH
for pod in 1 2 3; do
  NS[$pod]=$(new_netns "p$pod")
  VETH[$pod]=$(host_veth_of "ctr$RUN_ID$pod" eth0)
  runtime_exec add basic "ctr$RUN_ID$pod" "${NS[$pod]}" > "$WORK/result$pod.json" 2>"$WORK/err$pod" \
    || fail "ADD pod $pod" "$(cat "$WORK/err$pod")"
  IP[$pod]=$(jq -r '.ips[0].address' "$WORK/result$pod.json" | cut -d/ -f1)
done
expect "three ADDs give three different IPs (${IP[*]})" all_different "${IP[@]}"
for pod in 1 2 3; do
  ns=$(netns_name "${NS[$pod]}")
  expect "pod $pod's IP ${IP[$pod]} is in $SUBNET" in_subnet "${IP[$pod]}" "$SUBNET"
  expect "pod $pod has eth0 with ${IP[$pod]}" address_shows "$ns" eth0 "inet ${IP[$pod]}/24"
  expect "pod $pod's default route goes via the gateway" route_shows "$ns" "via $GATEWAY dev eth0" default
  expect "pod $pod's host veth ${VETH[$pod]} is on $BR" link_shows "${VETH[$pod]}" "master $BR"
done
expect "pod 1 pings pod 2" ip netns exec "$(netns_name "${NS[1]}")" ping -c1 -W2 "${IP[2]}"
expect "pod 2 pings pod 3" ip netns exec "$(netns_name "${NS[2]}")" ping -c1 -W2 "${IP[3]}"
expect "pod 3 pings the gateway" ip netns exec "$(netns_name "${NS[3]}")" ping -c1 -W2 "$GATEWAY"
expect "the result names bridge, host veth and pod interface" \
  json "$WORK/result1.json" ".interfaces | map(.name) == [\"$BR\", \"${VETH[1]}\", \"eth0\"]"
expect "the bridge's MAC in the result is the bridge's MAC now" \
  is "$(jq -r '.interfaces[0].mac' "$WORK/result1.json")" "$(cat "/sys/class/net/$BR/address")"
host_mac=$(jq -r '.interfaces[1].mac' "$WORK/result1.json")
expect "the host veth's MAC in the result is its MAC" is "$host_mac" "$(cat "/sys/class/net/${VETH[1]}/address")"
expect "  unicast and locally administered" locally_administered "$host_mac"
expect "the pod's eth0 MAC in the result is its MAC" \
  is "$(jq -r '.interfaces[2].mac' "$WORK/result1.json")" "$(pod_mac "$(netns_name "${NS[1]}")")"
expect "a lease file holds the container ID and ifname, reference format" \
  is "$(cat "$DATA/basic/${IP[1]}")" "$(printf 'ctr%s1\r\neth0' "$RUN_ID")"

section "CHECK"
for pod in 1 2 3; do
  expect "CHECK passes for pod $pod" runtime_exec check basic "ctr$RUN_ID$pod" "${NS[$pod]}"
done
ip -n "$(netns_name "${NS[2]}")" addr flush dev eth0
refute "CHECK fails once pod 2 lost its address" runtime_exec check basic "ctr${RUN_ID}2" "${NS[2]}"

section "DEL"
expect "DEL pod 1" runtime_exec del basic "ctr${RUN_ID}1" "${NS[1]}"
refute "pod 1's host veth is gone" ip link show "${VETH[1]}"
refute "pod 1's eth0 is gone" ip -n "$(netns_name "${NS[1]}")" link show eth0
refute "pod 1's lease is released" test -e "$DATA/basic/${IP[1]}"
expect "a second DEL of pod 1 succeeds" runtime_exec del basic "ctr${RUN_ID}1" "${NS[1]}"
ip netns del "$(netns_name "${NS[3]}")"
expect "DEL of pod 3 after its netns was deleted succeeds" runtime_exec del basic "ctr${RUN_ID}3" "${NS[3]}"
refute "pod 3's lease is released" test -e "$DATA/basic/${IP[3]}"
expect "pod 3's host veth is gone" eventually 5 lacks_link "${VETH[3]}"
expect "DEL with an empty CNI_NETNS succeeds" \
  cni_exec DEL "ctr${RUN_ID}2" "$(single_config "$NETCONFPATH/basic.conflist")" ""
refute "  and releases pod 2" test -e "$DATA/basic/${IP[2]}"
refute "pod 2's host veth is gone" ip link show "${VETH[2]}"
expect "the network directory holds only lock and last_reserved_ip" no_leases "$DATA/basic"

section "DELs at once share one teardown"
# Each DEL moves its links into podwire's departing device group and deletes the group:
# whichever DEL's deletion runs first takes the links of all the others waiting.
declare -a MANY_NS MANY_VETH
for i in $(seq 8); do
  MANY_NS[$i]=$(new_netns "m$i")
  MANY_VETH[$i]=$(host_veth_of "many$RUN_ID$i" eth0)
  runtime_exec add basic "many$RUN_ID$i" "${MANY_NS[$i]}" >/dev/null 2>&1 || fail "ADD pod m$i"
done
for i in $(seq 8); do
  ( runtime_exec del basic "many$RUN_ID$i" "${MANY_NS[$i]}" >/dev/null 2>&1; echo $? > "$WORK/many$i.status" ) &
done
wait
expect "8 DELs at once all exit 0" all_same 0 $(cat "$WORK"/many*.status)
none_left() { # none_left: no host veth of the 8, no eth0 in their pods
  local i
  for i in $(seq 8); do
    lacks_link "${MANY_VETH[$i]}" && lacks_link eth0 "$(netns_name "${MANY_NS[$i]}")" || return 1
  done
}
expect "none of their host veths nor their pods' eth0 is left" none_left
expect "no link waits in the departing group" prints_nothing ip -o link show group $((0x70770de1))
expect "their leases are released" no_leases "$DATA/basic"

section "interop with the reference bridge and host-local on one dataDir"
mkdir -p "$WORK/ref-conf"
write_conflist shared "$(podwire_conf)"
jq '.plugins[0].type = "bridge"' "$NETCONFPATH/shared.conflist" > "$WORK/ref-conf/shared.conflist"
A=$(new_netns ia); B=$(new_netns ib); C=$(new_netns ic)
host_veth_of "ia$RUN_ID" eth0 >/dev/null; host_veth_of "ic$RUN_ID" eth0 >/dev/null
runtime_exec add shared "ia$RUN_ID" "$A" > "$WORK/ia.json" || fail "podwire ADD on the shared network"
NETCONFPATH="$WORK/ref-conf" runtime_exec add shared "ib$RUN_ID" "$B" > "$WORK/ib.json" \
  || fail "reference ADD on the shared network"
runtime_exec add shared "ic$RUN_ID" "$C" > "$WORK/ic.json" || fail "podwire ADD after the reference"
ipa=$(jq -r '.ips[0].address' "$WORK/ia.json"); ipb=$(jq -r '.ips[0].address' "$WORK/ib.json")
ipc=$(jq -r '.ips[0].address' "$WORK/ic.json")
expect "reference host-local skips podwire's lease and podwire skips the reference's ($ipa, $ipb, $ipc)" \
  all_different "$ipa" "$ipb" "$ipc"
shape() { jq -c '[paths(scalars) | map(if type == "number" then "#" else . end) | join(".")] | unique' "$1"; }
expect "podwire's result has the reference bridge's shape" is "$(shape "$WORK/ia.json")" "$(shape "$WORK/ib.json")"
expect "pod A (podwire) pings pod B (reference) on the shared bridge" \
  ip netns exec "$(netns_name "$A")" ping -c1 -W2 "${ipb%/*}"
expect "podwire DEL on the shared network" runtime_exec del shared "ia$RUN_ID" "$A"
reference_exec() { NETCONFPATH="$WORK/ref-conf" runtime_exec "$@"; }
expect "reference DEL on the shared network" reference_exec del shared "ib$RUN_ID" "$B"
expect "podwire DEL of the last pod" runtime_exec del shared "ic$RUN_ID" "$C"
expect "no lease is left on the shared network" no_leases "$DATA/shared"

section "failures roll back"
printf \
  '#!/bin/sh\ncat >/dev/null\necho '"'"'{"cniVersion":"1.0.0","code":11,"msg":"injected IPAM failure"}'"'"'\nexit 1\n' \
  > "$WORK/bin/failing-ipam"
chmod +x "$WORK/bin/failing-ipam"
ln -s "$REFERENCE_DIR/host-local" "$WORK/bin/delegated-host-local"
write_conflist failipam "$(printf '[{"type":"podwire","bridge":"%s","ipam":{"type":"failing-ipam"}}]' "$BR")"
write_conflist badroute "$(podwire_conf '' ',"routes":[{"dst":"192.0.2.0/24","gw":"198.51.100.1"}]')"
write_conflist badroutedelegate "$(podwire_conf '' ',"routes":[{"dst":"192.0.2.0/24","gw":"198.51.100.1"}]' \
  | sed 's/"type":"host-local"/"type":"delegated-host-local"/')"
F=$(new_netns f)
for net in failipam badroute badroutedelegate; do
  veth=$(host_veth_of "f$net" eth0)
  refute "ADD with $net fails" runtime_exec add "$net" "f$net" "$F"
  refute "after $net no host veth is left" ip link show "$veth"
  refute "after $net no eth0 is left in the pod" ip -n "$(netns_name "$F")" link show eth0
done
injected() { cni_exec ADD fx "$(single_config "$NETCONFPATH/failipam.conflist")" "$F"; }
expect "the failing IPAM delegate's error reaches the runtime with its code" cni_error 11 injected
expect "  and its message" says "injected IPAM failure" injected
for net in badroute badroutedelegate; do
  expect "after $net no lease is left" no_leases "$DATA/$net"
done
E=$(new_netns e)
ip -n "$(netns_name "$E")" link add eth0 type veth peer name eth0peer
refute "ADD on an ifname that exists in the pod fails" runtime_exec add basic "e$RUN_ID" "$E"
expect "the existing interface is left alone" link_shows eth0 "eth0@eth0peer" "$(netns_name "$E")"
refute "and no host veth was made for it" ip link show "$(host_veth_of "e$RUN_ID" eth0)"

section "bridge keys: mtu, MAC, hairpin, vlan, promiscuous, IPv6"
K=$(new_netns k)
BR2=$(new_bridge_name b)
write_conflist keys "$(jq -nc --arg b "$BR2" --arg s "$SUBNET_BASE.0/24" --arg d "$WORK/data2" '
  [{type: "podwire", bridge: $b, mtu: 1400, hairpinMode: true, ipam: {type: "host-local", subnet: $s, dataDir: $d}}]')"
veth=$(host_veth_of "k$RUN_ID" eth0)
add_with_mac() { CNI_ARGS="IgnoreUnknown=1;MAC=0a:58:0a:0b:0c:0d" runtime_exec add keys "k$RUN_ID" "$K"; }
expect "ADD with mtu, MAC from CNI_ARGS and hairpin" add_with_mac
expect "the pod interface has mtu 1400" link_shows eth0 "mtu 1400" "$(netns_name "$K")"
expect "the pod interface has the MAC from CNI_ARGS" link_shows eth0 "0a:58:0a:0b:0c:0d" "$(netns_name "$K")"
expect "the host veth is in hairpin mode" sysfs_is "$veth/brport/hairpin_mode" 1
expect "DEL of the hairpin pod" runtime_exec del keys "k$RUN_ID" "$K"

BRV=$(new_bridge_name v)
write_conflist vlan "$(printf '[{"type":"podwire","bridge":"%s","vlan":42}]' "$BRV")"
veth=$(host_veth_of "v$RUN_ID" eth0)
probe=$(ip link add "pwp$RUN_ID" type bridge vlan_filtering 1 2>&1 && ip link del "pwp$RUN_ID")
if [[ -z "$probe" ]]; then
  expect "ADD with vlan 42" runtime_exec add vlan "v$RUN_ID" "$K"
  expect "the bridge filters VLANs" sysfs_is "$BRV/bridge/vlan_filtering" 1
  expect "the host veth's PVID is vlan 42, untagged" \
    says "42.*PVID.*(Egress Untagged|untagged)" bridge vlan show dev "$veth"
  expect "DEL of the vlan pod" runtime_exec del vlan "v$RUN_ID" "$K"
else
  skip "vlan 42 on the host veth" \
    "this kernel's bridge has no VLAN filtering: 'ip link add type bridge vlan_filtering 1' says: $probe"
  refute "ADD with vlan fails" runtime_exec add vlan "v$RUN_ID" "$K"
  expect "  saying the kernel lacks VLAN filtering" \
    says CONFIG_BRIDGE_VLAN_FILTERING runtime_exec add vlan "v$RUN_ID" "$K"
  refute "and leaves no host veth" ip link show "$veth"
fi

BR3=$(new_bridge_name c)
write_conflist promisc "$(printf '[{"type":"podwire","bridge":"%s","promiscMode":true}]' "$BR3")"
P=$(new_netns pr)
expect "ADD without ipam attaches at layer 2 only" runtime_exec add promisc "pr$RUN_ID" "$P"
expect "the bridge is promiscuous" link_shows "$BR3" PROMISC
expect "the layer-2 pod has no IPv4 address" prints_nothing ip -n "$(netns_name "$P")" -4 addr show dev eth0
expect "DEL of the layer-2 pod" runtime_exec del promisc "pr$RUN_ID" "$P"
BR4=$(new_bridge_name d)
write_conflist v6 "$(jq -nc --arg b "$BR4" --arg s "$SUBNET6_BASE::/64" --arg d "$DATA" '
  [{type: "podwire", bridge: $b, isGateway: true, isDefaultGateway: true,
    ipam: {type: "host-local", subnet: $s, dataDir: $d}}]')"
S1=$(new_netns s1); S2=$(new_netns s2)
host_veth_of "s1$RUN_ID" eth0 >/dev/null; host_veth_of "s2$RUN_ID" eth0 >/dev/null
runtime_exec add v6 "s1$RUN_ID" "$S1" > "$WORK/s1.json" || fail "IPv6 ADD pod 1"
start=$(date +%s%N)
runtime_exec add v6 "s2$RUN_ID" "$S2" > "$WORK/s2.json" || fail "IPv6 ADD pod 2"
v6a=$(jq -r '.ips[0].address' "$WORK/s1.json"); v6b=$(jq -r '.ips[0].address' "$WORK/s2.json")
expect "IPv6 pods get $SUBNET6_BASE::2 and ::3" is "$v6a $v6b" "$SUBNET6_BASE::2/64 $SUBNET6_BASE::3/64"
refute "the IPv6 address is not tentative: no DAD wait" \
  address_shows "$(netns_name "$S2")" eth0 "$SUBNET6_BASE.*tentative"
expect "IPv6 pod 2 pings pod 1 right after ADD" ip netns exec "$(netns_name "$S2")" ping -6 -c1 -W2 "${v6a%/*}"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect "IPv6 ADD and first ping took ${elapsed} ms (under 1000)" test "$elapsed" -lt 1000
expect "IPv6 pod 1 reaches its gateway" ip netns exec "$(netns_name "$S1")" ping -6 -c1 -W2 "$SUBNET6_BASE::1"
for pod in s1 s2; do
  expect "IPv6 DEL $pod" runtime_exec del v6 "$pod$RUN_ID" "/var/run/netns/pw$RUN_ID-$pod"
done

section "bad input: a CNI error with the right code, a non-zero exit, nothing left behind"
BAD_DATA="$WORK/data-bad"
BADNS=$(new_netns bad)
touch "$WORK/regular-file"; mkdir -p "$WORK/a-directory"
bad_conf() { # bad_conf EXTRA_KEYS [IPAM_JSON]
  printf '{"cniVersion":"1.0.0","name":"badnet","type":"podwire","bridge":"%s"%s,"ipam":%s}' \
    "$BR" "${1:-}" "${2:-{\"type\":\"host-local\",\"subnet\":\"$SUBNET_BASE.0/24\",\"dataDir\":\"$BAD_DATA\"\}}"
}
# bad CODE DESCRIPTION STDIN [VARIABLE=VALUE...]: an ADD (or the CNI_COMMAND given) of a pod of
# its own in BADNS, with the CNI_* variables changed as given, fails with CODE and leaves nothing.
bad() {
  local want=$1 what=$2 input=$3; shift 3
  local command=ADD id=bad$RANDOM netns=$BADNS ifname=eth0 args="" change out status
  for change in "$@"; do
    case $change in
      CNI_COMMAND=*) command=${change#*=} ;;
      CNI_CONTAINERID=*) id=${change#*=} ;;
      CNI_NETNS=*) netns=${change#*=} ;;
      CNI_IFNAME=*) ifname=${change#*=} ;;
      CNI_ARGS=*) args=${change#*=} ;;
    esac
  done
  out=$(IFNAME=$ifname CNI_ARGS=$args cni_exec "$command" "$id" "$input" "$netns" 2>/dev/null)
  status=$?
  local code msg
  code=$(jq -r '.code' <<< "$out" 2>/dev/null); msg=$(jq -r '.msg' <<< "$out" 2>/dev/null)
  if [[ $status -ne 0 && "$code" == "$want" && -n "$msg" ]] \
     && ! ip link show "$(host_veth_of "$id" eth0)" >/dev/null 2>&1 \
     && ! ip -n "$(netns_name "$BADNS")" link show eth0 >/dev/null 2>&1 \
     && [[ -z "$(leases_in "$BAD_DATA/badnet")" ]]; then
    pass "$what: code $want ($msg)"
  else
    fail "$what" "exit $status, output: $out"
  fi
}
bad 3 "CNI_NETNS that does not exist" "$(bad_conf)" CNI_NETNS=/var/run/netns/pw-no-such-netns
bad 4 "CNI_NETNS that is a regular file" "$(bad_conf)" CNI_NETNS="$WORK/regular-file"
bad 4 "CNI_NETNS that is a directory" "$(bad_conf)" CNI_NETNS="$WORK/a-directory"
bad 4 "CNI_NETNS that is a UTS namespace" "$(bad_conf)" CNI_NETNS=/proc/self/ns/uts
bad 4 "no CNI_IFNAME" "$(bad_conf)" CNI_IFNAME=
bad 4 "an ifname of 16 bytes" "$(bad_conf)" CNI_IFNAME=abcdefghijklmnop
bad 4 "an ifname with /" "$(bad_conf)" CNI_IFNAME=eth/0
bad 4 "a container ID with ../" "$(bad_conf)" CNI_CONTAINERID=../../etc
bad 4 "an unknown CNI_ARGS key without IgnoreUnknown" "$(bad_conf)" CNI_ARGS=FOO=bar
bad 4 "an unknown CNI_COMMAND" "$(bad_conf)" CNI_COMMAND=EXPLODE
expect "podwire --version prints its version on stdout, and exits 0" says '^podwire [0-9.]*:' "$PODWIRE" --version
expect "  and the CNI versions" says '1\.1\.0' "$PODWIRE" --version
expect "podwire-portmap --version names itself" says '^podwire-portmap ' "$WORK/bin/podwire-portmap" --version
bad 6 "empty stdin" ""
bad 6 "truncated JSON" '{"cniVersion":"1.0.0","name":"badnet","type":"podw'
bad 6 "mtu given as a string" "$(bad_conf ',"mtu":"1500"')"
bad 1 "cniVersion 0.2.0" "$(bad_conf | jq -c '.cniVersion = "0.2.0"')"
bad 1 "CHECK with cniVersion 0.3.1" "$(bad_conf | jq -c '.cniVersion = "0.3.1"')" CNI_COMMAND=CHECK
bad 7 "hairpinMode with promiscMode" "$(bad_conf ',"hairpinMode":true,"promiscMode":true')"
bad 7 "a network name with ../" "$(bad_conf | jq -c '.name = "../../tmp/evil"')"
bad 7 "a subnet with host bits set" \
  "$(bad_conf '' '{"type":"host-local","subnet":"10.1.2.3/24","dataDir":"'"$BAD_DATA"'"}')"
bad 7 "overlapping ranges" \
  "$(bad_conf '' '{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/16"},{"subnet":"10.1.2.0/24"}]],
     "dataDir":"'"$BAD_DATA"'"}')"
bad 7 "an IPv4 gateway in an IPv6 range" \
  "$(bad_conf '' '{"type":"host-local","ranges":[[{"subnet":"fd00::/64","gateway":"10.0.0.1"}]],
     "dataDir":"'"$BAD_DATA"'"}')"
bad 7 "an ipam type that is not in CNI_PATH" "$(bad_conf '' '{"type":"no-such-ipam"}')"
bad 7 "a vlanTrunk minID without its maxID" "$(bad_conf ',"vlanTrunk":[{"minID":101}]')"
# Where the store and its index would be for that name, resolved.
for path in "$(realpath -m "$BAD_DATA/../../tmp/evil")" "$(realpath -m "$BAD_DATA/.podwire.../../tmp/evil")"; do
  refute "nothing was written outside the store for the ../ network name ($path)" test -e "$path"
done

section "STATUS and GC (CNI 1.1.0)"
status_conf() {
  jq -nc --arg b "$BR" --arg s "$SUBNET_BASE.0/24" --arg d "$1" \
    '{cniVersion: "1.1.0", name: "gcnet", type: "podwire", bridge: $b,
      ipam: {type: "host-local", subnet: $s, dataDir: $d}}'
}
expect "STATUS with a usable store exits 0 and prints nothing" \
  prints_nothing cni_exec STATUS "" "$(status_conf "$WORK/gcdata")"
expect "STATUS with a store that cannot be created is code 50" \
  cni_error 50 cni_exec STATUS "" "$(status_conf /proc/podwire-cannot-exist)"
G=$(new_netns g)
for id in g1 g2 g3; do
  host_veth_of "$id$RUN_ID" "eth$id" >/dev/null
  IFNAME="eth$id" cni_exec ADD "$id$RUN_ID" "$(status_conf "$WORK/gcdata")" "$G" >/dev/null || fail "ADD $id for GC"
done
expect "three leases before GC" lease_count "$WORK/gcdata/gcnet" 3
gc_input=$(status_conf "$WORK/gcdata" | jq -c --arg a "g1$RUN_ID" --arg c "g3$RUN_ID" \
  '. + {"cni.dev/valid-attachments": [{containerID: $a, ifname: "ethg1"}, {containerID: $c, ifname: "ethg3"}]}')
expect "GC exits 0" cni_exec GC "" "$gc_input"
expect "GC removed the host veth of the attachment not listed" lacks_link "$(host_veth_of "g2$RUN_ID" ethg2)"
expect "  and only that one" has_link "$(host_veth_of "g1$RUN_ID" ethg1)"
expect "  (the third is there too)" has_link "$(host_veth_of "g3$RUN_ID" ethg3)"
expect "GC released exactly the lease not listed" lease_count "$WORK/gcdata/gcnet" 2
refute "  which was g2's" grep -l "g2$RUN_ID" -r "$WORK/gcdata/gcnet" --include='10.*'
refute "GC without an attachment list is refused, not a release of everything" \
  cni_exec GC "" "$(status_conf "$WORK/gcdata")"
for id in g1 g2 g3; do
  IFNAME="eth$id" cni_exec DEL "$id$RUN_ID" "$(status_conf "$WORK/gcdata")" "$G" >/dev/null || fail "DEL $id"
done
expect "after DEL no lease is left" no_leases "$WORK/gcdata/gcnet"

finish
