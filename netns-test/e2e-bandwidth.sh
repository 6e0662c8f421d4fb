#!/usr/bin/env bash
# End-to-end tests of the bandwidth capability: tc token buckets on the host end (pod
# ingress) and on the pod's ifb (pod egress), measured with bounded transfers.
source "$(dirname "$0")/lib.sh"

BR=$(new_bridge_name w)
NET=bw$RUN_ID
DATA="$WORK/data"
write_conflist "$NET" "$(jq -nc --arg b "$BR" --arg s "$SUBNET_BASE.0/24" --arg d "$DATA" '
  [{type: "podwire", bridge: $b, isGateway: true, capabilities: {bandwidth: true},
    ipam: {type: "host-local", subnet: $s, dataDir: $d}}]')"
GW=$SUBNET_BASE.1
INGRESS=8000000 EGRESS=16000000   # bits per second
limits() { printf '{"bandwidth":{"ingressRate":%s,"ingressBurst":800000,"egressRate":%s,"egressBurst":800000}}' "$1" \
  "$2"; }
# A pod's container ID is its netns name, unique to the run like every name here.
id() { echo "pw$RUN_ID-$1"; }
cni() { CNI_CONTAINERID=$(id "$2") "$CNITOOL" "$1" "$NET" "/var/run/netns/$(id "$2")"; }
veth_of() { host_veth_of "$(id "$1")" eth0; }
add_pod() { new_netns "$1" >/dev/null; veth_of "$1" >/dev/null; cni add "$1" > "$WORK/$1.json"; }
ip_of() { jq -r '.ips[0].address' "$WORK/$1.json" | cut -d/ -f1; }
ifb_of() { local name; name=$(veth_of "$1"); echo "pwi${name:2:12}"; }
# rate_to POD BYTES: bits per second a transfer from the host into the pod ran at.
rate_to() { python3 "$REPO/netns-test/throughput.py" send "$(ip_of "$1")" 7000 "$2"; }
# rate_from POD BYTES: bits per second a transfer from the pod to the host ran at.
rate_from() { ip netns exec "pw$RUN_ID-$1" python3 "$REPO/netns-test/throughput.py" send "$GW" 7001 "$2"; }
# within RATE LIMIT: the measured rate is between a quarter and one and a half of the limit.
within() { (( $1 * 4 >= $2 && $1 * 2 <= $2 * 3 )) || { echo "$1 bit/s against a limit of $2"; false; }; }
above() { (( $1 >= $2 )) || { echo "$1 bit/s, expected at least $2"; false; }; }

section "limits measured with bounded transfers"
CAP_ARGS=$(limits $INGRESS $EGRESS) add_pod s || fail "ADD s with bandwidth limits"
add_pod u || fail "ADD u without limits"
for pod in s u; do
  ip netns exec "pw$RUN_ID-$pod" python3 "$REPO/netns-test/throughput.py" serve 0.0.0.0 7000 & echo $! >> \
    "$WORK/made.pids"
done
python3 "$REPO/netns-test/throughput.py" serve "$GW" 7001 & echo $! >> "$WORK/made.pids"
sleep 0.3
shaped_in=$(rate_to s 1500000) shaped_out=$(rate_from s 3000000)
free_in=$(rate_to u 20000000) free_out=$(rate_from u 20000000)
expect "pod s receives at about its ingressRate: $shaped_in bit/s for a limit of $INGRESS" within "$shaped_in" $INGRESS
expect "pod s sends at about its egressRate: $shaped_out bit/s for a limit of $EGRESS" within "$shaped_out" $EGRESS
expect "pod u, without limits, receives at $free_in bit/s, over 5 times s's limit" above "$free_in" $((INGRESS * 5))
expect "  and sends at $free_out bit/s, over 5 times s's limit" above "$free_out" $((EGRESS * 5))
expect "the host end of s has a tbf root qdisc" bash -c \
  "tc qdisc show dev $(veth_of s) root | grep -q '^qdisc tbf.*rate 8Mbit'"
expect "s's ifb $(ifb_of s) shapes at 16Mbit" bash -c "tc qdisc show dev $(ifb_of s) root | grep -q 'rate 16Mbit'"
expect "CHECK passes for pod s" env CAP_ARGS="$(limits $INGRESS $EGRESS)" CNI_CONTAINERID="$(id s)" "$CNITOOL" check \
  "$NET" "/var/run/netns/pw$RUN_ID-s"
tc qdisc del dev "$(ifb_of s)" root
refute "CHECK fails once the ifb's qdisc is removed" env CAP_ARGS="$(limits $INGRESS $EGRESS)" \
  CNI_CONTAINERID="$(id s)" "$CNITOOL" check "$NET" "/var/run/netns/pw$RUN_ID-s"

section "teardown"
expect "DEL pod s" cni del s
refute "its ifb is gone" ip link show "$(ifb_of s)"
refute "  and its host end" ip link show "$(veth_of s)"
CAP_ARGS="{\"bandwidth\":{\"egressRate\":$EGRESS,\"egressBurst\":800000}}" add_pod g \
  || fail "ADD g with an egress limit"
expect "pod g's ifb exists" ip link show "$(ifb_of g)"
ip link del "$(veth_of g)"
gc=$(jq -c --arg net "$NET" --arg u "$(id u)" '.plugins[0] + {cniVersion: "1.1.0", name: $net,
  "cni.dev/valid-attachments": [{containerID: $u, ifname: "eth0"}]}' "$NETCONFPATH/$NET.conflist")
expect "GC" bash -c "echo '$gc' | CNI_COMMAND=GC CNI_PATH=$CNI_PATH $PODWIRE"
refute "  removes the ifb of a pod whose host end is gone" ip link show "$(ifb_of g)"
cni del u; cni del g

section "bad limits are refused and leave nothing"
new_netns x >/dev/null
for bad in '{"ingressRate":1000000}' '{"egressBurst":1000}' '{"ingressRate":800000000000,"ingressBurst":1000}'; do
  conf=$(jq -c --arg net "$NET" --argjson bw "$bad" \
    '.plugins[0] + {cniVersion: "1.0.0", name: $net, runtimeConfig: {bandwidth: $bw}}' "$NETCONFPATH/$NET.conflist")
  out=$(echo "$conf" | CNI_COMMAND=ADD CNI_CONTAINERID="$(id x)" CNI_NETNS="/var/run/netns/pw$RUN_ID-x" \
    CNI_IFNAME=eth0 CNI_PATH=$CNI_PATH "$PODWIRE")
  expect "bandwidth $bad: refused with code 7 and a message that names it" \
    bash -c "jq -e '.code == 7 and (.msg | startswith(\"bandwidth:\"))' <<< '$out'"
  refute "  no veth left" ip link show "$(veth_of x)"
  expect "  no lease left" all_same "$(leases_in "$DATA/$NET")" ""
done

finish
