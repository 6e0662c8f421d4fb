#!/usr/bin/env bash
# End-to-end tests of the host-local store: dual stack, concurrency against the reference
# host-local, exhaustion, requested addresses, hostile names, and SIGKILL at any instant.
source "$(dirname "$0")/../lib/lib.sh"

BR=$(new_bridge_name i)
DATA="$WORK/data"
V4="$SUBNET_BASE.0/24"
V6="$SUBNET6_BASE::/64"

section "dual stack"
write_conflist dual "$(jq -nc --arg b "$BR" --arg v4 "$V4" --arg v6 "$V6" --arg d "$DATA" '
  [{type: "podwire", bridge: $b, isGateway: true,
    ipam: {type: "host-local", ranges: [[{subnet: $v4}], [{subnet: $v6}]], dataDir: $d}}]')"
D1=$(new_netns d1); D2=$(new_netns d2)
start=$(date +%s%N)
for pod in d1 d2; do
  host_veth_of "$pod$RUN_ID" eth0 >/dev/null
  runtime_exec add dual "$pod$RUN_ID" "/var/run/netns/pw$RUN_ID-$pod" > "$WORK/$pod.json" || fail "dual-stack ADD $pod"
done
expect "a dual-stack ADD returns one IPv4 and one IPv6 address" json "$WORK/d1.json" \
  "[.ips[].address] | length == 2 and (.[0] | startswith(\"$SUBNET_BASE.\"))
    and (.[1] | startswith(\"$SUBNET6_BASE:\"))"
v4b=$(jq -r '.ips[0].address' "$WORK/d2.json"); v6b=$(jq -r '.ips[1].address' "$WORK/d2.json")
expect "both addresses are configured in the pod: IPv4" address_shows "$(netns_name "$D1")" eth0 "inet $SUBNET_BASE"
expect "  and IPv6" address_shows "$(netns_name "$D1")" eth0 "inet6 $SUBNET6_BASE"
expect "pod 1 pings pod 2 over IPv4" ip netns exec "$(netns_name "$D1")" ping -c1 -W2 "${v4b%/*}"
expect "pod 1 pings pod 2 over IPv6" ip netns exec "$(netns_name "$D1")" ping -6 -c1 -W2 "${v6b%/*}"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect "two dual-stack ADDs and both pings took $elapsed ms: no DAD wait (under 1500)" test "$elapsed" -lt 1500
expect "podwire-leases lists the 4 dual-stack leases with their live host veths" \
  prints "length == 4 and all(.hostVethExists) and (map(.containerID) | unique == [\"d1$RUN_ID\", \"d2$RUN_ID\"])" \
  "$LEASES" dual --data-dir "$DATA" --json
expect "podwire-leases prints a table" says '^4 leases' "$LEASES" dual --data-dir "$DATA"
refute "podwire-leases on an unknown network fails" "$LEASES" nonet --data-dir "$DATA"
refute "  without creating it" test -e "$DATA/nonet"
for pod in d1 d2; do
  expect "dual-stack DEL $pod" runtime_exec del dual "$pod$RUN_ID" "/var/run/netns/pw$RUN_ID-$pod"
done
expect "no lease left after the dual-stack DELs" no_leases "$DATA/dual"
expect "podwire-leases then lists none" prints 'length == 0' "$LEASES" dual --data-dir "$DATA" --json

# IPAM-only calls, as a main plugin makes them: podwire-ipam or the reference host-local.
# 1.0.0: the newest version Debian's reference host-local speaks.
ipam_conf() { # ipam_conf NETWORK SUBNET [EXTRA_TOP_KEYS] [EXTRA_IPAM_KEYS]
  printf '{"cniVersion":"1.0.0","name":"%s","type":"x","ipam":{"type":"host-local","subnet":"%s","dataDir":"%s"%s}%s}' \
    "$1" "$2" "$DATA" "${4:-}" "${3:-}"
}
ipam() { # ipam PLUGIN COMMAND CONTAINER CONFIG -> stdout of the plugin, in no pod's netns
  cni_exec "$2" "$3" "$4" /var/run/netns/none "$1"
}

section "64 concurrent ADDs, half podwire-ipam, half the reference host-local, one dataDir"
conf=$(ipam_conf storm "$SUBNET_BASE.0/24")
for n in $(seq 64); do
  plugin=$([[ $((n % 2)) -eq 0 ]] && echo podwire-ipam || echo host-local)
  ( ipam "$plugin" ADD "storm$n" "$conf" > "$WORK/storm$n.json" 2>&1 ) &
done
wait
given=$(cat "$WORK"/storm*.json | jq -r '.ips[0].address // empty' 2>/dev/null)
expect "64 ADDs succeeded" is "$(wc -l <<< "$given")" 64
expect "  and gave 64 distinct IPs" all_different $given
expect "the store holds 64 leases" lease_count "$DATA/storm" 64
for n in $(seq 64); do
  plugin=$([[ $((n % 2)) -eq 0 ]] && echo host-local || echo podwire-ipam)   # each DEL by the other plugin
  ( ipam "$plugin" DEL "storm$n" "$conf" >/dev/null 2>&1 ) &
done
wait
expect "after 64 DELs (each by the other plugin) only lock and last_reserved_ip.* remain" no_leases "$DATA/storm"
expect "  the lock among them" test -e "$DATA/storm/lock"

section "podwire-ipam under the reference bridge"
write_conflist refbridge "$(jq -nc --arg b "$BR" --arg s "$SUBNET_BASE.0/24" --arg d "$DATA" '
  [{type: "bridge", bridge: $b, isGateway: true, ipam: {type: "podwire-ipam", subnet: $s, dataDir: $d}}]')"
RB=$(new_netns rb)
expect "the reference bridge ADDs with podwire-ipam" into "$WORK/rb.json" runtime_exec add refbridge "rb$RUN_ID" "$RB"
rb_address=$(jq -r '.ips[0].address' "$WORK/rb.json")
expect "the pod has the address podwire-ipam leased" address_shows "$(netns_name "$RB")" eth0 "inet $rb_address"
expect "  and the store holds its lease" test -e "$DATA/refbridge/${rb_address%/*}"
expect "CHECK through the reference bridge reaches podwire-ipam and passes" \
  runtime_exec check refbridge "rb$RUN_ID" "$RB"
expect "the reference bridge DELs with podwire-ipam" runtime_exec del refbridge "rb$RUN_ID" "$RB"
expect "and the lease is released" no_leases "$DATA/refbridge"

section "exhaustion of a /29"
conf=$(ipam_conf small "$SUBNET_BASE.0/29")
for n in 1 2 3 4 5; do ipam podwire-ipam ADD "small$n" "$conf" >/dev/null || fail "ADD $n of 5 in a /29"; done
expect "the sixth ADD fails naming the range: $(ipam podwire-ipam ADD small6 "$conf" | jq -r .msg)" \
  says "no IP addresses available in range set $SUBNET_BASE\.1-$SUBNET_BASE\.6" ipam podwire-ipam ADD small6 "$conf"
refute "  with a non-zero exit" ipam podwire-ipam ADD small6 "$conf"
expect "nothing leaked: still 5 leases" lease_count "$DATA/small" 5
status_conf=$(jq -c '.cniVersion = "1.1.0"' <<< "$conf")
expect "STATUS says code 50 while the range is full" cni_error 50 ipam podwire-ipam STATUS "" "$status_conf"
ipam podwire-ipam DEL small3 "$conf" >/dev/null
expect "after one DEL the next ADD succeeds" prints '.ips[0].address' ipam podwire-ipam ADD small6 "$conf"
expect "  and DEL of it" ipam podwire-ipam DEL small6 "$conf"
expect "and STATUS is ready again once an address is free" prints_nothing ipam podwire-ipam STATUS "" "$status_conf"

section "requested addresses"
conf=$(ipam_conf req "$SUBNET_BASE.0/24")
address_given() { jq -r '.ips[0].address' <<< "$1"; }
expect "CNI_ARGS IP= gives that address" \
  is "$(address_given "$(CNI_ARGS="IgnoreUnknown=1;IP=$SUBNET_BASE.71" ipam podwire-ipam ADD r1 "$conf")")" \
  "$SUBNET_BASE.71/24"
expect "args.cni.ips gives that address" is "$(address_given "$(ipam podwire-ipam ADD r2 \
  "$(ipam_conf req "$SUBNET_BASE.0/24" ",\"args\":{\"cni\":{\"ips\":[\"$SUBNET_BASE.72\"]}}")")")" "$SUBNET_BASE.72/24"
expect "runtimeConfig.ips gives that address" is "$(address_given "$(ipam podwire-ipam ADD r3 \
  "$(ipam_conf req "$SUBNET_BASE.0/24" ",\"runtimeConfig\":{\"ips\":[\"$SUBNET_BASE.73/24\"]}")")")" \
  "$SUBNET_BASE.73/24"
