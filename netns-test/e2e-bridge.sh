#!/usr/bin/env bash
# End-to-end: podwire as a runtime drives it (libcni), in throwaway network namespaces,
# next to the reference bridge and host-local plugins. Needs root.
source "$(dirname "$0")/lib.sh"

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

section "three pods on one bridge"
declare -A NS IP VETH
for pod in 1 2 3; do
  NS[$pod]=$(new_netns "p$pod")
  VETH[$pod]=$(host_veth_of "ctr$RUN_ID$pod" eth0)
  CNI_CONTAINERID="ctr$RUN_ID$pod" "$CNITOOL" add basic "${NS[$pod]}" > "$WORK/result$pod.json" 2>"$WORK/err$pod" \
    || fail "ADD pod $pod" "$(cat "$WORK/err$pod")"
  IP[$pod]=$(jq -r '.ips[0].address' "$WORK/result$pod.json" | cut -d/ -f1)
done
unique=$(printf '%s\n' "${IP[@]}" | sort -u | wc -l)
[[ $unique -eq 3 ]] && pass "three ADDs give three different IPs (${IP[*]})" \
  || fail "three ADDs give three different IPs" "${IP[*]}"
for pod in 1 2 3; do
  expect "pod $pod's IP ${IP[$pod]} is in $SUBNET" python3 -c \
    "import ipaddress,sys; sys.exit(ipaddress.ip_address('${IP[$pod]}') not in ipaddress.ip_network('$SUBNET'))"
  expect "pod $pod has eth0 with ${IP[$pod]}" bash -c \
    "ip -n ${NS[$pod]##*/} -o addr show dev eth0 | grep -q 'inet ${IP[$pod]}/24'"
  expect "pod $pod's default route goes via the gateway" bash -c \
    "ip -n ${NS[$pod]##*/} route show default | grep -q 'via $GATEWAY dev eth0'"
  expect "pod $pod's host veth ${VETH[$pod]} is on $BR" bash -c "ip -o link show ${VETH[$pod]} | grep -q 'master $BR'"
done
expect "pod 1 pings pod 2" ip netns exec "${NS[1]##*/}" ping -c1 -W2 "${IP[2]}"
expect "pod 2 pings pod 3" ip netns exec "${NS[2]##*/}" ping -c1 -W2 "${IP[3]}"
expect "pod 3 pings the gateway" ip netns exec "${NS[3]##*/}" ping -c1 -W2 "$GATEWAY"
expect "the result names bridge, host veth and pod interface" \
  bash -c "jq -e '.interfaces | map(.name) == [\"$BR\", \"${VETH[1]}\", \"eth0\"]' $WORK/result1.json"
expect "the bridge's MAC in the result is the bridge's MAC now" \
  bash -c "[[ \$(jq -r '.interfaces[0].mac' $WORK/result1.json) == \$(cat /sys/class/net/$BR/address) ]]"
expect "the host veth's MAC in the result is its MAC, unicast and locally administered" \
  bash -c \
    "mac=\$(jq -r '.interfaces[1].mac' $WORK/result1.json); [[ \$mac == \$(cat /sys/class/net/${VETH[1]}/address) ]] \
    && (( (0x\${mac:0:2} & 3) == 2 ))"
expect "the pod's eth0 MAC in the result is its MAC" \
  bash -c \
    "[[ \$(jq -r '.interfaces[2].mac' $WORK/result1.json) == \$(ip netns exec ${NS[1]##*/} cat \
    /sys/class/net/eth0/address) ]]"
expect "a lease file holds the container ID and ifname, reference format" \
  bash -c "[[ \$(cat $DATA/basic/${IP[1]} | od -An -c | tr -s ' ') == *'c t r'*'\\r \\n e t h 0'* ]]"

section "CHECK"
for pod in 1 2 3; do
  expect "CHECK passes for pod $pod" env CNI_CONTAINERID="ctr$RUN_ID$pod" "$CNITOOL" check basic "${NS[$pod]}"
