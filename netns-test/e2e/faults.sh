#!/usr/bin/env bash
# What goes wrong on a node: a store that is read-only or full, the bridge deleted under
# running pods, a lock left behind or held. Each must give a clear CNI error or recover,
# leave no link, and lose no lease. (SIGKILL trials are in e2e/ipam.sh.)
source "$(dirname "$0")/../lib/lib.sh"

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

pod_call() { # pod_call COMMAND ID: the call for pod ID, in a netns of its own (made on first use)
  local netns=/var/run/netns/pw$RUN_ID-$2
  [[ -e $netns ]] || new_netns "$2" >/dev/null
  host_veth_of "$2" eth0 >/dev/null
  cni_exec "$1" "$2" "$conf" "$netns"
}
leases() { leases_in "$STORE/$NETWORK" | sort | tr '\n' ' '; }
no_link_of() { lacks_link "$(host_veth_of "$1" eth0)"; }
message() { jq -r .msg <<< "$1"; }
store_leases_are() { is "$(leases)" "$1"; }
holds_a_lease() { grep -l "$1" "$STORE/$NETWORK/$SUBNET_BASE".* >/dev/null; }  # holds_a_lease ID

section "a store that is read-only"
pod_call ADD held1 >/dev/null || fail "ADD held1"
before=$(leases)
mount -o remount,ro "$STORE"
expect "ADD fails with code 5 and says the store cannot be written: $(message "$(pod_call ADD ro1)")" \
  cni_error 5 pod_call ADD ro1
expect "and leaves no link" no_link_of ro1
expect "DEL of a pod fails with code 5 while the store is read-only: $(message "$(cni_exec DEL held1 "$conf" "$P")")" \
  cni_error 5 cni_exec DEL held1 "$conf" "$P"
mount -o remount,rw "$STORE"
expect "no lease was lost or added: $before" store_leases_are "$before"
expect "once writable, DEL succeeds" cni_exec DEL held1 "$conf" "$P"
expect "  and releases the pod's lease" no_leases "$STORE/$NETWORK"

section "a store that is full"
pod_call ADD full1 >/dev/null || fail "ADD full1"
before=$(leases)
head -c 1M /dev/zero > "$STORE/filler" 2>/dev/null
expect "ADD fails with code 5 on a full disk: $(message "$(pod_call ADD full2)")" cni_error 5 pod_call ADD full2
expect "and leaves no link" no_link_of full2
expect "  and no half-written lease" store_leases_are "$before"
rm -f "$STORE/filler"
expect "with space again, ADD works" into /dev/null pod_call ADD full3
expect "the first pod's lease is still there" holds_a_lease full1

section "the bridge deleted under running pods"
pod_call ADD br1 >/dev/null || fail "ADD br1"
ip link del "$BR"
expect "the next ADD wires its pod" into /dev/null pod_call ADD br2
expect "  and makes the bridge again" has_link "$BR"
expect "DEL of a pod from before succeeds" pod_call DEL br1
expect "  and removes its veth" no_link_of br1
refute "  and its lease" holds_a_lease br1

section "a lock left behind, and a lock held"
before=$(leases)
# A process that held the lock and died: flock(1) holds it itself (-o keeps it from its
# child), and a SIGKILL ends it without any unlock of its own.
flock -o "$STORE/$NETWORK/lock" sleep 30 & holder=$!
sleep 0.3
sleeper=$(pgrep -P "$holder")
echo "$holder" >> "$WORK/made.pids"; echo "$sleeper" >> "$WORK/made.pids"
refute "(the lock is held while its holder lives)" flock -n "$STORE/$NETWORK/lock" true
kill -KILL "$holder"; wait "$holder" 2>/dev/null
kill "$sleeper" 2>/dev/null
expect "a lock whose holder was killed does not stop ADD" into /dev/null pod_call ADD lk1
before=$(leases)
flock "$STORE/$NETWORK/lock" sleep 15 &
echo $! >> "$WORK/made.pids"
sleep 0.3
start=$(date +%s)
out=$(pod_call ADD lk2); status=$?
waited=$(( $(date +%s) - start ))
answered() { echo "$out"; return "$status"; }  # the call above, as it answered
expect "while another process holds the lock, ADD waits, then fails with code 11 (try again): $(message "$out")" \
  cni_error 11 answered
expect "  after 9 to 14 s (${waited} s)" test "$waited" -ge 9 -a "$waited" -le 14
expect "and leaves no link" no_link_of lk2
expect "  and no lease" store_leases_are "$before"

for id in full1 full3 br2 lk1; do pod_call DEL "$id" >/dev/null || fail "DEL $id"; done
expect "after the DELs no lease is left" no_leases "$STORE/$NETWORK"
finish
