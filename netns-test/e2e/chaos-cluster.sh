#!/usr/bin/env bash
# Random faults against a running cluster, with every pod pair probed throughout: four nodes
# (node 4 behind the router, reached over VXLAN), a three-member etcd, a pod on each with a
# host port, which the pod of the node before it probes, and a host outside the cluster
# reached through masquerade. Faults come from a seeded generator,
# one every 2 to 4 s, overlapping (a member paused while a daemon restarts). For each kind:
# how often it came, the median and longest outage the probes saw, and whether the node was
# back to no drift afterwards. At the end every node shows no drift and every pair answers.
#
#   netns-test/e2e/chaos-cluster.sh        CHAOS_SECONDS=600 CHAOS_SEED=N for other runs
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"
SECONDS_TO_RUN=${CHAOS_SECONDS:-60}
SEED=${CHAOS_SEED:-$(( $(date +%s) % 32768 ))}
NODES="1 2 3 4"
echo "seed $SEED (CHAOS_SEED=$SEED replays this run's faults), $SECONDS_TO_RUN s"

cluster_underlay "1 2 3" "4"
cluster_etcd 1 2 3
cluster_config '{"network4":"10.248.0.0/16","network6":"fd48::/48","backend":"auto"}' || fail "set the cluster config"
for n in $NODES; do start_daemon "$n"; done
for n in $NODES; do wait_for_conflist "$n" || fail "node $n wrote its conflist"; done
for n in $NODES; do
  CAP_ARGS='{"portMappings":[{"hostPort":9081,"containerPort":8081,"protocol":"udp"}]}' add_pod "$n" ||
    fail "ADD the pod of node $n, with host port 9081"
done
ip netns exec "pw$RUN_ID-outside" python3 "$REPO/netns-test/tools/hostname-server.py" outside 8083 8081 198.18.0.2 \
  >/dev/null 2>&1 &
remember_pid $!
# shellcheck disable=SC2086
expect "every node holds a route to each of the three others, both families" eventually 30 holds_routes 3 $NODES

# One prober per pod: every other pod over both families, the next node's host port, and the
# outside host. A target is labelled SOURCE-TARGET-FAMILY, a host port SOURCE-TARGET-hp, the
# outside host SOURCE-out-4.
for n in $NODES; do
  targets=()
  for m in $NODES; do
    [[ $m == "$n" ]] && continue
    targets+=("$n-$m-4=${POD4[$m]}" "$n-$m-6=${POD6[$m]}")
  done
  m=$((n % 4 + 1))
  targets+=("$n-$m-hp=${UNDERLAY4[$m]},9081" "$n-out-4=198.18.0.2")
  # ip netns exec directly, not the in_ns function: $! is then the prober's own PID, which the
  # cleanup stops (a function's subshell would leave the prober running).
  ip netns exec "pw$RUN_ID-pod$n" python3 "$REPO/netns-test/tools/prober.py" 0.25 8081 "$WORK/probes$n.txt" \
    "${targets[@]}" &
  remember_pid $!