done
ip -n "${NS[2]##*/}" addr flush dev eth0
refute "CHECK fails once pod 2 lost its address" env CNI_CONTAINERID="ctr${RUN_ID}2" "$CNITOOL" check basic "${NS[2]}"

section "DEL"
expect "DEL pod 1" env CNI_CONTAINERID="ctr${RUN_ID}1" "$CNITOOL" del basic "${NS[1]}"
refute "pod 1's host veth is gone" ip link show "${VETH[1]}"
refute "pod 1's eth0 is gone" ip -n "${NS[1]##*/}" link show eth0
refute "pod 1's lease is released" test -e "$DATA/basic/${IP[1]}"
expect "a second DEL of pod 1 succeeds" env CNI_CONTAINERID="ctr${RUN_ID}1" "$CNITOOL" del basic "${NS[1]}"
ip netns del "${NS[3]##*/}"
expect "DEL of pod 3 after its netns was deleted succeeds" env CNI_CONTAINERID="ctr${RUN_ID}3" "$CNITOOL" del basic \
  "${NS[3]}"
refute "pod 3's lease is released" test -e "$DATA/basic/${IP[3]}"
expect "pod 3's host veth is gone" bash -c \
  "for i in \$(seq 50); do ip link show ${VETH[3]} >/dev/null 2>&1 || exit 0; sleep 0.1; done; exit 1"
expect "DEL with an empty CNI_NETNS succeeds and releases pod 2" bash -c \
  "echo '$(jq -c '.plugins[0] + {cniVersion: .cniVersion, name: .name}' "$NETCONFPATH/basic.conflist")' \
   | CNI_COMMAND=DEL CNI_CONTAINERID=ctr${RUN_ID}2 CNI_NETNS= CNI_IFNAME=eth0 $PODWIRE \
   && ! test -e $DATA/basic/${IP[2]}"
refute "pod 2's host veth is gone" ip link show "${VETH[2]}"
expect "the network directory holds only lock and last_reserved_ip" bash -c \
  "[[ -z \"\$(ls $DATA/basic | grep -Ev '^(lock|last_reserved_ip\\..*)$')\" ]]"

section "DELs at once share one teardown"
# Each DEL moves its links into podwire's departing device group and deletes the group:
# whichever DEL's deletion runs first takes the links of all the others waiting.
declare -a MANY_NS MANY_VETH
for i in $(seq 8); do
  MANY_NS[$i]=$(new_netns "m$i")
  MANY_VETH[$i]=$(host_veth_of "many$RUN_ID$i" eth0)
  CNI_CONTAINERID="many$RUN_ID$i" "$CNITOOL" add basic "${MANY_NS[$i]}" >/dev/null 2>&1 || fail "ADD pod m$i"
done
for i in $(seq 8); do
  ( CNI_CONTAINERID="many$RUN_ID$i" "$CNITOOL" del basic "${MANY_NS[$i]}" >/dev/null 2>&1; echo $? > \
    "$WORK/many$i.status" ) &
done
wait
expect "8 DELs at once all exit 0" bash -c "[[ \$(cat $WORK/many*.status | sort -u) == 0 ]]"
expect "none of their host veths is left" bash -c "! ip -o link show | grep -qE '$(IFS='|'; echo "${MANY_VETH[*]}")'"
expect "none of their pods has eth0 left" bash -c \
  "for ns in ${MANY_NS[*]}; do ! ip -n \${ns##*/} link show eth0 >/dev/null 2>&1 || exit 1; done"
expect "no link waits in the departing group" bash -c "[[ -z \$(ip -o link show group $((0x70770de1))) ]]"
expect "their leases are released" bash -c "[[ -z \"\$(ls $DATA/basic | grep -Ev '^(lock|last_reserved_ip\\..*)$')\" ]]"

