#!/usr/bin/env bash
# Regressions found by reading the code from outside: each section reproduces one bug (it
# failed before the fix) and checks what an operator relies on instead.
source "$(dirname "$0")/../lib/lib.sh"

DATA="$WORK/data"

# conf NAME BRIDGE BRIDGE_KEYS IPAM_KEYS: a single-plugin podwire config.
conf() {
  printf '{"cniVersion":"1.1.0","name":"%s","type":"podwire","bridge":"%s"%s,' "$1" "$2" "$3"
  printf '"ipam":{"type":"host-local","dataDir":"%s"%s}}' "$DATA" "$4"
}
# with_valid CONFIG ID...: the config with the GC's list of valid attachments (ifname eth0).
with_valid() {
  local config=$1; shift
  jq -c --args '. + {"cni.dev/valid-attachments": [$ARGS.positional[] | {containerID: ., ifname: "eth0"}]}' "$@" \
    <<< "$config"
}
with_prev() { jq -c --slurpfile prev "$2" '. + {prevResult: $prev[0]}' <<< "$1"; }
ip_in() { jq -r '.ips[0].address' "$1" | cut -d/ -f1; }
# pod NAME -> a netns for it; its container ID is its netns name, its host end is recorded.
pod() {
  local path
  path=$(new_netns "$1")
  host_veth_of "$(netns_name "$path")" eth0 >/dev/null
  echo "$path"
}
no_element_naming() { ! nft list table "$1" podwire 2>/dev/null | grep -qF -- "$2"; }  # FAMILY TEXT

section "DEL and GC read only what they need: pods outlive a config that ADD would refuse"
NET3=del$RUN_ID
printf 'nameserver 192.0.2.53\n' > "$WORK/resolv.conf"
C3=$(conf "$NET3" "$(new_bridge_name d)" ',"isDefaultGateway":true,"ipMasq":true' \
  ",\"subnet\":\"$SUBNET_BASE.0/27\",\"resolvConf\":\"$WORK/resolv.conf\"")
P3=$(pod d1); ID3=$(netns_name "$P3"); V3=$(host_veth_of "$ID3" eth0)
cni_exec ADD "$ID3" "$C3" "$P3" > "$WORK/d1.json" || fail "ADD d1" "$(cat "$WORK/d1.json")"
IP3=$(ip_in "$WORK/d1.json")
rm "$WORK/resolv.conf"
expect "DEL succeeds after the resolvConf file is gone" cni_exec DEL "$ID3" "$C3" "$P3"
refute "d1's host end is gone" ip link show "$V3"
refute "d1's lease is released" test -e "$DATA/$NET3/$IP3"
printf 'nameserver 192.0.2.53\n' > "$WORK/resolv.conf"
cni_exec ADD "$ID3" "$C3" "$P3" > "$WORK/d1.json" || fail "ADD d1 again" "$(cat "$WORK/d1.json")"
IP3=$(ip_in "$WORK/d1.json")
# Keys ADD refuses or would act on, added to the config after the pod was made.
LATER=$(jq -c '. + {mtu: 5, hairpinMode: true, promiscMode: true, vlan: 5000, macspoofchk: true,
  vlanTrunk: [{id: 5}], portIsolation: true, disableContainerInterface: true, ipMasqBackend: "pf",
  prevResult: {ips: "no"}} | .ipam.ranges = "no"' <<< "$C3")
refute "ADD refuses that config" cni_exec ADD "other$RUN_ID" "$LATER" "$P3"
expect "DEL succeeds with keys added later that ADD refuses" cni_exec DEL "$ID3" "$LATER" "$P3"
refute "d1's host end is gone" ip link show "$V3"
refute "d1's lease is released" test -e "$DATA/$NET3/$IP3"
expect "d1's masquerade entries are gone" no_element_naming inet "$ID3"
expect "GC succeeds with that config" cni_exec GC "" "$(with_valid "$LATER")"

