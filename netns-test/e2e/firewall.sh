#!/usr/bin/env bash
# End-to-end tests of podwire's nftables table: masquerade towards a netns that plays the
# internet, entries per pod (not chains), and their removal by DEL and GC.
source "$(dirname "$0")/../lib/lib.sh"

BR=$(new_bridge_name m)
BR_PLAIN=$(new_bridge_name n)
NET=masq$RUN_ID
PLAIN=plain$RUN_ID
OTHER=other$RUN_ID
DATA="$WORK/data"
V6NET="$SUBNET6_BASE:1::/64"
pod_ipam() { printf '{"type":"host-local","ranges":[[{"subnet":"%s"}],[{"subnet":"%s"}]],"dataDir":"%s"}' "$1" "$2" \
  "$DATA"; }
write_conflist "$NET" "[{\"type\":\"podwire\",\"bridge\":\"$BR\",\"isDefaultGateway\":true,\"ipMasq\":true,\
\"hairpinMode\":true,\"capabilities\":{\"portMappings\":true},\"ipam\":$(pod_ipam "$SUBNET_BASE.0/25" "$V6NET")}]"
write_conflist "$PLAIN" "[{\"type\":\"podwire\",\"bridge\":\"$BR_PLAIN\",\"isDefaultGateway\":true,\
\"ipam\":$(pod_ipam "$SUBNET_BASE.128/26" "$SUBNET6_BASE:2::/64")}]"
write_conflist "$OTHER" "[{\"type\":\"podwire\",\"bridge\":\"$BR_PLAIN\",\"ipMasq\":true,\
\"ipam\":$(pod_ipam "$SUBNET_BASE.192/26" "$SUBNET6_BASE:3::/64")}]"

# "The internet": a netns behind a veth from the host, in the benchmarking range
# 198.18.0.0/15, with no route back to any pod subnet.
INET=$(netns_name "$(new_netns inet)")
OCTET=$((RANDOM % 250))
HOST4=198.18.$OCTET.1 PEER4=198.18.$OCTET.2
HOST6=$SUBNET6_BASE:ff::1 PEER6=$SUBNET6_BASE:ff::2
UPLINK="pwu$RUN_ID"; echo "$UPLINK" >> "$WORK/made.links"
ip link add "$UPLINK" type veth peer name eth0 netns "$INET"
ip addr add "$HOST4/24" dev "$UPLINK"; ip addr add "$HOST6/64" dev "$UPLINK" nodad; ip link set "$UPLINK" up
ip -n "$INET" addr add "$PEER4/24" dev eth0; ip -n "$INET" addr add "$PEER6/64" dev eth0 nodad
ip -n "$INET" link set eth0 up; ip -n "$INET" link set lo up
ip netns exec "$INET" python3 "$REPO/netns-test/tools/peer-server.py" 9000 "$PEER4" "$PEER6" &
echo $! >> "$WORK/made.pids"

# seen_by_peer WHERE ADDRESS [PORT [udp]]: from a netns (or "host"), the source address
# the peer-server at ADDRESS:PORT (default 9000) saw.
seen_by_peer() {
  local run=()
  [[ $1 != host ]] && run=(ip netns exec "$1")
  "${run[@]}" python3 "$REPO/netns-test/tools/peer-client.py" "$2" "${3:-9000}" "${4:-tcp}" 2>/dev/null
}
# A pod's container ID is its netns name, unique to the run like every name here.
id() { echo "pw$RUN_ID-$1"; }
pod_exec() { runtime_exec "$1" "$2" "$(id "$3")" "/var/run/netns/$(id "$3")"; }  # pod_exec add|check|del NETWORK POD
serve_in() { ip netns exec "pw$RUN_ID-$1" python3 "$REPO/netns-test/tools/peer-server.py" "${@:2}" & echo $! >> \
  "$WORK/made.pids"; }