section "interop with the reference bridge and host-local on one dataDir"
mkdir -p "$WORK/ref-conf"
write_conflist shared "$(podwire_conf)"
jq '.plugins[0].type = "bridge"' "$NETCONFPATH/shared.conflist" > "$WORK/ref-conf/shared.conflist"
A=$(new_netns ia); B=$(new_netns ib); C=$(new_netns ic)
host_veth_of "ia$RUN_ID" eth0 >/dev/null; host_veth_of "ic$RUN_ID" eth0 >/dev/null
CNI_CONTAINERID="ia$RUN_ID" "$CNITOOL" add shared "$A" > "$WORK/ia.json" || fail "podwire ADD on the shared network"
NETCONFPATH="$WORK/ref-conf" CNI_CONTAINERID="ib$RUN_ID" "$CNITOOL" add shared "$B" > "$WORK/ib.json" \
  || fail "reference ADD on the shared network"
CNI_CONTAINERID="ic$RUN_ID" "$CNITOOL" add shared "$C" > "$WORK/ic.json" || fail "podwire ADD after the reference"
ipa=$(jq -r '.ips[0].address' "$WORK/ia.json"); ipb=$(jq -r '.ips[0].address' "$WORK/ib.json")
ipc=$(jq -r '.ips[0].address' "$WORK/ic.json")
[[ "$ipa" != "$ipb" && "$ipb" != "$ipc" && "$ipa" != "$ipc" ]] \
  && pass "reference host-local skips podwire's lease and podwire skips the reference's ($ipa, $ipb, $ipc)" \
  || fail "leases are shared both ways" "$ipa $ipb $ipc"
shape() { jq -c '[paths(scalars) | map(if type == "number" then "#" else . end) | join(".")] | unique' "$1"; }
[[ "$(shape "$WORK/ia.json")" == "$(shape "$WORK/ib.json")" ]] \
  && pass "podwire's result has the reference bridge's shape" \
  || fail "podwire's result has the reference bridge's shape" \
    "podwire $(shape "$WORK/ia.json") reference $(shape "$WORK/ib.json")"
expect "pod A (podwire) pings pod B (reference) on the shared bridge" ip netns exec "${A##*/}" ping -c1 -W2 "${ipb%/*}"
expect "podwire DEL on the shared network" env CNI_CONTAINERID="ia$RUN_ID" "$CNITOOL" del shared "$A"
expect "reference DEL on the shared network" env NETCONFPATH="$WORK/ref-conf" CNI_CONTAINERID="ib$RUN_ID" "$CNITOOL" \
  del shared "$B"
expect "podwire DEL of the last pod" env CNI_CONTAINERID="ic$RUN_ID" "$CNITOOL" del shared "$C"
expect "no lease is left on the shared network" bash -c \
  "[[ -z \"\$(ls $DATA/shared | grep -Ev '^(lock|last_reserved_ip\\..*)$')\" ]]"

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
  refute "ADD with $net fails" env CNI_CONTAINERID="f$net" "$CNITOOL" add "$net" "$F"
  refute "after $net no host veth is left" ip link show "$veth"
  refute "after $net no eth0 is left in the pod" ip -n "${F##*/}" link show eth0
done
expect "the failing IPAM delegate's error reaches the runtime with its code" bash -c \
  "echo '$(jq -c '.plugins[0] + {cniVersion: .cniVersion, name: .name}' "$NETCONFPATH/failipam.conflist")' \
   | CNI_COMMAND=ADD CNI_CONTAINERID=fx CNI_NETNS=$F CNI_IFNAME=eth0 $PODWIRE \
   | jq -e '.code == 11 and (.msg | contains(\"injected IPAM failure\"))'"
for net in badroute badroutedelegate; do
  expect "after $net no lease is left" bash -c \
    "[[ -z \"\$(ls $DATA/$net 2>/dev/null | grep -Ev '^(lock|last_reserved_ip\\..*)$')\" ]]"