section "a refused IPAM config leaves no bridge"
BR9=$(new_bridge_name i)
C9=$(conf "ipam$RUN_ID" "$BR9" ',"isGateway":true' ',"subnet":"10.238.0.0/99"')
P9=$(pod i1)
expect "ADD with subnet 10.238.0.0/99 answers code 7" cni_error 7 cni_exec ADD "$(netns_name "$P9")" "$C9" "$P9"
refute "bridge $BR9 was not created" ip link show "$BR9"

section "podwire-portmap sets route_localnet only on a real interface name"
# Put back what an unfixed plugin would change on this node, whatever the outcome.
for knob in all default; do
  echo "$knob $(cat /proc/sys/net/ipv4/conf/$knob/route_localnet)" >> "$WORK/route_localnet.before"
done
restore_route_localnet() {
  local knob value
  while read -r knob value; do echo "$value" > "/proc/sys/net/ipv4/conf/$knob/route_localnet"; done \
    < "$WORK/route_localnet.before"
}
for name in all default ../all "lo/../all" ""; do
  C6=$(jq -nc --arg net "pm$RUN_ID" --arg name "$name" --arg ip "$SUBNET_BASE.9/24" '{cniVersion: "1.1.0",
    name: $net, type: "podwire-portmap", runtimeConfig: {portMappings: [{hostPort: 18080, containerPort: 80}]},
    prevResult: {cniVersion: "1.1.0", interfaces: [{name: $name}], ips: [{address: $ip}]}}')
  expect "an interface named \"$name\" in prevResult is refused with code 7" \
    cni_error 7 cni_exec ADD "pm$RUN_ID" "$C6" /var/run/netns/none podwire-portmap
done
route_localnet_now() {
  for knob in all default; do echo "$knob $(cat /proc/sys/net/ipv4/conf/$knob/route_localnet)"; done
}
expect "route_localnet of all and default is as it was" \
  is "$(route_localnet_now)" "$(cat "$WORK/route_localnet.before")"
restore_route_localnet
cni_exec DEL "pm$RUN_ID" "$C6" /var/run/netns/none podwire-portmap >/dev/null

section "GC of one network leaves another network's pods on the same bridge"
NETA=gca$RUN_ID NETB=gcb$RUN_ID
# One subnet and bridge, two networks each with a range of its own; only A's pods route out.
BRG=$(new_bridge_name g)
CA=$(conf "$NETA" "$BRG" ',"isDefaultGateway":true' \
  ",\"subnet\":\"$SUBNET_BASE.64/27\",\"rangeEnd\":\"$SUBNET_BASE.79\"")
CB=$(conf "$NETB" "$BRG" '' \
  ",\"subnet\":\"$SUBNET_BASE.64/27\",\"rangeStart\":\"$SUBNET_BASE.80\"")
for p in a1 a2 b1; do
  P=$(pod "$p")
  [[ $p == a* ]] && config=$CA || config=$CB
  cni_exec ADD "$(netns_name "$P")" "$config" "$P" > "$WORK/$p.json" || fail "ADD $p" "$(cat "$WORK/$p.json")"
done
VA1=$(host_veth_of "pw$RUN_ID-a1" eth0)
VB1=$(host_veth_of "pw$RUN_ID-b1" eth0)
expect "the host end names its attachment in its alias" link_shows "$VA1" "alias $NETA pw$RUN_ID-a1 eth0"
expect "GC of $NETB with no valid attachment succeeds" cni_exec GC "" "$(with_valid "$CB")"
expect "$NETA's pods keep their host ends" ip link show "$VA1"
expect "$NETA's pod a1 still pings a2" ip netns exec "pw$RUN_ID-a1" ping -c1 -W2 "$(ip_in "$WORK/a2.json")"
refute "$NETB's stale host end is collected" ip link show "$VB1"
expect "GC of $NETA keeping its pods succeeds" cni_exec GC "" "$(with_valid "$CA" "pw$RUN_ID-a1" "pw$RUN_ID-a2")"
expect "a1 still pings a2 after it" ip netns exec "pw$RUN_ID-a1" ping -c1 -W2 "$(ip_in "$WORK/a2.json")"
for p in a1 a2; do cni_exec DEL "pw$RUN_ID-$p" "$CA" >/dev/null || fail "DEL $p"; done