add_pod() { # add_pod NETWORK NAME -> the pod's result JSON in $WORK/NAME.json
  new_netns "$2" >/dev/null
  host_veth_of "$(id "$2")" eth0 >/dev/null
  pod_exec add "$1" "$2" > "$WORK/$2.json"
}
ip_of() { jq -r ".ips[$2].address" "$WORK/$1.json" | cut -d/ -f1; }
# elements SET TEXT: how many elements of a set (or map) carry TEXT in their comment.
elements() {
  { nft -j list set inet podwire "$1" 2>/dev/null || nft -j list map inet podwire "$1" 2>/dev/null; } \
    | jq -r --arg c "$2" \
    '[.nftables[] | (.set // .map) | select(.) | .elem // [] | .[] | (if type == "array" then .[0] else . end)
      | select(.elem.comment? // "" | contains($c))] | length'
}
rule_count() { nft -a list chain inet podwire postrouting 2>/dev/null | grep -v '^[[:space:]]*chain' \
  | grep -c '# handle'; }

section "masquerade towards the internet"
sleep 0.2   # the peer binds
add_pod "$NET" a || fail "ADD a"
add_pod "$NET" b || fail "ADD b"
add_pod "$PLAIN" c || fail "ADD c (no ipMasq)"
A=pw$RUN_ID-a B=pw$RUN_ID-b C=pw$RUN_ID-c
expect "pod a reaches the internet's $PEER4, which sees the node's $HOST4" all_same "$(seen_by_peer "$A" "$PEER4")" \
  "$HOST4"
expect "  and over IPv6 $PEER6, which sees $HOST6" all_same "$(seen_by_peer "$A" "$PEER6")" "$HOST6"
refute "pod c, on a network without ipMasq, gets no answer (the internet has no route back)" seen_by_peer "$C" "$PEER4"
ip netns exec "$B" python3 "$REPO/netns-test/tools/peer-server.py" 9000 "$(ip_of b 0)" & echo $! >> "$WORK/made.pids"
sleep 0.2
expect "traffic inside the pod subnet is not masqueraded: pod b sees pod a's own $(ip_of a 0)" \
  all_same "$(seen_by_peer "$A" "$(ip_of b 0)")" "$(ip_of a 0)"

section "one table, entries per pod"
expect "podwire's table has 8 rules in postrouting, 4 per family" all_same "$(rule_count)" 8
expect "masq4 holds one element per masqueraded pod, with its attachment as comment" all_same \
  "$(elements masq4 "$NET ")" 2
expect "  and masq6, podlocal4, podlocal6 as many" \
  all_same "$(elements masq6 "$NET ")$(elements podlocal4 "$NET ")$(elements podlocal6 "$NET ")" 222
expect "pod c has no entries" all_same "$(elements masq4 "$PLAIN ")" 0
expect "CHECK passes for pod a" pod_exec check "$NET" a

section "DEL and GC remove exactly the pod's entries"
expect "DEL pod a" pod_exec del "$NET" a
refute "nft list ruleset shows nothing of pod a (its network, container ID, ifname)" \
  says "$NET $(id a) eth0" nft list ruleset
refute "  nor its IPv4 address" says "\\b$(ip_of a 0)\\b" nft list ruleset
refute "  nor its IPv6 address" says "\\b$(ip_of a 1)\\b" nft list ruleset
expect "pod b's entries stay" all_same \
  "$(elements masq4 "$NET $(id b) eth0")$(elements podlocal6 "$NET $(id b) eth0")" 11
expect "DEL with an empty CNI_NETNS succeeds" runtime_exec del "$NET" "$(id b)" ""
refute "  and removes pod b's entries" says "$NET $(id b) eth0" nft list ruleset
add_pod "$OTHER" o || fail "ADD o (another network with ipMasq)"
add_pod "$NET" d || fail "ADD d"
add_pod "$NET" e || fail "ADD e"
gc_config=$(jq -c --arg net "$NET" --arg e "$(id e)" '.plugins[0] + {cniVersion: "1.1.0", name: $net,
  "cni.dev/valid-attachments": [{containerID: $e, ifname: "eth0"}]}' "$NETCONFPATH/$NET.conflist")
expect "GC keeping only pod e" cni_exec GC "" "$gc_config"
expect "  removed pod d's entries and kept pod e's" all_same \
  "$(elements masq4 "$NET $(id d) eth0")$(elements masq4 "$NET $(id e) eth0")" 01
expect "  and left another network's entries alone" all_same "$(elements masq4 "$OTHER $(id o) eth0")" 1
pod_exec del "$NET" e
pod_exec del "$OTHER" o

section "100 pods with masquerade and a host port each: entries grow, rules do not"
before_rules=$(nft -a list table inet podwire | grep -c '# handle')
BASE_PORT=$((20000 + RANDOM % 20000))
start=$(date +%s%N)
for n in $(seq 100); do
  CAP_ARGS=$(printf '{"portMappings":[{"hostPort":%s,"containerPort":80,"protocol":"tcp"}]}' $((BASE_PORT + n))) \
    add_pod "$NET" "h$n" || { fail "ADD h$n"; break; }
done
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  (100 ADDs with masquerade and a port, netns creation included: $elapsed ms)"
expect "after 100 ADDs the table has as many rules and chains as before ($before_rules objects)" \
  all_same "$(nft -a list table inet podwire | grep -c '# handle')" "$before_rules"
expect "  and 100 elements in masq4" all_same "$(elements masq4 "$NET $(id h)")" 100
expect "  and 100 in hostports4" all_same "$(elements hostports4 "$NET $(id h)")" 100
serve_in h100 80 0.0.0.0
sleep 0.3
expect "pod h100 answers on its host port" seen_by_peer host 127.0.0.1 $((BASE_PORT + 100))
for n in $(seq 100); do pod_exec del "$NET" "h$n" || fail "DEL h$n"; done
expect "after 100 DELs: no element of this network is left" \
  all_same "$(for s in masq4 masq6 podlocal4 podlocal6 hostports4 hostports6 hairpin4 hairpin6; do
    elements $s "$NET "; done | tr -d '\n')" 00000000