done
E=$(new_netns e)
ip -n "${E##*/}" link add eth0 type veth peer name eth0peer
refute "ADD on an ifname that exists in the pod fails" env CNI_CONTAINERID="e$RUN_ID" "$CNITOOL" add basic "$E"
expect "the existing interface is left alone" bash -c "ip -n ${E##*/} link show eth0 | grep -q 'eth0@eth0peer'"
refute "and no host veth was made for it" ip link show "$(host_veth_of "e$RUN_ID" eth0)"

section "bridge keys: mtu, MAC, hairpin, vlan, promiscuous, IPv6"
K=$(new_netns k)
BR2=$(new_bridge_name b)
write_conflist keys "$(jq -nc --arg b "$BR2" --arg s "$SUBNET_BASE.0/24" --arg d "$WORK/data2" '
  [{type: "podwire", bridge: $b, mtu: 1400, hairpinMode: true, ipam: {type: "host-local", subnet: $s, dataDir: $d}}]')"
veth=$(host_veth_of "k$RUN_ID" eth0)
expect "ADD with mtu, MAC from CNI_ARGS and hairpin" env CNI_CONTAINERID="k$RUN_ID" \
  CNI_ARGS="IgnoreUnknown=1;MAC=0a:58:0a:0b:0c:0d" "$CNITOOL" add keys "$K"
expect "the pod interface has mtu 1400" bash -c "ip -n ${K##*/} link show eth0 | grep -q 'mtu 1400'"
expect "the pod interface has the MAC from CNI_ARGS" bash -c \
  "ip -n ${K##*/} link show eth0 | grep -q '0a:58:0a:0b:0c:0d'"
expect "the host veth is in hairpin mode" bash -c "[[ \$(cat /sys/class/net/$veth/brport/hairpin_mode) == 1 ]]"
expect "DEL of the hairpin pod" env CNI_CONTAINERID="k$RUN_ID" "$CNITOOL" del keys "$K"

BRV=$(new_bridge_name v)
write_conflist vlan "$(printf '[{"type":"podwire","bridge":"%s","vlan":42}]' "$BRV")"
veth=$(host_veth_of "v$RUN_ID" eth0)
probe=$(ip link add "pwp$RUN_ID" type bridge vlan_filtering 1 2>&1 && ip link del "pwp$RUN_ID")
if [[ -z "$probe" ]]; then
  expect "ADD with vlan 42" env CNI_CONTAINERID="v$RUN_ID" "$CNITOOL" add vlan "$K"
  expect "the bridge filters VLANs" bash -c "[[ \$(cat /sys/class/net/$BRV/bridge/vlan_filtering) == 1 ]]"
  expect "the host veth's PVID is vlan 42, untagged" bash -c \
    "bridge vlan show dev $veth | grep -E '42.*PVID.*(Egress Untagged|untagged)'"
  expect "DEL of the vlan pod" env CNI_CONTAINERID="v$RUN_ID" "$CNITOOL" del vlan "$K"
else
  skip "vlan 42 on the host veth" \
    "this kernel's bridge has no VLAN filtering: 'ip link add type bridge vlan_filtering 1' says: $probe"
  expect "ADD with vlan fails saying the kernel lacks VLAN filtering" bash -c \
    "! CNI_CONTAINERID=v$RUN_ID $CNITOOL add vlan $K >$WORK/vlan.out 2>&1 && grep -q CONFIG_BRIDGE_VLAN_FILTERING \
      $WORK/vlan.out"
  refute "and leaves no host veth" ip link show "$veth"
fi

BR3=$(new_bridge_name c)
write_conflist promisc "$(printf '[{"type":"podwire","bridge":"%s","promiscMode":true}]' "$BR3")"
P=$(new_netns pr)
expect "ADD without ipam attaches at layer 2 only" env CNI_CONTAINERID="pr$RUN_ID" "$CNITOOL" add promisc "$P"
expect "the bridge is promiscuous" bash -c "ip link show $BR3 | grep -q PROMISC"
expect "the layer-2 pod has no IPv4 address" bash -c "! ip -n ${P##*/} -4 addr show dev eth0 | grep -q inet"
expect "DEL of the layer-2 pod" env CNI_CONTAINERID="pr$RUN_ID" "$CNITOOL" del promisc "$P"
BR4=$(new_bridge_name d)
write_conflist v6 "$(jq -nc --arg b "$BR4" --arg s "$SUBNET6_BASE::/64" --arg d "$DATA" '
  [{type: "podwire", bridge: $b, isGateway: true, isDefaultGateway: true,
    ipam: {type: "host-local", subnet: $s, dataDir: $d}}]')"