done
all_answer() { # the last round of every prober: every target answered
  local n; for n in $NODES; do
    [[ -s $WORK/probes$n.txt ]] || return 1
    tail -8 "$WORK/probes$n.txt" | awk '$3 != 1 { print "no answer: " $2; bad = 1 } END { exit bad }' || return 1
  done
}
expect "every pod answers every other pod over IPv4 and IPv6, a host port, and the outside host" \
  eventually 20 all_answer

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# fault KIND NODE: makes the fault; prints the command that lifts it, or nothing when the
# fault is a removal that the daemon is to heal.
fault() {
  local n=$2
  case $1 in
    daemon-kill) kill -9 "$(cat "$WORK/daemon$n.pid")"; echo "start_daemon $n" ;;
    etcd-pause) kill -STOP "$(cat "$WORK/etcd$n.pid")"; echo "kill -CONT $(cat "$WORK/etcd$n.pid")" ;;
    etcd-kill) kill -9 "$(cat "$WORK/etcd$n.pid")"; echo "start_etcd $n existing" ;;
    # The link's default routes and its IPv6 address (keep_addr_on_down is off) go with it;
    # the node's network manager would put them back.
    link-flap) in_ns "n$n" ip link set eth0 down
      local net4=192.168.10 net6=fd10; [[ ${SEGMENT[$n]} == b ]] && net4=192.168.20 net6=fd20
      echo "in_ns n$n ip link set eth0 up; in_ns n$n ip addr replace ${UNDERLAY6[$n]}/64 dev eth0 nodad;" \
        "in_ns n$n ip route replace default via $net4.254;" \
        "in_ns n$n ip -6 route replace default via $net6::254" ;;
    vxlan-delete) in_ns "n$n" ip link del podwire.vx ;;
    route-flush) in_ns "n$n" ip route flush proto "$PODWIRE_ROUTE_PROTO"
      in_ns "n$n" ip -6 route flush proto "$PODWIRE_ROUTE_PROTO" ;;
    neighbour-flush) in_ns "n$n" ip neigh flush dev podwire.vx nud permanent ;;
    forwarding-off) in_ns "n$n" sysctl -qw net.ipv4.ip_forward=0 ;;
    conflist-delete) rm -f "$WORK/n$n/net.d/10-podwire.conflist" ;;
    bridge-delete) in_ns "n$n" ip link del "pwb$RUN_ID" ;;
    nft-flush) in_ns "n$n" nft flush ruleset ;;
    # The operator removes the node; its daemon stops, saying so, and its supervisor starts it
    # again: it joins again, with the same subnet (the first free one), and its pod keeps talking.
    node-rejoin) node "$n" remove "node$n" >/dev/null
      echo "exits $(cat "$WORK/daemon$n.pid"); start_daemon $n" ;;
  esac
}
exits() { # exits PID: waits (10 s at most) for the process to end
  local deadline=$((SECONDS + 10))
  while kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
}
settles() { # settles KIND NODE: waits (10 s at most) for the node to show no drift; records whether it did
  local deadline=$((SECONDS + 10))
  until node "$2" status --name "node$2" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { echo "$1 drift" >> "$WORK/drift.txt"; return; }
    sleep 0.2
  done
  echo "$1 drift-free" >> "$WORK/drift.txt"
}
KINDS=(daemon-kill etcd-pause etcd-kill link-flap vxlan-delete route-flush neighbour-flush forwarding-off
       conflist-delete bridge-delete nft-flush node-rejoin)

