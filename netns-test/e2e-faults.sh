#!/usr/bin/env bash
# What goes wrong on a node: a store that is read-only or full, the bridge deleted under
# running pods, a lock left behind or held. Each must give a clear CNI error or recover,
# leave no link, and lose no lease. (SIGKILL trials are in e2e-ipam.sh.)
source "$(dirname "$0")/lib.sh"

BR=$(new_bridge_name f)
STORE="$WORK/store"
NETWORK="faults$RUN_ID"
mkdir -p "$STORE"
# A tmpfs of its own, small, so that it can be made read-only or filled; unmounted at exit.
mount -t tmpfs -o size=256k tmpfs "$STORE"
trap 'umount "$STORE" 2>/dev/null; cleanup' EXIT
conf=$(jq -nc --arg n "$NETWORK" --arg b "$BR" --arg s "$SUBNET_BASE.0/24" --arg d "$STORE" '
  {cniVersion: "1.0.0", name: $n, type: "podwire", bridge: $b, isGateway: true,
   ipam: {type: "host-local", subnet: $s, dataDir: $d}}')
P=$(new_netns pod)

call() { # call COMMAND ID [NETNS]: podwire's stdout; its status is the call's
  local netns=${3:-}
  [[ -z $netns ]] && netns=$(new_netns "$2")
  host_veth_of "$2" eth0 >/dev/null
  echo "$conf" | CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$netns CNI_IFNAME=eth0 "$PODWIRE"
}
leases() { leases_in "$STORE/$NETWORK" | sort | tr '\n' ' '; }
no_link_of() { ! ip link show "$(host_veth_of "$1" eth0)" >/dev/null 2>&1; }

section "a store that is read-only"
call ADD held1 >/dev/null || fail "ADD held1"
before=$(leases)
mount -o remount,ro "$STORE"
out=$(call ADD ro1); status=$?
expect "ADD fails with code 5 and says the store cannot be written: $(jq -r .msg <<< "$out")" \
  bash -c "[[ $status -ne 0 ]] && jq -e '.code == 5' <<< '$out'"
expect "and leaves no link" no_link_of ro1
out=$(call DEL held1 "$P"); status=$?
expect "DEL of a pod fails with code 5 while the store is read-only: $(jq -r .msg <<< "$out")" \
  bash -c "[[ $status -ne 0 ]] && jq -e '.code == 5' <<< '$out'"
mount -o remount,rw "$STORE"
expect "no lease was lost or added: $before" test "$(leases)" == "$before"
expect "once writable, DEL releases the pod's lease" bash -c \
  "echo '$conf' | CNI_COMMAND=DEL CNI_CONTAINERID=held1 CNI_NETNS=$P CNI_IFNAME=eth0 $PODWIRE && [[ -z \
  \"\$(leases_in $STORE/$NETWORK)\" ]]"

section "a store that is full"
call ADD full1 >/dev/null || fail "ADD full1"
before=$(leases)
head -c 1M /dev/zero > "$STORE/filler" 2>/dev/null
out=$(call ADD full2); status=$?
expect "ADD fails with code 5 on a full disk: $(jq -r .msg <<< "$out")" bash -c \
  "[[ $status -ne 0 ]] && jq -e '.code == 5' <<< '$out'"
expect "and leaves no link and no half-written lease" bash -c \
  "! ip link show $(host_veth_of full2 eth0) 2>/dev/null && [[ '$(leases)' == '$before' ]]"
rm -f "$STORE/filler"
expect "with space again, ADD works" bash -c \
  "echo '$conf' | CNI_COMMAND=ADD CNI_CONTAINERID=full3 CNI_NETNS=$(new_netns full3) CNI_IFNAME=eth0 $PODWIRE \
  >/dev/null"
expect "the first pod's lease is still there" bash -c "grep -l full1 $STORE/$NETWORK/$SUBNET_BASE.* >/dev/null"

section "the bridge deleted under running pods"
call ADD br1 >/dev/null || fail "ADD br1"
ip link del "$BR"
expect "the next ADD makes the bridge again and wires its pod" bash -c \
  "echo '$conf' | CNI_COMMAND=ADD CNI_CONTAINERID=br2 CNI_NETNS=$(new_netns br2) CNI_IFNAME=eth0 $PODWIRE >/dev/null \
  && ip link show $BR >/dev/null"
expect "DEL of a pod from before still removes its veth and lease" bash -c \
  "echo '$conf' | CNI_COMMAND=DEL CNI_CONTAINERID=br1 CNI_NETNS=/var/run/netns/pw$RUN_ID-br1 CNI_IFNAME=eth0 $PODWIRE \
  && ! ip link show $(host_veth_of br1 eth0) 2>/dev/null && ! grep -ql br1 $STORE/$NETWORK/$SUBNET_BASE.*"

section "a lock left behind, and a lock held"
before=$(leases)
# A process that held the lock and died: flock(1) holds it itself (-o keeps it from its
# child), and a SIGKILL ends it without any unlock of its own.
flock -o "$STORE/$NETWORK/lock" sleep 30 & holder=$!
sleep 0.3
sleeper=$(pgrep -P "$holder")
echo "$holder" >> "$WORK/made.pids"; echo "$sleeper" >> "$WORK/made.pids"
expect "(the lock is held while its holder lives)" bash -c "! flock -n $STORE/$NETWORK/lock true"
kill -KILL "$holder"; wait "$holder" 2>/dev/null
kill "$sleeper" 2>/dev/null
expect "a lock whose holder was killed does not stop ADD" \
  bash -c \
    "echo '$conf' | CNI_COMMAND=ADD CNI_CONTAINERID=lk1 CNI_NETNS=$(new_netns lk1) CNI_IFNAME=eth0 $PODWIRE >/dev/null"
before=$(leases)
flock "$STORE/$NETWORK/lock" sleep 15 &
echo $! >> "$WORK/made.pids"
sleep 0.3
start=$(date +%s)
out=$(call ADD lk2); status=$?
waited=$(( $(date +%s) - start ))
expect "while another process holds the lock, ADD waits, then fails with code 11 (try again) after ${waited} s: \
$(jq -r .msg <<< "$out")" \
  bash -c "[[ $status -ne 0 ]] && jq -e '.code == 11' <<< '$out' && (( $waited >= 9 && $waited <= 14 ))"
expect "and leaves no link and no lease" bash -c \
  "! ip link show $(host_veth_of lk2 eth0) 2>/dev/null && [[ '$(leases)' == '$before' ]]"

for id in full1 full3 br2 lk1; do call DEL "$id" "/var/run/netns/pw$RUN_ID-$id" >/dev/null || fail "DEL $id"; done
expect "after the DELs no lease is left" bash -c "[[ -z \"\$(leases_in $STORE/$NETWORK)\" ]]"
finish