S1=$(new_netns s1); S2=$(new_netns s2)
host_veth_of "s1$RUN_ID" eth0 >/dev/null; host_veth_of "s2$RUN_ID" eth0 >/dev/null
CNI_CONTAINERID="s1$RUN_ID" "$CNITOOL" add v6 "$S1" > "$WORK/s1.json" || fail "IPv6 ADD pod 1"
start=$(date +%s%N)
CNI_CONTAINERID="s2$RUN_ID" "$CNITOOL" add v6 "$S2" > "$WORK/s2.json" || fail "IPv6 ADD pod 2"
v6a=$(jq -r '.ips[0].address' "$WORK/s1.json"); v6b=$(jq -r '.ips[0].address' "$WORK/s2.json")
expect "IPv6 pods get $SUBNET6_BASE::2 and ::3" bash -c \
  "[[ $v6a == $SUBNET6_BASE::2/64 && $v6b == $SUBNET6_BASE::3/64 ]]"
expect "the IPv6 address is not tentative: no DAD wait" bash -c \
  "! ip -n ${S2##*/} -6 addr show dev eth0 | grep $SUBNET6_BASE | grep -q tentative"
expect "IPv6 pod 2 pings pod 1 right after ADD" ip netns exec "${S2##*/}" ping -6 -c1 -W2 "${v6a%/*}"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect "IPv6 ADD and first ping took ${elapsed} ms (under 1000)" test "$elapsed" -lt 1000
expect "IPv6 pod 1 reaches its gateway" ip netns exec "${S1##*/}" ping -6 -c1 -W2 "$SUBNET6_BASE::1"
for pod in s1 s2; do expect "IPv6 DEL $pod" env CNI_CONTAINERID="$pod$RUN_ID" "$CNITOOL" del v6 \
  "/var/run/netns/pw$RUN_ID-$pod"; done

section "bad input: a CNI error with the right code, a non-zero exit, nothing left behind"
BAD_DATA="$WORK/data-bad"
BADNS=$(new_netns bad)
touch "$WORK/regular-file"; mkdir -p "$WORK/a-directory"
bad_conf() { # bad_conf EXTRA_KEYS [IPAM_JSON]
  printf '{"cniVersion":"1.0.0","name":"badnet","type":"podwire","bridge":"%s"%s,"ipam":%s}' \
    "$BR" "${1:-}" "${2:-{\"type\":\"host-local\",\"subnet\":\"$SUBNET_BASE.0/24\",\"dataDir\":\"$BAD_DATA\"\}}"
}
# bad CODE DESCRIPTION STDIN ENV...: runs ADD (unless CNI_COMMAND is given) and checks all of it.
bad() {
  local want=$1 what=$2 input=$3; shift 3
  local out status id
  id=bad$RANDOM
  out=$(printf '%s' "$input" | env CNI_COMMAND=ADD CNI_CONTAINERID=$id CNI_NETNS="$BADNS" CNI_IFNAME=eth0 \
    CNI_PATH="$CNI_PATH" "$@" "$PODWIRE" 2>/dev/null)
  status=$?
  local code msg
  code=$(echo "$out" | jq -r '.code' 2>/dev/null); msg=$(echo "$out" | jq -r '.msg' 2>/dev/null)
  if [[ $status -ne 0 && "$code" == "$want" && -n "$msg" ]] \
     && ! ip link show "$(host_veth_of "$id" eth0)" >/dev/null 2>&1 \
     && ! ip -n "${BADNS##*/}" link show eth0 >/dev/null 2>&1 \
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
expect "podwire --version prints its version and the CNI versions on stdout, and exits 0" \
  bash -c "out=\$($PODWIRE --version) && grep -q '^podwire [0-9.]*:' <<< \"\$out\" && grep -q '1.1.0' <<< \"\$out\""
expect "podwire-portmap --version names itself" bash -c \
  "$WORK/bin/podwire-portmap --version | grep -q '^podwire-portmap '"
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
evil="$(realpath -m "$BAD_DATA/../../tmp/evil") $(realpath -m "$BAD_DATA/.podwire.../../tmp/evil")"
refute "nothing was written outside the store for the ../ network name ($evil)" \
  bash -c "for path in $evil; do test -e \$path && exit 0; done; exit 1"

section "STATUS and GC (CNI 1.1.0)"
status_conf() {
  jq -nc --arg b "$BR" --arg s "$SUBNET_BASE.0/24" --arg d "$1" \
    '{cniVersion: "1.1.0", name: "gcnet", type: "podwire", bridge: $b,
      ipam: {type: "host-local", subnet: $s, dataDir: $d}}'
}
expect "STATUS with a usable store exits 0 and prints nothing" \
  bash -c "out=\$(echo '$(status_conf "$WORK/gcdata")' | CNI_COMMAND=STATUS $PODWIRE) && [[ -z \$out ]]"