section "faults for $SECONDS_TO_RUN s (seed $SEED)"
RANDOM=$SEED
: > "$WORK/faults.txt"
end=$((SECONDS + SECONDS_TO_RUN))
declare -A lifting=()   # node or member -> the PID of the subshell that lifts its fault
while ((SECONDS < end)); do
  kind=${KINDS[RANDOM % ${#KINDS[@]}]}
  case $kind in etcd-*) n=$((RANDOM % 3 + 1)) key="etcd$n" ;; *) n=$((RANDOM % 4 + 1)) key="node$n" ;; esac
  # One node out of the cluster at a time: two rejoining at once could take each other's subnet.
  if [[ $kind == node-rejoin ]] && [[ -n ${lifting[rejoin]:-} ]] && kill -0 "${lifting[rejoin]}" 2>/dev/null; then
    continue
  fi
  hold=$((1000 + RANDOM % 2000))    # a fault that is lifted lasts 1 to 3 s
  pause=$((2000 + RANDOM % 2000))   # the next fault comes 2 to 4 s later
  # One fault at a time on a node or member; a busy one is left alone this round.
  if [[ -n ${lifting[$key]:-} ]] && kill -0 "${lifting[$key]}" 2>/dev/null; then
    sleep "$(printf '0.%03d' $((pause % 1000)))"; continue
  fi
  # An etcd member is faulted only while the other two answer: the cluster keeps its quorum.
  if [[ $kind == etcd-* ]]; then
    healthy=0; for m in 1 2 3; do [[ $m != "$n" ]] && member_healthy "$m" && healthy=$((healthy + 1)); done
    ((healthy == 2)) || { sleep 1; continue; }
  fi
  start=$(now_ms)
  lift=$(fault "$kind" "$n")
  if [[ -n $lift ]]; then
    (sleep "$((hold / 1000)).$(printf '%03d' $((hold % 1000)))"; lifted=$(now_ms); eval "$lift" >/dev/null 2>&1
     echo "$kind $n $start $lifted" >> "$WORK/faults.txt"
     [[ $key == node* ]] && settles "$kind" "$n") &
    lifting[$key]=$!
    [[ $kind == node-rejoin ]] && lifting[rejoin]=$!
  else
    echo "$kind $n $start $start" >> "$WORK/faults.txt"
  fi
  sleep "$((pause / 1000)).$(printf '%03d' $((pause % 1000)))"
  # Back to no drift within the pause? Asked of the node the fault was on, when it was a node's.
  if [[ $key == node* ]] && [[ -z $lift ]]; then
    node "$n" status --name "node$n" >/dev/null 2>&1 && echo "$kind drift-free" >> "$WORK/drift.txt" \
      || echo "$kind drift" >> "$WORK/drift.txt"
  fi
done
wait_lifts() { local pid; for pid in "${lifting[@]}"; do kill -0 "$pid" 2>/dev/null && return 1; done; return 0; }
eventually 30 wait_lifts || fail "every fault was lifted"

section "afterwards"
# shellcheck disable=SC2086
expect "every node holds a route to each of the three others again, within 30 s" eventually 30 holds_routes 3 $NODES
no_drift() { # prints the status of a node with drift
  local n out
  for n in $NODES; do out=$(node "$n" status --name "node$n" 2>&1) || { echo "node $n: $out"; return 1; }; done
}
expect "every node shows no drift, within 10 s" eventually 10 no_drift
expect "every pair answers over both families, and the outside host too" eventually 10 all_answer
no_duplicates() { # no pod address is held twice across the nodes' stores
  local dupes; dupes=$(for n in $NODES; do leases_in "$WORK/n$n/leases/podwire"; done | sort | uniq -d)
  [[ -z $dupes ]] || { echo "held twice: $dupes"; false; }
}
expect "no address is held twice across the nodes' stores" no_duplicates
expect "each store holds exactly its pod's two addresses" \
  is "$(for n in $NODES; do leases_in "$WORK/n$n/leases/podwire" | wc -l; done | sort -u)" 2
all_running() { local n; for n in $NODES; do kill -0 "$(cat "$WORK/daemon$n.pid")" 2>/dev/null || return 1; done; }
expect "every daemon runs (the killed ones started again, as a supervisor would)" all_running

# Per fault kind: how often, and the outage the probes saw on the pairs of the faulted node
# (every pair for an etcd member's fault): from the fault until the last failed round before
# every such pair answered again, counted after the fault was lifted.
python3 - "$WORK" "$SEED" "$SECONDS_TO_RUN" <<'PY' | tee "$WORK/table.txt"
import collections, statistics, sys
work, seed, duration = sys.argv[1], sys.argv[2], sys.argv[3]
rounds = collections.defaultdict(dict)   # time -> label -> ok
for n in "1234":
    for line in open(f"{work}/probes{n}.txt"):
        t, label, ok = line.split()
        rounds[int(t)][label] = ok == "1"
times = sorted(rounds)
faults = [l.split() for l in open(f"{work}/faults.txt")]
drift = collections.defaultdict(collections.Counter)   # kind -> drift-free | drift -> count
try:
    for line in open(f"{work}/drift.txt"):
        kind, state = line.split()
        drift[kind][state] += 1
except FileNotFoundError:
    pass
outages = collections.defaultdict(list)
for kind, node, start, lifted in faults:
    start, lifted = int(start), int(lifted)
    def involved(label):
        if kind.startswith("etcd"):
            return True
        source, target, _ = label.split("-")
        return node in (source, target)
    last_bad = None
    for t in times:
        if t < start - 250:
            continue
        if t > lifted + 30000:
            break
        if any(involved(l) and not ok for l, ok in rounds[t].items()):
            last_bad = t
        elif t >= lifted + 1000 and (last_bad is None or t - last_bad >= 1000):
            break   # a second of clean rounds after the fault was lifted: it is over
    outage = 0 if last_bad is None or last_bad < lifted else last_bad + 250 - lifted
    outages[kind].append(outage)
print(f"seed {seed}, {duration} s, {len(faults)} faults")
print(f"{'fault':18} {'count':>6} {'median ms':>10} {'max ms':>8} {'no drift after':>15}")
for kind in sorted(outages):
    values = outages[kind]
    checked = drift[kind]["drift-free"] + drift[kind]["drift"]
    after = f"{drift[kind]['drift-free']}/{checked}" if checked else "-"
    print(f"{kind:18} {len(values):6d} {statistics.median(values):10.0f} {max(values):8.0f} {after:>15}")
free = sum(c["drift-free"] for c in drift.values())
print(f"status after a removal: {free} drift-free, {sum(c['drift'] for c in drift.values())} with drift")
PY
finish
