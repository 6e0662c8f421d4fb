#!/usr/bin/env bash
# The node daemon's own costs, measured: one node (a network namespace with etcd beside it)
# and synthetic peers written straight into etcd as node records, each a subnet of its own
# and an underlay address on the node's link, so every peer is one direct route.
#
#   netns-test/bench/cluster.sh            PEERS=1000 IDLE_PEERS=50 for other sizes
#
# It prints the time from the daemon's start until the kernel holds a route to every peer,
# the daemon's resident memory with the peers and per peer, and the CPU it uses over 10 s
# with IDLE_PEERS peers and nothing changing, and how often its threads woke meanwhile (their
# context switches). It asserts only that every measurement ran.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"
PEERS=${PEERS:-1000} IDLE_PEERS=${IDLE_PEERS:-50}

cluster_underlay "1" ""
cluster_etcd 1
cluster_config '{"network4":"10.64.0.0/10","subnetLength4":24,"backend":"direct"}'
in_ns n1 ip addr add 172.20.0.1/16 dev eth0

# Peers as records in etcd, each with its subnet key, as a registration writes them.
write_peers() { # write_peers FIRST LAST
  python3 - "$1" "$2" > "$WORK/peers.txt" <<'PY'
import json, sys
first, last = int(sys.argv[1]), int(sys.argv[2])
for n in range(first, last + 1):
    subnet = f"10.{64 + n // 256}.{n % 256}.0/24"
    record = {"name": f"peer{n}", "addresses": [f"172.20.{n // 250}.{n % 250 + 2}"],
              "vtepMAC": "02:00:00:%02x:%02x:%02x" % (n >> 16 & 255, n >> 8 & 255, n & 255), "subnets": [subnet]}
    print(f"put /podwire/nodes/peer{n} '{json.dumps(record)}'")
    # The subnet's key names the peer as its holder: without it the record is not believed.
    print(f"put /podwire/subnets/{subnet.replace('/', '-')} 'peer{n}'")
PY
  while read -r _ key value; do etcdctl_n put "$key" "${value:1:-1}" >/dev/null; done < "$WORK/peers.txt"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# Per thread of the daemon, "TID CONTEXT-SWITCHES CPU-NANOSECONDS" (schedstat, finer than clock
# ticks): each wake-up from a wait is a context switch. Threads come and go (the runtime's
# workers), so they are compared thread by thread; delta COLUMN BEFORE AFTER sums the change.
threads_now() {
  local task
  for task in /proc/"$1"/task/*; do
    echo "${task##*/} $(awk '/ctxt_switches/ {sum += $2} END {print sum}' "$task/status" 2>/dev/null) \
$(cut -d' ' -f1 "$task/schedstat" 2>/dev/null)"
  done
}
delta() {
  awk -v c="$1" 'NR == FNR {before[$1] = $c; next} {sum += $c - ($1 in before ? before[$1] : 0)} END {print sum}' \
    "$2" "$3"
}
routes() { podwire_routes 1 | wc -l; }

section "idle: $IDLE_PEERS peers, nothing changing"
write_peers 1 "$IDLE_PEERS"
start_daemon 1; pid=$(cat "$WORK/daemon1.pid")
for _ in $(seq 300); do (( $(routes) == IDLE_PEERS )) && break; sleep 0.1; done
sleep 2
threads_now "$pid" > "$WORK/threads.before"
sleep 10
threads_now "$pid" > "$WORK/threads.after"
idle_switches=$(delta 2 "$WORK/threads.before" "$WORK/threads.after")
idle_ms=$(awk -v ns="$(delta 3 "$WORK/threads.before" "$WORK/threads.after")" 'BEGIN {printf "%.2f", ns / 1e6}')
threads=$(ls "/proc/$pid/task" | wc -l)
idle_rss=$(rss_kib "$pid")
expect "the daemon programmed $IDLE_PEERS routes, then used $idle_ms ms of CPU and woke $idle_switches times \
in 10 s; RSS $idle_rss KiB" \
  test "$(routes)" -eq "$IDLE_PEERS"
kill "$pid"; for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done

section "cold start with $PEERS peers"
write_peers $((IDLE_PEERS + 1)) "$PEERS"
ip -n "pw$RUN_ID-n1" route flush proto $PODWIRE_ROUTE_PROTO
start=$(date +%s%N)
start_daemon 1; pid=$(cat "$WORK/daemon1.pid")
for _ in $(seq 1200); do (( $(routes) >= PEERS )) && break; sleep 0.02; done
took=$(( ($(date +%s%N) - start) / 1000000 ))
rss=$(rss_kib "$pid")
per_peer=$(( (rss - idle_rss) * 1024 / (PEERS - IDLE_PEERS) ))
expect "a route to each of $PEERS peers $took ms after the daemon started; RSS $rss KiB, \
about $per_peer bytes per peer beyond $IDLE_PEERS" test "$(routes)" -eq "$PEERS"
echo
printf '%-58s %s\n' "daemon, $PEERS peers from a cold start (ms)" "$took" \
  "daemon RSS with $PEERS peers (KiB)" "$rss" "memory per peer (bytes)" "$per_peer" \
  "daemon CPU over 10 s idle with $IDLE_PEERS peers (ms)" "$idle_ms" \
  "daemon wake-ups over those 10 s, all $threads threads" "$idle_switches" \
  "daemon RSS with $IDLE_PEERS peers (KiB)" "$idle_rss"
finish