request() { CNI_ARGS="IP=$1" ipam "$2" ADD "$3" "$conf"; }  # request ADDRESS PLUGIN CONTAINER
expect "a requested address already leased is refused by name" says "$SUBNET_BASE\.71 is not available" \
  request "$SUBNET_BASE.71" podwire-ipam r4
expect "a requested address outside every range is refused" cni_error 7 request 192.0.2.9 podwire-ipam r5
expect "the reference host-local sees podwire's requested lease as taken" says "$SUBNET_BASE\.72" \
  request "$SUBNET_BASE.72" host-local r6
refute "  and refuses it" request "$SUBNET_BASE.72" host-local r6
for n in 1 2 3; do ipam podwire-ipam DEL "r$n" "$conf" >/dev/null; done
expect "no lease left after the requested-address tests" no_leases "$DATA/req"

section "hostile names write nothing"
before=$(find "$WORK" | wc -l)
expect "a network name with ../ is code 7" \
  cni_error 7 ipam podwire-ipam ADD h1 "$(ipam_conf ../../escape "$SUBNET_BASE.0/24")"
expect "a container ID with ../ is code 4" \
  cni_error 4 ipam podwire-ipam ADD ../h2 "$(ipam_conf hostile "$SUBNET_BASE.0/24")"
hostile_ifname() { IFNAME=../x ipam podwire-ipam ADD h3 "$(ipam_conf hostile "$SUBNET_BASE.0/24")"; }
expect "an ifname of ../x is code 4" cni_error 4 hostile_ifname
expect "none of them created a file in $WORK" is "$(find "$WORK" | wc -l)" "$before"
# Where the store and its index would be for that name: $DATA/../../escape, and the index
# directory .podwire.../../escape.
for path in "$(realpath -m "$DATA/../../escape")" "$(realpath -m "$DATA/.podwire.../../escape")"; do
  refute "  nor $path" test -e "$path"
