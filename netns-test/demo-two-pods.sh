#!/usr/bin/env bash
# The two-pod demo: two pod network namespaces wired by podwire through libcni, as a
# runtime would, then pinged, inspected and torn down. Leaves nothing behind.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/podwire-demo-XXXX)
BR=pwdemo$$
BR=${BR:0:15}
PODS=(podwire-demo-a podwire-demo-b)
cleanup() {
  for pod in "${PODS[@]}"; do ip netns del "$pod" 2>/dev/null || true; done
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/bin" "$WORK/conf"
ln -s "$REPO/.build/release/podwire" "$WORK/bin/podwire"
ln -s /usr/lib/cni/loopback "$WORK/bin/loopback"
export CNI_PATH="$WORK/bin" NETCONFPATH="$WORK/conf" CNI_CACHEDIR="$WORK/cache"
cat > "$WORK/conf/demo.conflist" <<CONF
{
  "cniVersion": "1.0.0",
  "name": "demo",
  "plugins": [
    { "type": "podwire", "bridge": "$BR", "isGateway": true, "isDefaultGateway": true,
      "ipam": { "type": "host-local", "subnet": "10.254.77.0/24", "dataDir": "$WORK/leases" } },
    { "type": "loopback" }
  ]
}
CONF
cnitool() { "$REPO/netns-test/bin/podwire-cnitool" "$@"; }
if [[ -t 1 ]]; then say() { printf '\n\033[1m%s\033[0m\n' "$*"; }; else say() { printf '\n%s\n' "$*"; }; fi

say "1. A runtime creates two pod network namespaces"
for pod in "${PODS[@]}"; do ip netns add "$pod"; echo "   ip netns add $pod"; done

say "2. and calls podwire ADD for each, through libcni (conflist: $WORK/conf/demo.conflist)"
declare -A IP
for pod in "${PODS[@]}"; do
  CNI_CONTAINERID="$pod" cnitool add demo "/var/run/netns/$pod" > "$WORK/$pod.json"
  IP[$pod]=$(jq -r '.ips[0].address' "$WORK/$pod.json")
  printf '   %-16s got %s\n' "$pod" "${IP[$pod]}"
done

say "3. Inside pod A: its interface and routes"
ip -n podwire-demo-a -br addr show dev eth0 | sed 's/^/   /'
ip -n podwire-demo-a route | sed 's/^/   /'

say "4. Pod A pings pod B, and the gateway on the bridge"
ip netns exec podwire-demo-a ping -c2 -W2 "${IP[podwire-demo-b]%/*}" | sed -n '1,3p' | sed 's/^/   /'
ip netns exec podwire-demo-a ping -c1 -W2 10.254.77.1 | sed -n '2p' | sed 's/^/   /'

say "5. The result podwire printed for pod A (what the runtime stores)"
jq . "$WORK/podwire-demo-a.json" | sed 's/^/   /'

say "6. The lease files, in the reference host-local's format"
for f in "$WORK/leases/demo/"*; do printf '   %-22s %s\n' "$(basename "$f")" "$(sed -z 's/\r/\\r/g; s/\n/\\n/g' "$f")"; done

say "7. DEL both pods: veths removed, leases released"
for pod in "${PODS[@]}"; do CNI_CONTAINERID="$pod" cnitool del demo "/var/run/netns/$pod"; done
echo "   leases left: $(ls "$WORK/leases/demo" | grep -cvE '^(lock|last_reserved_ip)' || true)"
echo "   host veths left on $BR: $(ip -o link show master "$BR" 2>/dev/null | wc -l)"
echo