section "an address released under a live firewall entry: the new pod keeps its masquerade"
# "The internet": a netns behind a veth from the host, with no route back to any pod subnet.
INET=$(netns_name "$(new_netns inet)")
OCTET=$((RANDOM % 250))
UPLINK="pwu$RUN_ID"; echo "$UPLINK" >> "$WORK/made.links"
ip link add "$UPLINK" type veth peer name eth0 netns "$INET"
ip addr add "198.18.$OCTET.1/24" dev "$UPLINK"; ip link set "$UPLINK" up
ip -n "$INET" addr add "198.18.$OCTET.2/24" dev eth0; ip -n "$INET" link set eth0 up
ip netns exec "$INET" python3 "$REPO/netns-test/tools/peer-server.py" 9000 "198.18.$OCTET.2" &
echo $! >> "$WORK/made.pids"
NET2=masq$RUN_ID
# One address to hand out, so the second pod gets the first one's.
C2=$(conf "$NET2" "$(new_bridge_name m)" ',"isDefaultGateway":true,"ipMasq":true' \
  ",\"subnet\":\"$SUBNET_BASE.96/29\",\"rangeStart\":\"$SUBNET_BASE.98\",\"rangeEnd\":\"$SUBNET_BASE.98\"")
PA=$(pod ma); PB=$(pod mb)
cni_exec ADD "$(netns_name "$PA")" "$C2" "$PA" > "$WORK/ma.json" || fail "ADD ma" "$(cat "$WORK/ma.json")"
# What a DEL of ma killed after its release, before its firewall entries went, leaves.
rm -f "$DATA/$NET2/$SUBNET_BASE.98"
cni_exec ADD "$(netns_name "$PB")" "$C2" "$PB" > "$WORK/mb.json" || fail "ADD mb" "$(cat "$WORK/mb.json")"
expect "mb got ma's address" is "$(ip_in "$WORK/mb.json")" "$SUBNET_BASE.98"
expect "the DEL of ma is repeated and succeeds" cni_exec DEL "$(netns_name "$PA")" "$C2" "$PA"
expect "CHECK of mb passes" cni_exec CHECK "$(netns_name "$PB")" "$(with_prev "$C2" "$WORK/mb.json")" "$PB"
seen=$(ip netns exec "$(netns_name "$PB")" python3 "$REPO/netns-test/tools/peer-client.py" "198.18.$OCTET.2" 9000 2>&1)
expect "mb reaches the outside through masquerade" is "$seen" "198.18.$OCTET.1"
cni_exec DEL "$(netns_name "$PB")" "$C2" "$PB" >/dev/null || fail "DEL mb"

section "after DEL, no file in the store names the container"
NET10=store$RUN_ID
C10=$(printf '{"cniVersion":"1.1.0","name":"%s","ipam":{"type":"podwire-ipam","subnet":"%s.128/27","dataDir":"%s"}}' \
  "$NET10" "$SUBNET_BASE" "$DATA")
for i in 1 2; do
  cni_exec ADD "gone$RUN_ID$i" "$C10" /var/run/netns/none podwire-ipam >/dev/null \
    || fail "ADD gone$i"
done
expect "DEL of gone1" cni_exec DEL "gone${RUN_ID}1" "$C10" /var/run/netns/none podwire-ipam
refute "no file under $NET10's directory holds gone1's ID" grep -rlF "gone${RUN_ID}1" "$DATA/$NET10"
expect "gone2's lease is still there" grep -rlqF "gone${RUN_ID}2" "$DATA/$NET10"
expect "DEL of gone2" cni_exec DEL "gone${RUN_ID}2" "$C10" /var/run/netns/none podwire-ipam
refute "no file under $NET10's directory holds either ID" grep -rlF "gone$RUN_ID" "$DATA/$NET10"

