#!/usr/bin/env bash
# End-to-end tests of the host-local store: dual stack, concurrency against the reference
# host-local, exhaustion, requested addresses, hostile names, and SIGKILL at any instant.
source "$(dirname "$0")/lib.sh"

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
  CNI_CONTAINERID="$pod$RUN_ID" "$CNITOOL" add dual "/var/run/netns/pw$RUN_ID-$pod" > "$WORK/$pod.json" \
    || fail "dual-stack ADD $pod"
done
expect "a dual-stack ADD returns one IPv4 and one IPv6 address" \
  bash -c \
    "jq -e \
    '[.ips[].address] | length == 2 and (.[0] | test(\"^$SUBNET_BASE\\\\.\")) and (.[1] | test(\"^$SUBNET6_BASE:\"))' \
    $WORK/d1.json"
v4b=$(jq -r '.ips[0].address' "$WORK/d2.json"); v6b=$(jq -r '.ips[1].address' "$WORK/d2.json")
expect "both addresses are configured in the pod" bash -c \
  "ip -n ${D1##*/} addr show eth0 | grep -q 'inet $SUBNET_BASE' && ip -n ${D1##*/} addr show eth0 | grep -q \
  'inet6 $SUBNET6_BASE'"
expect "pod 1 pings pod 2 over IPv4" ip netns exec "${D1##*/}" ping -c1 -W2 "${v4b%/*}"
expect "pod 1 pings pod 2 over IPv6" ip netns exec "${D1##*/}" ping -6 -c1 -W2 "${v6b%/*}"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect "two dual-stack ADDs and both pings took $elapsed ms: no DAD wait (under 1500)" test "$elapsed" -lt 1500
LEASES="$REPO/.build/release/podwire-leases"
expect "podwire-leases lists the 4 dual-stack leases with their live host veths" \
  bash -c \
    "$LEASES dual --data-dir $DATA --json | jq -e \
    'length == 4 and all(.hostVethExists) and (map(.containerID) | unique == [\"d1$RUN_ID\", \"d2$RUN_ID\"])'"
expect "podwire-leases prints a table" bash -c "$LEASES dual --data-dir $DATA | grep -q '^4 leases'"
expect "podwire-leases on an unknown network fails without creating it" \
  bash -c "! $LEASES nonet --data-dir $DATA 2>/dev/null && ! test -e $DATA/nonet"
for pod in d1 d2; do expect "dual-stack DEL $pod" env CNI_CONTAINERID="$pod$RUN_ID" "$CNITOOL" del dual \
  "/var/run/netns/pw$RUN_ID-$pod"; done
expect "no lease left after the dual-stack DELs" bash -c "[[ -z \"\$(leases_in $DATA/dual)\" ]]"
expect "podwire-leases then lists none" bash -c "$LEASES dual --data-dir $DATA --json | jq -e 'length == 0'"

# IPAM-only calls, as a main plugin makes them: podwire-ipam or the reference host-local.
# 1.0.0: the newest version Debian's reference host-local speaks.
ipam_conf() { # ipam_conf NETWORK SUBNET [EXTRA_TOP_KEYS] [EXTRA_IPAM_KEYS]
  printf '{"cniVersion":"1.0.0","name":"%s","type":"x","ipam":{"type":"host-local","subnet":"%s","dataDir":"%s"%s}%s}' \
    "$1" "$2" "$DATA" "${4:-}" "${3:-}"
}
ipam() { # ipam PLUGIN COMMAND CONTAINER CONFIG [ENV...] -> stdout of the plugin
  local plugin=$1 command=$2 id=$3 conf=$4; shift 4
  printf '%s' "$conf" | env CNI_COMMAND="$command" CNI_CONTAINERID="$id" CNI_NETNS=/var/run/netns/none CNI_IFNAME=eth0 \
    CNI_PATH="$CNI_PATH" "$@" "$WORK/bin/$plugin"
}

section "64 concurrent ADDs, half podwire-ipam, half the reference host-local, one dataDir"
conf=$(ipam_conf storm "$SUBNET_BASE.0/24")
for n in $(seq 64); do
  plugin=$([[ $((n % 2)) -eq 0 ]] && echo podwire-ipam || echo host-local)
  ( ipam "$plugin" ADD "storm$n" "$conf" > "$WORK/storm$n.json" 2>&1 ) &
done
wait
ok=$(cat "$WORK"/storm*.json | jq -r '.ips[0].address // empty' 2>/dev/null | wc -l)
distinct=$(cat "$WORK"/storm*.json | jq -r '.ips[0].address // empty' 2>/dev/null | sort -u | wc -l)
[[ $ok -eq 64 && $distinct -eq 64 ]] && pass "64 ADDs gave 64 distinct IPs" \
  || fail "64 ADDs gave 64 distinct IPs" "$ok succeeded, $distinct distinct"
