#!/usr/bin/env bash
# End-to-end tests of the bandwidth capability: tc token buckets on the host end (pod
# ingress) and on the pod's ifb (pod egress), measured with bounded transfers.
source "$(dirname "$0")/../lib/lib.sh"

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
pod_exec() { runtime_exec "$1" "$NET" "$(id "$2")" "/var/run/netns/$(id "$2")"; }  # pod_exec add|check|del POD
veth_of() { host_veth_of "$(id "$1")" eth0; }
pod_ifb() { ifb_of "$(id "$1")" eth0; }
add_pod() {
  new_netns "$1" >/dev/null; veth_of "$1" >/dev/null; pod_ifb "$1" >/dev/null
  pod_exec add "$1" > "$WORK/$1.json"
}
ip_of() { jq -r '.ips[0].address' "$WORK/$1.json" | cut -d/ -f1; }
# rate_to POD BYTES: bits per second a transfer from the host into the pod ran at.
rate_to() { python3 "$REPO/netns-test/tools/throughput.py" send "$(ip_of "$1")" 7000 "$2"; }
# rate_from POD BYTES: bits per second a transfer from the pod to the host ran at.
rate_from() { ip netns exec "pw$RUN_ID-$1" python3 "$REPO/netns-test/tools/throughput.py" send "$GW" 7001 "$2"; }
# within RATE LIMIT: the measured rate is between a quarter and one and a half of the limit.
within() { (( $1 * 4 >= $2 && $1 * 2 <= $2 * 3 )) || { echo "$1 bit/s against a limit of $2"; false; }; }
above() { (( $1 >= $2 )) || { echo "$1 bit/s, expected at least $2"; false; }; }

section "limits measured with bounded transfers"
CAP_ARGS=$(limits $INGRESS $EGRESS) add_pod s || fail "ADD s with bandwidth limits"
add_pod u || fail "ADD u without limits"
for pod in s u; do
  ip netns exec "pw$RUN_ID-$pod" python3 "$REPO/netns-test/tools/throughput.py" serve 0.0.0.0 7000 & echo $! >> \
    "$WORK/made.pids"
done
python3 "$REPO/netns-test/tools/throughput.py" serve "$GW" 7001 & echo $! >> "$WORK/made.pids"
sleep 0.3
shaped_in=$(rate_to s 1500000) shaped_out=$(rate_from s 3000000)
free_in=$(rate_to u 20000000) free_out=$(rate_from u 20000000)
expect "pod s receives at about its ingressRate: $shaped_in bit/s for a limit of $INGRESS" within "$shaped_in" $INGRESS
expect "pod s sends at about its egressRate: $shaped_out bit/s for a limit of $EGRESS" within "$shaped_out" $EGRESS
expect "pod u, without limits, receives at $free_in bit/s, over 5 times s's limit" above "$free_in" $((INGRESS * 5))
expect "  and sends at $free_out bit/s, over 5 times s's limit" above "$free_out" $((EGRESS * 5))
expect "the host end of s has a tbf root qdisc" says '^qdisc tbf.*rate 8Mbit' tc qdisc show dev "$(veth_of s)" root
expect "s's ifb $(pod_ifb s) shapes at 16Mbit" says 'rate 16Mbit' tc qdisc show dev "$(pod_ifb s)" root
check_s() { CAP_ARGS="$(limits $INGRESS $EGRESS)" pod_exec check s; }
expect "CHECK passes for pod s" check_s
tc qdisc del dev "$(pod_ifb s)" root
refute "CHECK fails once the ifb's qdisc is removed" check_s

section "teardown"
expect "DEL pod s" pod_exec del s
refute "its ifb is gone" ip link show "$(pod_ifb s)"
refute "  and its host end" ip link show "$(veth_of s)"
CAP_ARGS="{\"bandwidth\":{\"egressRate\":$EGRESS,\"egressBurst\":800000}}" add_pod g \
  || fail "ADD g with an egress limit"
expect "pod g's ifb exists" ip link show "$(pod_ifb g)"
ip link del "$(veth_of g)"
gc=$(jq -c --arg net "$NET" --arg u "$(id u)" '.plugins[0] + {cniVersion: "1.1.0", name: $net,
  "cni.dev/valid-attachments": [{containerID: $u, ifname: "eth0"}]}' "$NETCONFPATH/$NET.conflist")
expect "GC" cni_exec GC "" "$gc"
refute "  removes the ifb of a pod whose host end is gone" ip link show "$(pod_ifb g)"
pod_exec del u; pod_exec del g

section "bad limits are refused and leave nothing"
new_netns x >/dev/null
for bad in '{"ingressRate":1000000}' '{"egressBurst":1000}' '{"ingressRate":800000000000,"ingressBurst":1000}'; do
  conf=$(jq -c --arg net "$NET" --argjson bw "$bad" \
    '.plugins[0] + {cniVersion: "1.0.0", name: $net, runtimeConfig: {bandwidth: $bw}}' "$NETCONFPATH/$NET.conflist")
  expect "bandwidth $bad: refused with code 7" cni_error 7 cni_exec ADD "$(id x)" "$conf" "/var/run/netns/$(id x)"
  expect "  with a message that names it" \
    prints '.msg | startswith("bandwidth:")' answer cni_exec ADD "$(id x)" "$conf" "/var/run/netns/$(id x)"
  refute "  no veth left" ip link show "$(veth_of x)"
  expect "  no lease left" no_leases "$DATA/$NET"
done

finish
