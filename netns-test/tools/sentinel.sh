#!/usr/bin/env bash
# A live pod of a network no suite knows, as a node's other pods are: made before the test
# command's suites and checked after them. A suite that cleans up by name prefix, GCs a
# network not its own or deletes a table it did not make takes something of it away.
#
#   netns-test/tools/sentinel.sh up DIR      makes the pod; DIR keeps what it made
#   netns-test/tools/sentinel.sh check DIR   checks the pod is whole, then removes it and DIR;
#                                      ends with "sentinel: N passed, N failed"
#   netns-test/tools/sentinel.sh down DIR    removes it (what check does last), quietly
#
# It uses the default dataDir, /var/lib/cni/networks, as a runtime's pods do.
PODWIRE_LIB_ONLY=1 source "$(dirname "$0")/../lib/lib.sh"
command=$1 dir=$2

config() {
  # shellcheck disable=SC1091
  source "$dir/names"
  jq -nc --arg net "$NETWORK" --arg br "$BRIDGE" --argjson port "$PORT" --arg subnet "$SUBNET" \
    '{cniVersion: "1.1.0", name: $net, type: "podwire", bridge: $br, isDefaultGateway: true, ipMasq: true,
      runtimeConfig: {portMappings: [{hostPort: $port, containerPort: 80, protocol: "tcp"}]},
      ipam: {type: "host-local", subnet: $subnet}}'
}
cni() { cni_exec "$1" "$ID" "${2:-$(config)}" "/var/run/netns/$NETNS" "$PODWIRE"; }  # cni COMMAND [CONFIG]

down() {
  [[ -f $dir/names ]] || return 0
  # shellcheck disable=SC1091
  source "$dir/names"
  cni DEL >/dev/null 2>&1
  ip netns del "$NETNS" 2>/dev/null
  ip link del "$BRIDGE" 2>/dev/null
  # The table goes only if the pod's ADD made it and no other element is in it.
  if [[ $TABLE_WAS_THERE == 0 ]] && ! nft list table inet podwire 2>/dev/null | grep -q 'comment "'; then
    nft delete table inet podwire 2>/dev/null
  fi
  rm -rf "/var/lib/cni/networks/.podwire.$NETWORK" "/var/lib/cni/networks/$NETWORK" "$dir"
}

case $command in
  up)
    mkdir -p "$dir"
    run=$(printf '%04x%02x' $((RANDOM)) $((RANDOM % 256)))
    cat > "$dir/names" <<EOF
NETWORK=sentinel$run
BRIDGE=pws$run
NETNS=sentinel$run
ID=sentinel$run
PORT=$((20000 + RANDOM % 20000))
SUBNET=10.$((236 + RANDOM % 4)).$((RANDOM % 250)).0/24
TABLE_WAS_THERE=$(nft list table inet podwire >/dev/null 2>&1 && echo 1 || echo 0)
EOF
    source "$dir/names"
    ip netns add "$NETNS" || exit 1
    cni ADD > "$dir/result.json" || { cat "$dir/result.json"; down; exit 1; }
    attachment_name host-veth "$NETWORK" "$ID" eth0 > "$dir/veth"
    echo "a live pod of network $NETWORK on bridge $BRIDGE, $(jq -r '.ips[0].address' "$dir/result.json")"
    ;;
  check)
    source "$dir/names"
    SUITE=sentinel PASSED=0 FAILED=0 SKIPPED=0
    address=$(jq -r '.ips[0].address' "$dir/result.json" | cut -d/ -f1)
    veth=$(cat "$dir/veth")
    entries() { nft list table inet podwire | grep -c "comment \"$NETWORK $ID eth0\""; }
    expect "its host end $veth is still on $BRIDGE" link_shows "$veth" "master $BRIDGE"
    expect "its lease $address is still there" test -e "/var/lib/cni/networks/$NETWORK/$address"
    expect "its masquerade and host-port entries are still there" at_least "$(entries)" 3
    gateway=$(jq -r '.ips[0].gateway' "$dir/result.json")
    expect "it still pings its gateway" ip netns exec "$NETNS" ping -c1 -W2 "$gateway"
    expect "CHECK passes" \
      cni CHECK "$(jq -c --slurpfile prev "$dir/result.json" '. + {prevResult: $prev[0]}' <<< "$(config)")"
    down
    finish
    ;;
  down) down ;;
  *) echo "usage: $0 up|check|down DIR" >&2; exit 2 ;;
esac