expect "the store holds 64 leases" bash -c "[[ \$(leases_in $DATA/storm | wc -l) == 64 ]]"
for n in $(seq 64); do
  plugin=$([[ $((n % 2)) -eq 0 ]] && echo host-local || echo podwire-ipam)   # each DEL by the other plugin
  ( ipam "$plugin" DEL "storm$n" "$conf" >/dev/null 2>&1 ) &
done
wait
expect "after 64 DELs (each by the other plugin) only lock and last_reserved_ip.* remain" \
  bash -c "[[ -z \"\$(leases_in $DATA/storm)\" && -e $DATA/storm/lock ]]"

section "podwire-ipam under the reference bridge"
write_conflist refbridge "$(jq -nc --arg b "$BR" --arg s "$SUBNET_BASE.0/24" --arg d "$DATA" '
  [{type: "bridge", bridge: $b, isGateway: true, ipam: {type: "podwire-ipam", subnet: $s, dataDir: $d}}]')"
RB=$(new_netns rb)
expect "the reference bridge ADDs with podwire-ipam" bash -c \
  "CNI_CONTAINERID=rb$RUN_ID $CNITOOL add refbridge $RB > $WORK/rb.json"
expect "the pod has the address podwire-ipam leased" bash -c \
  "ip -n ${RB##*/} addr show eth0 | grep -q \"inet \$(jq -r '.ips[0].address' $WORK/rb.json)\" && test -e \
    $DATA/refbridge/\$(jq -r '.ips[0].address' $WORK/rb.json | cut -d/ -f1)"
expect "CHECK through the reference bridge reaches podwire-ipam and passes" env CNI_CONTAINERID="rb$RUN_ID" "$CNITOOL" \
  check refbridge "$RB"
expect "the reference bridge DELs with podwire-ipam" env CNI_CONTAINERID="rb$RUN_ID" "$CNITOOL" del refbridge "$RB"
expect "and the lease is released" bash -c "[[ -z \"\$(leases_in $DATA/refbridge)\" ]]"

section "exhaustion of a /29"
conf=$(ipam_conf small "$SUBNET_BASE.0/29")
for n in 1 2 3 4 5; do ipam podwire-ipam ADD "small$n" "$conf" >/dev/null || fail "ADD $n of 5 in a /29"; done
out=$(ipam podwire-ipam ADD small6 "$conf"); status=$?
[[ $status -ne 0 ]] && echo "$out" | jq -e \
  '.msg | contains("no IP addresses available in range set '"$SUBNET_BASE"'.1-'"$SUBNET_BASE"'.6")' >/dev/null \
  && pass "the sixth ADD fails naming the range: $(echo "$out" | jq -r .msg)" \
    || fail "the sixth ADD fails naming the range" "$out"
expect "nothing leaked: still 5 leases" bash -c "[[ \$(leases_in $DATA/small | wc -l) == 5 ]]"
status_conf=$(echo "$conf" | jq -c '.cniVersion = "1.1.0"')
expect "STATUS says code 50 while the range is full" bash -c \
  "echo '$status_conf' | CNI_COMMAND=STATUS $WORK/bin/podwire-ipam | jq -e '.code == 50'"
ipam podwire-ipam DEL small3 "$conf" >/dev/null
expect "after one DEL the next ADD succeeds" bash -c \
  "echo '$conf' | CNI_COMMAND=ADD CNI_CONTAINERID=small6 CNI_NETNS=/x CNI_IFNAME=eth0 $WORK/bin/podwire-ipam | jq -e \
  '.ips[0].address'"
expect "and STATUS is ready again once an address is free" bash -c \
  "ipam_out=\$(echo '$conf' | CNI_COMMAND=DEL CNI_CONTAINERID=small6 CNI_NETNS=/x CNI_IFNAME=eth0 \
  $WORK/bin/podwire-ipam; echo '$status_conf' | CNI_COMMAND=STATUS $WORK/bin/podwire-ipam); [[ -z \$ipam_out ]]"

section "requested addresses"
conf=$(ipam_conf req "$SUBNET_BASE.0/24")
expect "CNI_ARGS IP= gives that address" bash -c \
  "[[ \$(echo '$conf' | CNI_COMMAND=ADD CNI_CONTAINERID=r1 CNI_NETNS=/x CNI_IFNAME=eth0 \
  CNI_ARGS='IgnoreUnknown=1;IP=$SUBNET_BASE.71' $WORK/bin/podwire-ipam \
  | jq -r '.ips[0].address') == $SUBNET_BASE.71/24 ]]"