done

section "SIGKILL at random instants of ADD and DEL, then DEL or GC"
C=$(new_netns crash)
# With masquerade, a port mapping and both directions shaped, so that a kill can strand
# nftables elements, an ifb and tc qdiscs as well as a lease and a veth.
crash_conf=$(jq -nc --arg n "crash$RUN_ID" --arg b "$BR" --argjson port $((40000 + RANDOM % 20000)) \
  --arg s "$V4" --arg d "$DATA" '
  {cniVersion: "1.0.0", name: $n, type: "podwire", bridge: $b, ipMasq: true,
   runtimeConfig: {portMappings: [{hostPort: $port, containerPort: 80}],
                   bandwidth: {ingressRate: 10000000, ingressBurst: 100000, egressRate: 10000000, egressBurst: 100000}},
   ipam: {type: "host-local", subnet: $s, dataDir: $d}}')
if output=$(python3 "$REPO/netns-test/e2e/crash.py" "$PODWIRE" "$C" "$crash_conf" "$DATA" "crash$RUN_ID" \
    "${CRASH_TRIALS:-200}" "$WORK/made.links" 2>&1); then
  echo "$output" | head -1
  pass "$(echo "$output" | tail -1)"
else
  fail "SIGKILL trials leaked, or missed the calls they were to kill" "$output"
fi

finish