expect "STATUS with a store that cannot be created is code 50" bash -c \
  "echo '$(status_conf /proc/podwire-cannot-exist)' | CNI_COMMAND=STATUS $PODWIRE | jq -e '.code == 50'"
G=$(new_netns g)
for id in g1 g2 g3; do
  host_veth_of "$id$RUN_ID" eth0 >/dev/null
  status_conf "$WORK/gcdata" | CNI_COMMAND=ADD CNI_CONTAINERID="$id$RUN_ID" CNI_NETNS="$G" CNI_IFNAME="eth$id" \
    CNI_PATH="$CNI_PATH" "$PODWIRE" >/dev/null \
    || fail "ADD $id for GC"
done
expect "three leases before GC" bash -c "[[ \$(ls $WORK/gcdata/gcnet | grep -c '^10\.') == 3 ]]"
gc_input=$(status_conf "$WORK/gcdata" | jq -c --arg a "g1$RUN_ID" --arg c "g3$RUN_ID" \
  '. + {"cni.dev/valid-attachments": [{containerID: $a, ifname: "ethg1"}, {containerID: $c, ifname: "ethg3"}]}')
expect "GC exits 0" bash -c "echo '$gc_input' | CNI_COMMAND=GC CNI_PATH=$CNI_PATH $PODWIRE"
expect "GC removed the host veth of the attachment not listed, and only that one" bash -c \
  "! ip link show $(host_veth_of "g2$RUN_ID" ethg2) 2>/dev/null && ip link show $(host_veth_of "g1$RUN_ID" ethg1) \
    >/dev/null && ip link show $(host_veth_of "g3$RUN_ID" ethg3) >/dev/null"
expect "GC released exactly the lease not listed" bash -c \
  "[[ \$(grep -l g2$RUN_ID $WORK/gcdata/gcnet/10.* 2>/dev/null | wc -l) == 0 && \$(ls $WORK/gcdata/gcnet | grep -c \
    '^10\.') == 2 ]]"
refute "GC without an attachment list is refused, not a release of everything" bash -c \
  "echo '$(status_conf "$WORK/gcdata")' | CNI_COMMAND=GC $PODWIRE"
for id in g1 g2 g3; do
  status_conf "$WORK/gcdata" | CNI_COMMAND=DEL CNI_CONTAINERID="$id$RUN_ID" CNI_NETNS="$G" CNI_IFNAME="eth$id" \
    "$PODWIRE" >/dev/null || fail "DEL $id"
done
expect "after DEL no lease is left" bash -c "[[ -z \"\$(ls $WORK/gcdata/gcnet | grep '^10\.')\" ]]"

finish