section "a stale index entry does not hide the attachment's real lease"
NET5=hint$RUN_ID
C5P=$(printf '{"cniVersion":"1.0.0","name":"%s","ipam":{"type":"podwire-ipam","subnet":"%s.160/27","dataDir":"%s"}}' \
  "$NET5" "$SUBNET_BASE" "$DATA")
C5R=$(jq -c '.ipam.type = "host-local"' <<< "$C5P")
cni_exec ADD "hint$RUN_ID" "$C5P" /var/run/netns/none podwire-ipam > "$WORK/hint1.json" || fail "podwire-ipam ADD"
cni_exec DEL "hint$RUN_ID" "$C5R" /var/run/netns/none host-local >/dev/null || fail "reference DEL"
cni_exec ADD "hint$RUN_ID" "$C5R" /var/run/netns/none host-local > "$WORK/hint2.json" || fail "reference ADD"
expect "the reference leased another address ($(ip_in "$WORK/hint1.json") then $(ip_in "$WORK/hint2.json"))" \
  all_different "$(ip_in "$WORK/hint1.json")" "$(ip_in "$WORK/hint2.json")"
expect "podwire DEL of the attachment" cni_exec DEL "hint$RUN_ID" "$C5P" /var/run/netns/none podwire-ipam
refute "the reference's lease is released by podwire's DEL" test -e "$DATA/$NET5/$(ip_in "$WORK/hint2.json")"

section "a 1024-byte container ID and a 255-byte network name, with masquerade and a host port"
LONGID=$(head -c 1018 /dev/zero | tr '\0' L)$RUN_ID
LONGNET=$(head -c 249 /dev/zero | tr '\0' n)$RUN_ID
PORT=$((20000 + RANDOM % 20000))
BRL=$(new_bridge_name l)
CL=$(jq -c --argjson port "$PORT" '. + {runtimeConfig: {portMappings: [{hostPort: $port, containerPort: 80}]}}' \
  <<< "$(conf "$LONGNET" "$BRL" ',"isDefaultGateway":true,"ipMasq":true' ",\"subnet\":\"$SUBNET_BASE.192/27\"")")
LABEL=$(attachment_label "$LONGNET" "$LONGID" eth0)
host_veth_of "$LONGID" eth0 >/dev/null
PL=$(new_netns long)
elements_of() { nft -j list table inet podwire 2>/dev/null | jq --arg c "$1" \
  '[.nftables[] | (.set // .map) | select(.) | .elem // [] | .[] | (if type == "array" then .[0] else . end)
    | select(.elem.comment? == $c)] | length'; }
expect "ADD with them succeeds" into "$WORK/long.json" cni_exec ADD "$LONGID" "$CL" "$PL"
expect "CHECK succeeds" cni_exec CHECK "$LONGID" "$(with_prev "$CL" "$WORK/long.json")" "$PL"
expect "its masquerade, pod-local and host-port entries carry the whole label ($(elements_of "$LABEL") of them)" \
  at_least "$(elements_of "$LABEL")" 3
expect "its host end carries the label as its alias" sysfs_is "$(host_veth_of "$LONGID" eth0)/ifalias" "$LABEL"
expect "DEL succeeds" cni_exec DEL "$LONGID" "$CL" "$PL"
expect "no element of the attachment is left" is "$(elements_of "$LABEL")" 0
expect "ADD again finds its host port free" into /dev/null cni_exec ADD "$LONGID" "$CL" "$PL"
expect "DEL succeeds" cni_exec DEL "$LONGID" "$CL" "$PL"
expect "no element of the attachment is left" is "$(elements_of "$LABEL")" 0
refute "its host end is gone" ip link show "$(host_veth_of "$LONGID" eth0)"
expect "no lease is left" no_leases "$DATA/$LONGNET"
index=$(ls -a "$DATA" | grep -F '.podwire.#')
expect "the index directory has a digest for a name ($index)" matches "$index" '^\.podwire\.#[0-9a-f]{16}$'
expect "  and no entry left" prints_nothing ls "$DATA/$index"