pod_exec del "$PLAIN" c

section "port mappings (the portMappings capability, served by podwire)"
HP=$((20000 + RANDOM % 20000))
ports() { printf '{"portMappings":[%s]}' "$1"; }
mapping() { printf '{"hostPort":%s,"containerPort":%s,"protocol":"%s"%s}' "$1" "$2" "$3" "${4:+,\"hostIP\":\"$4\"}"; }
CAP_ARGS=$(ports "$(mapping $HP 9000 tcp),$(mapping $HP 9000 udp),$(mapping $((HP + 1)) 9000 tcp 127.0.0.1)") add_pod \
  "$NET" p \
  || fail "ADD p with three port mappings"
add_pod "$NET" q || fail "ADD q"
P=pw$RUN_ID-p
serve_in p 9000 0.0.0.0 :: udp:0.0.0.0
sleep 0.3
expect "the internet reaches pod p through $HOST4:$HP (tcp), and p sees the client's own $PEER4" \
  all_same "$(seen_by_peer "$INET" "$HOST4" $HP)" "$PEER4"
expect "  over IPv6 too, [$HOST6]:$HP, seen as $PEER6" all_same "$(seen_by_peer "$INET" "$HOST6" $HP)" "$PEER6"
expect "  and over UDP, $HOST4:$HP/udp" all_same "$(seen_by_peer "$INET" "$HOST4" $HP udp)" "$PEER4"
expect "the node reaches it on 127.0.0.1:$HP" seen_by_peer host 127.0.0.1 $HP
expect "  and on its own $HOST4:$HP" seen_by_peer host "$HOST4" $HP
expect "a mapping on hostIP 127.0.0.1 answers there, 127.0.0.1:$((HP + 1))" seen_by_peer host 127.0.0.1 $((HP + 1))
refute "  and not on $HOST4:$((HP + 1)) from the internet" seen_by_peer "$INET" "$HOST4" $((HP + 1))
GW=$(jq -r '.ips[0].gateway' "$WORK/p.json")
expect "pod q reaches pod p through the host port (hairpin), masqueraded to the gateway $GW" \
  all_same "$(seen_by_peer "pw$RUN_ID-q" "$HOST4" $HP)" "$GW"
expect "pod p reaches itself through its own host port" seen_by_peer "$P" "$HOST4" $HP
check_p() { CAP_ARGS="$(ports "$(mapping $HP 9000 tcp)")" pod_exec check "$NET" p; }
expect "CHECK passes for pod p" check_p
conflict=$(CAP_ARGS=$(ports "$(mapping $HP 80 tcp)") add_pod "$NET" r 2>&1)
expect "a second pod asking for host port $HP/tcp is refused, naming the port" \
  matches "$conflict" "host port \\*:$HP/tcp is already mapped"
expect "  and its holder" matches "$conflict" "$NET $(id p) eth0"
refute "  and leaves nothing: no veth" ip link show "$(host_veth_of "$(id r)" eth0)"
# A lease's first line is the container ID and a CR; pod q's shows the check can find one.
lease_files_of() { grep -lxF "$1"$'\r' "$DATA/$NET"/* 2>/dev/null | wc -l; }
expect "  no lease (pod q has $(lease_files_of "$(id q)"), pod r $(lease_files_of "$(id r)"))" \
  all_same "$(lease_files_of "$(id q)") $(lease_files_of "$(id r)")" "2 0"
refute "  no nftables entry" says "$NET $(id r) eth0" nft list table inet podwire
expect "DEL pod p" pod_exec del "$NET" p
refute "the host port is closed after DEL" seen_by_peer "$INET" "$HOST4" $HP
refute "nft list ruleset shows nothing of pod p" says "$NET $(id p) eth0" nft list ruleset
pod_exec del "$NET" q

finish
