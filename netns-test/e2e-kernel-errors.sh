#!/usr/bin/env bash
# The kernel's own explanation of a refusal (its extended ack, NLMSGERR_ATTR_MSG) reaches
# the CNI error the runtime sees, and the failed ADD leaves nothing behind.
source "$(dirname "$0")/lib.sh"

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
out=$(echo "$conf" | CNI_COMMAND=ADD CNI_CONTAINERID=k1 CNI_NETNS=$P CNI_IFNAME=eth0 "$PODWIRE"); status=$?
msg=$(jq -r .msg <<< "$out")
expect "ADD fails: $msg" test "$status" -ne 0
expect "the CNI error carries the kernel's words" grep -q "Network is unreachable: Nexthop has invalid gateway" <<< \
  "$msg"
expect "and names the request" grep -q "add route 10.9.0.0/16 via 192.0.2.1" <<< "$msg"
expect "no host end is left" bash -c "! ip link show $(host_veth_of k1 eth0) 2>/dev/null"
expect "no lease is left" test -z "$(leases_in "$STORE/$NETWORK" 2>/dev/null)"
expect "DEL afterwards succeeds" bash -c \
  "echo '$conf' | CNI_COMMAND=DEL CNI_CONTAINERID=k1 CNI_NETNS=$P CNI_IFNAME=eth0 $PODWIRE"

finish