expect "args.cni.ips gives that address" bash -c \
  "[[ \$(echo '$(ipam_conf req "$SUBNET_BASE.0/24" ",\"args\":{\"cni\":{\"ips\":[\"$SUBNET_BASE.72\"]}}")' | \
  CNI_COMMAND=ADD CNI_CONTAINERID=r2 CNI_NETNS=/x CNI_IFNAME=eth0 $WORK/bin/podwire-ipam \
  | jq -r '.ips[0].address') == $SUBNET_BASE.72/24 ]]"
expect "runtimeConfig.ips gives that address" bash -c \
  "[[ \$(echo '$(ipam_conf req "$SUBNET_BASE.0/24" ",\"runtimeConfig\":{\"ips\":[\"$SUBNET_BASE.73/24\"]}")' | \
  CNI_COMMAND=ADD CNI_CONTAINERID=r3 CNI_NETNS=/x CNI_IFNAME=eth0 $WORK/bin/podwire-ipam \
  | jq -r '.ips[0].address') == $SUBNET_BASE.73/24 ]]"
expect "a requested address already leased is refused by name" bash -c \
  "echo '$conf' | CNI_COMMAND=ADD CNI_CONTAINERID=r4 CNI_NETNS=/x CNI_IFNAME=eth0 CNI_ARGS=IP=$SUBNET_BASE.71 \
  $WORK/bin/podwire-ipam | jq -e '.msg | contains(\"$SUBNET_BASE.71 is not available\")'"
expect "a requested address outside every range is refused" bash -c \
  "echo '$conf' | CNI_COMMAND=ADD CNI_CONTAINERID=r5 CNI_NETNS=/x CNI_IFNAME=eth0 CNI_ARGS=IP=192.0.2.9 \
  $WORK/bin/podwire-ipam | jq -e '.code == 7'"
expect "the reference host-local sees podwire's requested lease as taken" bash -c \
  "echo '$conf' | CNI_COMMAND=ADD CNI_CONTAINERID=r6 CNI_NETNS=/x CNI_IFNAME=eth0 CNI_ARGS=IP=$SUBNET_BASE.72 \
  CNI_PATH=$CNI_PATH $WORK/bin/host-local | jq -e '.msg | contains(\"$SUBNET_BASE.72\")'"
for n in 1 2 3; do ipam podwire-ipam DEL "r$n" "$conf" >/dev/null; done
expect "no lease left after the requested-address tests" bash -c "[[ -z \"\$(leases_in $DATA/req)\" ]]"

section "hostile names write nothing"
before=$(find "$WORK" | wc -l)
expect "a network name with ../ is code 7" bash -c \
  "echo '$(ipam_conf ../../escape "$SUBNET_BASE.0/24")' | CNI_COMMAND=ADD CNI_CONTAINERID=h1 CNI_NETNS=/x \
  CNI_IFNAME=eth0 $WORK/bin/podwire-ipam | jq -e '.code == 7'"
expect "a container ID with ../ is code 4" bash -c \
  "echo '$(ipam_conf hostile "$SUBNET_BASE.0/24")' | CNI_COMMAND=ADD CNI_CONTAINERID=../h2 CNI_NETNS=/x \
  CNI_IFNAME=eth0 $WORK/bin/podwire-ipam | jq -e '.code == 4'"
expect "an ifname of ../x is code 4" bash -c \
  "echo '$(ipam_conf hostile "$SUBNET_BASE.0/24")' | CNI_COMMAND=ADD CNI_CONTAINERID=h3 CNI_NETNS=/x CNI_IFNAME=../x \
  $WORK/bin/podwire-ipam | jq -e '.code == 4'"
# Where the store and its index would be for that name: $DATA/../../escape, and the index
# directory .podwire.../../escape.
escapes="$(realpath -m "$DATA/../../escape") $(realpath -m "$DATA/.podwire.../../escape")"
expect "none of them created a file ($escapes, or in $WORK)" \
  bash -c "[[ \$(find $WORK | wc -l) == $before ]] && for path in $escapes; do ! test -e \$path || exit 1; done"

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
if output=$(python3 "$REPO/netns-test/crash.py" "$PODWIRE" "$C" "$crash_conf" "$DATA" "crash$RUN_ID" \
    "${CRASH_TRIALS:-200}" "$WORK/made.links" 2>&1); then
  echo "$output" | head -1
  pass "$(echo "$output" | tail -1)"
else
  fail "SIGKILL trials leaked, or missed the calls they were to kill" "$output"
fi

finish
