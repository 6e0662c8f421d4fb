#!/usr/bin/env bash
# A live pod of a network no suite knows, as a node's other pods are: made before the test
# command's suites and checked after them. A suite that cleans up by name prefix, GCs a
# network not its own or deletes a table it did not make takes something of it away.
#
#   netns-test/sentinel.sh up DIR      makes the pod; DIR keeps what it made
#   netns-test/sentinel.sh check DIR   checks the pod is whole, then removes it and DIR;
#                                      ends with "sentinel: N passed, N failed"
#   netns-test/sentinel.sh down DIR    removes it (what check does last), quietly
#
# It uses the default dataDir, /var/lib/cni/networks, as a runtime's pods do.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PODWIRE=${PODWIRE:-$REPO/.build/release/podwire}
command=$1 dir=$2

config() {
  # shellcheck disable=SC1091
  source "$dir/names"
  jq -nc --arg net "$NETWORK" --arg br "$BRIDGE" --argjson port "$PORT" --arg subnet "$SUBNET" \
    '{cniVersion: "1.1.0", name: $net, type: "podwire", bridge: $br, isDefaultGateway: true, ipMasq: true,
      runtimeConfig: {portMappings: [{hostPort: $port, containerPort: 80, protocol: "tcp"}]},
      ipam: {type: "host-local", subnet: $subnet}}'
}
cni() { config | CNI_COMMAND=$1 CNI_CONTAINERID=$ID CNI_NETNS=/var/run/netns/$NETNS CNI_IFNAME=eth0 "$PODWIRE"; }

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
    python3 "$REPO/netns-test/podnames.py" "$ID" eth0 > "$dir/veth"
    echo "a live pod of network $NETWORK on bridge $BRIDGE, $(jq -r '.ips[0].address' "$dir/result.json")"
    ;;
  check)
    source "$dir/names"
    passed=0 failed=0
    check() {
      if eval "$2" >/dev/null 2>&1; then passed=$((passed + 1)); echo "  ok    $1"
      else failed=$((failed + 1)); echo "  FAIL  $1"; fi
    }
    address=$(jq -r '.ips[0].address' "$dir/result.json" | cut -d/ -f1)
    veth=$(cat "$dir/veth")
    check "its host end $veth is still on $BRIDGE" "ip -o link show $veth | grep -q 'master $BRIDGE'"
    check "its lease $address is still there" "test -e /var/lib/cni/networks/$NETWORK/$address"
    check "its masquerade and host-port entries are still there" \
      "[[ \$(nft list table inet podwire | grep -c 'comment \"$NETWORK $ID eth0\"') -ge 3 ]]"
    check "it still pings its gateway" "ip netns exec $NETNS ping -c1 -W2 $(jq -r '.ips[0].gateway' "$dir/result.json")"
    check "CHECK passes" "jq -c --slurpfile prev $dir/result.json '. + {prevResult: \$prev[0]}' <<< '$(config)' \
      | CNI_COMMAND=CHECK CNI_CONTAINERID=$ID CNI_NETNS=/var/run/netns/$NETNS CNI_IFNAME=eth0 $PODWIRE"
    down
    echo "sentinel: $passed passed, $failed failed"
    [[ $failed -eq 0 ]]
    ;;
  down) down ;;
  *) echo "usage: $0 up|check|down DIR" >&2; exit 2 ;;
esac
