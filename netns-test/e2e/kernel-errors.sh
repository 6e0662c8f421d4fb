#!/usr/bin/env bash
# The kernel's own explanation of a refusal (its extended ack, NLMSGERR_ATTR_MSG) reaches
# the CNI error the runtime sees, and the failed ADD leaves nothing behind.
source "$(dirname "$0")/../lib/lib.sh"

BR=$(new_bridge_name k)
NETWORK="kernelerrors$RUN_ID"
STORE="$WORK/store"
# A route whose gateway is on no link of the pod: the kernel refuses it with "Nexthop has
# invalid gateway" and ENETUNREACH.
conf=$(jq -nc --arg n "$NETWORK" --arg b "$BR" --arg s "$SUBNET_BASE.0/24" --arg d "$STORE" '
  {cniVersion: "1.0.0", name: $n, type: "podwire", bridge: $b, isGateway: true,
   ipam: {type: "host-local", subnet: $s, dataDir: $d, routes: [{dst: "10.9.0.0/16", gw: "192.0.2.1"}]}}')
P=$(new_netns pod)
host_veth_of k1 eth0 >/dev/null

section "a route the kernel refuses"
out=$(cni_exec ADD k1 "$conf" "$P"); status=$?
msg=$(jq -r .msg <<< "$out")
expect "ADD fails: $msg" test "$status" -ne 0
expect "the CNI error carries the kernel's words" matches "$msg" "Network is unreachable: Nexthop has invalid gateway"
expect "and names the request" matches "$msg" "add route 10\.9\.0\.0/16 via 192\.0\.2\.1"
expect "no host end is left" lacks_link "$(host_veth_of k1 eth0)"
expect "no lease is left" no_leases "$STORE/$NETWORK"
expect "DEL afterwards succeeds" cni_exec DEL k1 "$conf" "$P"

finish