section "16 ADDs race for one host port, half on one address and half on every address: one wins"
# podwire-portmap, so that nothing but the port claim orders the calls; ten rounds.
race_config() { # race_config PORT HOST_IP_KEYS -> a portmap config for one pod of the race
  jq -nc --arg net "race$RUN_ID" --argjson port "$1" --arg ip "$SUBNET_BASE.250/24" "{cniVersion: \"1.1.0\",
    name: \$net, type: \"podwire-portmap\", snat: false,
    runtimeConfig: {portMappings: [{hostPort: \$port, containerPort: 80$2}]},
    prevResult: {cniVersion: \"1.1.0\", interfaces: [{name: \"lo\"}], ips: [{address: \$ip}]}}"
}
rounds_won_once=0
for round in $(seq 10); do
  RACE_PORT=$((20000 + RANDOM % 20000))
  for i in $(seq 16); do
    race_config "$RACE_PORT" "$( ((i % 2)) && echo ', hostIP: "127.0.0.1"')" > "$WORK/race$i.json"
  done
  winners=$(RACE_ID="$RUN_ID$round" CNI_NETNS=/var/run/netns/none \
    python3 "$REPO/netns-test/e2e/race.py" "$WORK/bin/podwire-portmap" "$WORK"/race{1..16}.json)
  [[ $winners == 1 ]] && rounds_won_once=$((rounds_won_once + 1)) || echo "  (round $round: $winners won)"
  for i in $(seq 0 15); do
    cni_exec DEL "race-$RUN_ID$round-$i" "$(cat "$WORK/race1.json")" /var/run/netns/none podwire-portmap >/dev/null \
      || fail "DEL race-$RUN_ID$round-$i"
  done
done
expect "in each of 10 rounds exactly one of them got the port ($rounds_won_once rounds did)" is "$rounds_won_once" 10
expect "no host port of the races is left" no_element_naming inet "race$RUN_ID"

section "32 writers log DELs with 900-byte container IDs to one file: every line whole, the ID in full"
CLOG=$(jq -c --arg log "$WORK/calls.log" '. + {logFile: $log}' <<< "$(conf "log$RUN_ID" "$(new_bridge_name o)" '' \
  ",\"subnet\":\"$SUBNET_BASE.0/24\"")")
# Long container IDs make long lines, and each writer logs ten DELs (of pods that never existed).
LOGID=$(head -c 900 /dev/zero | tr '\0' g)
writers=()
for w in $(seq 32); do
  ( for n in $(seq 10); do cni_exec DEL "$LOGID$RUN_ID-$w-$n" "$CLOG" >/dev/null; done ) &
  writers+=($!)
done
wait "${writers[@]}"
whole='^[0-9T:.-]+Z info podwire: DEL containerID='"$LOGID$RUN_ID"'-[0-9]+-[0-9]+ durationMs=[0-9.]+ '
whole+='ifname=eth0 netns="" network=log'"$RUN_ID"'$'
expect "the log has 320 lines" is "$(wc -l < "$WORK/calls.log")" 320
expect "every one of them whole ($(grep -cvE "$whole" "$WORK/calls.log") are not)" \
  is "$(grep -cE "$whole" "$WORK/calls.log")" 320

section "portIsolation: isolated pods reach the gateway and other ports, not each other"
BRI=$(new_bridge_name p)
CI_ISO=$(conf "iso$RUN_ID" "$BRI" ',"isDefaultGateway":true,"portIsolation":true' ",\"subnet\":\"$SUBNET_BASE.32/27\"")
CI_OPEN=$(jq -c 'del(.portIsolation)' <<< "$CI_ISO")
for p in iso1 iso2 iso3; do
  P=$(pod "$p")
  [[ $p == iso3 ]] && config=$CI_OPEN || config=$CI_ISO
  cni_exec ADD "$(netns_name "$P")" "$config" "$P" > "$WORK/$p.json" || fail "ADD $p" "$(cat "$WORK/$p.json")"
done
VI1=$(host_veth_of "pw$RUN_ID-iso1" eth0)
expect "i1's host end is an isolated port" says "isolated on" bridge -d link show dev "$VI1"
expect "i1 pings the gateway" ip netns exec "pw$RUN_ID-iso1" ping -c1 -W2 "$(jq -r '.ips[0].gateway' "$WORK/iso1.json")"
expect "i1 pings i3, which is not isolated" ip netns exec "pw$RUN_ID-iso1" ping -c1 -W2 "$(ip_in "$WORK/iso3.json")"
refute "i1 does not reach i2, both isolated" ip netns exec "pw$RUN_ID-iso1" ping -c1 -W1 "$(ip_in "$WORK/iso2.json")"
for p in iso1 iso2; do cni_exec DEL "pw$RUN_ID-$p" "$CI_ISO" >/dev/null || fail "DEL $p"; done
cni_exec DEL "pw$RUN_ID-iso3" "$CI_OPEN" >/dev/null || fail "DEL iso3"

section "disableContainerInterface: the pod's interface is made and left down"
BRD=$(new_bridge_name q)
CD_OFF=$(printf '{"cniVersion":"1.1.0","name":"l2%s","type":"podwire","bridge":"%s","disableContainerInterface":true}' \
  "$RUN_ID" "$BRD")
CD_ON=$(jq -c 'del(.disableContainerInterface) | .ipam = {}' <<< "$CD_OFF")
P=$(pod l2a); Q=$(pod l2b)
expect "ADD with disableContainerInterface and no ipam succeeds" \
  into /dev/null cni_exec ADD "$(netns_name "$P")" "$CD_OFF" "$P"
expect "the pod has its eth0, down" link_shows eth0 "state DOWN" "$(netns_name "$P")"
refute "  not administratively up" link_shows eth0 "<.*UP.*>" "$(netns_name "$P")"
expect "without it (ipam {}), a layer-2 pod's eth0 is up" \
  into /dev/null cni_exec ADD "$(netns_name "$Q")" "$CD_ON" "$Q"
expect "  (eth0 up)" link_shows eth0 "<.*,UP" "$(netns_name "$Q")"
BRD2=$(new_bridge_name u)
CD_IPAM=$(jq -c --arg br "$BRD2" '.bridge = $br | .ipam = {type: "host-local", subnet: "10.9.0.0/24"}' <<< "$CD_OFF")
expect "with an ipam type it is refused with code 7" cni_error 7 cni_exec ADD "$(netns_name "$P")x" "$CD_IPAM" "$P"
refute "  and makes no bridge" ip link show "$BRD2"
cni_exec DEL "$(netns_name "$P")" "$CD_OFF" >/dev/null || fail "DEL l2a"
cni_exec DEL "$(netns_name "$Q")" "$CD_ON" >/dev/null || fail "DEL l2b"

section "macspoofchk: frames from the pod with another source MAC are dropped"
BRM=$(new_bridge_name s)
CM=$(conf "spoof$RUN_ID" "$BRM" ',"isDefaultGateway":true,"macspoofchk":true' ",\"subnet\":\"$SUBNET_BASE.224/27\"")
CM_OPEN=$(jq -c 'del(.macspoofchk)' <<< "$CM")
PM=$(pod sm); PO=$(pod so)
cni_exec ADD "$(netns_name "$PM")" "$CM" "$PM" > "$WORK/sm.json" || fail "ADD sm" "$(cat "$WORK/sm.json")"
cni_exec ADD "$(netns_name "$PO")" "$CM_OPEN" "$PO" > "$WORK/so.json" || fail "ADD so" "$(cat "$WORK/so.json")"
GWM=$(jq -r '.ips[0].gateway' "$WORK/sm.json")
# spoofed NETNS: the pod's eth0 takes another MAC; the node forgets the old one, so that its
# reply needs an ARP answer from the new MAC.
spoofed() {
  ip -n "$1" link set eth0 address 02:00:00:00:00:5$2
  ip neigh flush dev "$BRM"
  ip netns exec "$1" ping -c1 -W1 "$GWM"
}
expect "sm pings the gateway with its own MAC" ip netns exec "$(netns_name "$PM")" ping -c1 -W2 "$GWM"
expect "its host end and MAC are in table bridge podwire" \
  says "$(host_veth_of "$(netns_name "$PM")" eth0)" nft list set bridge podwire macs
expect "CHECK of sm passes" cni_exec CHECK "$(netns_name "$PM")" "$(with_prev "$CM" "$WORK/sm.json")" "$PM"
refute "sm with another MAC does not reach the gateway" spoofed "$(netns_name "$PM")" 1
expect "so, without the check, does (with another MAC)" spoofed "$(netns_name "$PO")" 2
ip -n "$(netns_name "$PM")" link set eth0 address "$(jq -r '.interfaces[2].mac' "$WORK/sm.json")"
ip neigh flush dev "$BRM"
expect "sm with its own MAC again reaches it" ip netns exec "$(netns_name "$PM")" ping -c1 -W2 "$GWM"
expect "DEL of sm" cni_exec DEL "$(netns_name "$PM")" "$CM" "$PM"
expect "no element of sm is left in table bridge podwire" no_element_naming bridge "$(netns_name "$PM")"
cni_exec DEL "$(netns_name "$PO")" "$CM_OPEN" >/dev/null || fail "DEL so"

section "vlanTrunk and preserveDefaultVlan: the port carries the trunk, tagged"
BRT=$(new_bridge_name t)
CT=$(jq -nc --arg net "trunk$RUN_ID" --arg br "$BRT" \
  '{cniVersion: "1.1.0", name: $net, type: "podwire", bridge: $br, vlanTrunk: [{id: 101}, {minID: 200, maxID: 203}]}')
PT=$(pod trunk); VT=$(host_veth_of "$(netns_name "$PT")" eth0)
probe=$(ip link add "pwv$RUN_ID" type bridge vlan_filtering 1 2>&1 && ip link del "pwv$RUN_ID")
if [[ -z $probe ]]; then
  expect "ADD with a trunk" into /dev/null cni_exec ADD "$(netns_name "$PT")" "$CT" "$PT"
  expect "the port carries 101 and 200-203 tagged, and VLAN 1 as its native one" \
    prints '[.[0].vlans[] | .vlan] | IN([1, 101, 200], [1, 101, 200, 201, 202, 203])' bridge -j vlan show dev "$VT"
  cni_exec DEL "$(netns_name "$PT")" "$CT" >/dev/null || fail "DEL trunk"
else
  skip "a trunk on the host veth" \
    "this kernel's bridge has no VLAN filtering: 'ip link add type bridge vlan_filtering 1' says: $probe"
  expect "ADD with a trunk fails saying the kernel lacks VLAN filtering" \
    says CONFIG_BRIDGE_VLAN_FILTERING cni_exec ADD "$(netns_name "$PT")" "$CT" "$PT"
  refute "  and leaves no bridge" ip link show "$BRT"
  refute "  nor a host end" ip link show "$VT"
fi
expect "a trunk entry with minID alone is code 7" \
  cni_error 7 cni_exec ADD "$(netns_name "$PT")" "$(jq -c '.vlanTrunk = [{minID: 5}]' <<< "$CT")" "$PT"

finish
