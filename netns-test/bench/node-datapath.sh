#!/usr/bin/env bash
# One node's data path: TCP throughput (iperf3, one stream) between two pods on one bridge,
# and from a client outside the node to a pod through a host port, for three nodes built
# alike in one run, each a network namespace with a client beside it:
#   podwire     podwire with masquerade and a host port (nftables sets and maps);
#   reference   the reference bridge with masquerade, and portmap (iptables chains);
#   by hand     a bridge and veths made with ip, no firewall rule at all: the kernel's own
#               cost. Its "host port" transfer goes to the pod's own address, without DNAT.
#
#   netns-test/bench/node-datapath.sh          SECONDS_EACH=5 ROUNDS=5 for other lengths
#
# Each figure is the median of ROUNDS transfers, every kind taken in turn in each round.
source "$(dirname "$0")/../lib/lib.sh"
SECONDS_EACH=${SECONDS_EACH:-5} ROUNDS=${ROUNDS:-5} HOST_PORT=18080
command -v iperf3 >/dev/null || { echo "no iperf3: scripts/install-deps.sh installs it" >&2; exit 1; }
[[ -x $REFERENCE_DIR/bridge && -x $REFERENCE_DIR/portmap ]] || { echo "no reference plugins" >&2; exit 1; }

in_ns() { local ns=$1; shift; ip netns exec "pw$RUN_ID-$ns" "$@"; }
NODE_ADDRESS=() SUBNET=()
# node KIND N: netns node-KIND with its client (client-KIND) on 172.31.N.0/24.
node() {
  new_netns "node-$1" >/dev/null; new_netns "client-$1" >/dev/null
  in_ns "node-$1" ip link add eth0 type veth peer name eth0 netns "pw$RUN_ID-client-$1"
  in_ns "node-$1" ip link set lo up; in_ns "node-$1" ip link set eth0 up
  in_ns "node-$1" ip addr add "172.31.$2.1/24" dev eth0
  in_ns "client-$1" ip link set lo up; in_ns "client-$1" ip link set eth0 up
  in_ns "client-$1" ip addr add "172.31.$2.2/24" dev eth0
  in_ns "client-$1" ip route add default via "172.31.$2.1"
  in_ns "node-$1" sysctl -qw net.ipv4.ip_forward=1
}
# cni_pods KIND CONFLIST: pods a and b of node-KIND through CONFLIST, b with the host port.
cni_pods() {
  local kind=$1 pod ports
  mkdir -p "$WORK/$kind"
  echo "$2" > "$WORK/$kind/bench.conflist"
  for pod in a b; do
    new_netns "$kind-$pod" >/dev/null
    ports='{}'
    [[ $pod == b ]] && ports=$(jq -nc --argjson port "$HOST_PORT" \
      '{portMappings: [{hostPort: $port, containerPort: 5201, protocol: "tcp"}]}')
    RUNTIME_NETNS="pw$RUN_ID-node-$kind" NETCONFPATH="$WORK/$kind" CNI_CACHEDIR="$WORK/$kind/cache" CAP_ARGS="$ports" \
      runtime_exec add bench "$kind-$pod-$RUN_ID" "/var/run/netns/pw$RUN_ID-$kind-$pod" > "$WORK/$kind-$pod.json" \
      || fail "ADD pod $pod of the $kind node"
  done
}
address_of() { jq -r '.ips[0].address | split("/")[0]' "$WORK/$1.json"; }
# plugin TYPE EXTRA: the main plugin's config, the same for podwire and the reference bridge.
plugin() {
  local extra=${2:-'{}'}
  jq -nc --arg type "$1" --arg data "$WORK/data-$1" --argjson extra "$extra" '{type: $type, bridge: "cni0",
    isGateway: true, isDefaultGateway: true, ipMasq: true,
    ipam: {type: "host-local", ranges: [[{subnet: "10.88.0.0/24"}]], dataDir: $data}} + $extra'
}

node podwire 1
cni_pods podwire "{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"plugins\":[$(plugin podwire \
  '{"capabilities":{"portMappings":true}}')]}"
node reference 2
cni_pods reference "{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"plugins\":[$(plugin bridge),
  {\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true},\"snat\":true}]}"

node hand 3
in_ns node-hand ip link add cni0 type bridge; in_ns node-hand ip addr add 10.88.0.1/24 dev cni0
in_ns node-hand ip link set cni0 up
for pod in a b; do
  new_netns "hand-$pod" >/dev/null
  address=10.88.0.$([[ $pod == a ]] && echo 2 || echo 3)
  in_ns node-hand ip link add "veth$pod" type veth peer name eth0 netns "pw$RUN_ID-hand-$pod"
  in_ns node-hand ip link set "veth$pod" master cni0 up
  in_ns "hand-$pod" ip link set lo up; in_ns "hand-$pod" ip link set eth0 up
  in_ns "hand-$pod" ip addr add "$address/24" dev eth0; in_ns "hand-$pod" ip route add default via 10.88.0.1
  echo "{\"ips\":[{\"address\":\"$address/24\"}]}" > "$WORK/hand-$pod.json"
done
in_ns client-hand ip route add 10.88.0.0/24 via 172.31.3.1

section "the three nodes"
expect "podwire wrote its host port into the node's nftables map" \
  says "$HOST_PORT" ip netns exec "pw$RUN_ID-node-podwire" nft list ruleset
expect "the reference portmap wrote its iptables chain" \
  says "dport $HOST_PORT" ip netns exec "pw$RUN_ID-node-reference" iptables-save -t nat
expect "the hand-made node has no firewall rule" prints_nothing ip netns exec "pw$RUN_ID-node-hand" nft list ruleset

declare -A results
kinds=()
for kind in podwire reference hand; do
  kinds+=("$kind pod to pod:$kind-a:$kind-b:$(address_of "$kind-b"):5201")
  if [[ $kind == hand ]]; then
    kinds+=("$kind host port:client-$kind:$kind-b:$(address_of "$kind-b"):5201")
  else
    n=$([[ $kind == podwire ]] && echo 1 || echo 2)
    kinds+=("$kind host port:client-$kind:$kind-b:172.31.$n.1:$HOST_PORT")
  fi
done
iperf_rounds "$ROUNDS" "${kinds[@]}"

section "throughput"
printf '%-28s %10s %10s %10s %12s %12s\n' "one node, TCP (Gbit/s)" podwire reference "by hand" \
  "podwire/hand" "podwire/ref"
for path in "pod to pod" "host port"; do
  p=$(median <<< "${results[podwire $path]}") r=$(median <<< "${results[reference $path]}")
  h=$(median <<< "${results[hand $path]}")
  expect "the $path transfers ran ($ROUNDS rounds of each kind)" test -n "$p" -a -n "$r" -a -n "$h"
  awk -v label="$path" -v p="${p:-0}" -v r="${r:-1}" -v h="${h:-1}" \
    'BEGIN { printf "%-28s %10.2f %10.2f %10.2f %12.2f %12.2f\n", label, p / 1e9, r / 1e9, h / 1e9, p / h, p / r }'
done
echo "every transfer (Gbit/s), to judge the spread:"
for kind in "${!results[@]}"; do
  printf '  %-22s %s\n' "$kind" "$(tr ' ' '\n' <<< "${results[$kind]}" | grep . | awk '{printf "%.2f ", $1 / 1e9}')"
done | sort
finish
