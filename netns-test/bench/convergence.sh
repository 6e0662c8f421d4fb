#!/usr/bin/env bash
# How long a joining node takes to become reachable, against etcd's own latency in the same run.
#
#   netns-test/bench/convergence.sh          SIZES="5 50" JOINS=20 for other runs
#
# For each cluster size N: nodes 1..N-1 run their daemons, each with a pod; node N joins JOINS
# times (its daemon started, then stopped and the node removed), after a join not measured.
# A peer has converged with the joining node when both hold a route to the other's subnets
# (IPv4 and IPv6), as `ip -ts monitor route` in each node sees the kernel add them; the time
# counts from the moment the joining daemon is started. After each join, every peer's pod
# pings the joining node's pod over both families. Beside it, etcd's own put-to-watch-event
# latency through the same gateway (netns-test/tools/etcd-watch.py), with the daemons running, and
# the moment the joining node's record reached a watcher. It asserts only that every join
# converged.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"
SIZES=${SIZES:-"5 50"} JOINS=${JOINS:-20}
largest=$(tr ' ' '\n' <<< "$SIZES" | sort -n | tail -1)
WATCH="$REPO/netns-test/tools/etcd-watch.py"

cluster_underlay "$(seq -s ' ' 1 "$largest")" ""
cluster_etcd 1
cluster_config '{"network4":"10.64.0.0/12","network6":"fd64::/48","subnetLength4":24,"subnetLength6":64}'
for n in $(seq 1 "$largest"); do
  ip -n "pw$RUN_ID-n$n" -ts monitor route > "$WORK/monitor$n.txt" 2>&1 &
  remember_pid $!
done
ip netns exec "pw$RUN_ID-n1" python3 "$WATCH" events "${ENDPOINTS%%,*}" /podwire/nodes/ > "$WORK/events.txt" &
remember_pid $!

pings() { # pings FROM TO: pod FROM reaches pod TO over both families
  local address
  for address in "${POD4[$2]}" "${POD6[$2]}"; do
    in_ns "pod$1" ping -q -c1 -W2 "$address" >/dev/null && continue
    echo "    pod$1 -> pod$2 ($address): no answer"
    return 1
  done
}

# Samples, one line each: SIZE JOIN PEER MILLISECONDS (peers), SIZE JOIN MILLISECONDS (records)
: > "$WORK/peers.txt"; : > "$WORK/joins.txt"
running=0
for size in $SIZES; do
  section "$size nodes: node $size joins $JOINS times"
  steady=$(seq -s ' ' 1 $((size - 1)))
  for n in $(seq $((running + 1)) $((size - 1))); do start_daemon "$n"; done
  for n in $(seq $((running + 1)) $((size - 1))); do
    wait_for_conflist "$n" && { [[ -n ${POD4[$n]:-} ]] || wire_pod "$n"; }
  done
  running=$((size - 1))
  # shellcheck disable=SC2086
  expect "the $running running nodes hold a route to each other" eventually 60 holds_routes $((size - 2)) $steady
  ip netns exec "pw$RUN_ID-n1" python3 "$WATCH" latency "${ENDPOINTS%%,*}" 200 > "$WORK/etcd$size.txt"
  failed_joins=0 unreachable=0
  # Join 0 is not measured: it wires the joining node's pod, whose IPv6 address needs a moment.
  for join in $(seq 0 "$JOINS"); do
    in_ns "n$size" ip route flush proto "$PODWIRE_ROUTE_PROTO"
    in_ns "n$size" ip -6 route flush proto "$PODWIRE_ROUTE_PROTO"
    start=$(date +%s%N)
    start_daemon "$size"
    sleep 1   # polling every node's routes would take the CPU the daemons converge with
    # shellcheck disable=SC2086
    if ! eventually 30 holds_routes $((size - 1)) $steady "$size"; then failed_joins=$((failed_joins + 1)); continue; fi
    if ((join == 0)); then
      wire_pod "$size"; sleep 2
    else
      echo "$size $join $start $(subnets "$size" | tr '\n' ' ')" >> "$WORK/starts.txt"
    fi
    for n in $steady; do pings "$n" "$size" || unreachable=$((unreachable + 1)); done
    stop_daemon "$size"
    node 1 remove "node$size"
    # shellcheck disable=SC2086
    eventually 30 holds_routes $((size - 2)) $steady || failed_joins=$((failed_joins + 1))
  done
  # The joining node is gone, and so are its pods: a node that runs again later registers
  # afresh, perhaps with another subnet, and wires a pod of its own then.
  unwire_pod "$size" && unset "POD4[$size]" "POD6[$size]"
  expect "node $size joined $JOINS times and every peer held its routes within 30 s" test "$failed_joins" -eq 0
  expect "after each join, every peer's pod reached the joining pod over IPv4 and IPv6" test "$unreachable" -eq 0
  for n in $(seq 1 "$size"); do echo "$n $(subnets "$n" | tr '\n' ' ')"; done > "$WORK/subnets$size.txt"
done

# Timestamps from the monitors, matched to the joins; percentiles per size.
python3 - "$WORK" "$SIZES" "$PODWIRE_ROUTE_PROTO" <<'PY'
import datetime, math, re, sys
work, sizes, route_proto = sys.argv[1], [int(s) for s in sys.argv[2].split()], sys.argv[3]
line_re = re.compile(r"^\[([0-9T:.-]+)\] (\S+) ")

def added(node):
    """(nanoseconds, destination) of every route the node's monitor saw added."""
    out = []
    for line in open(f"{work}/monitor{node}.txt"):
        m = line_re.match(line)
        if m and f"proto {route_proto}" in line:
            stamp = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
            out.append((round(stamp * 1e9), m.group(2)))
    return out

def first_after(events, start, destinations):
    times = [min((t for t, d in events if t >= start and d == dest), default=None) for dest in destinations]
    return None if None in times else max(times)

def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

records = [(int(t), key) for t, kind, key in (l.split() for l in open(f"{work}/events.txt")) if kind == "PUT"]
starts = [l.split() for l in open(f"{work}/starts.txt")]
rows = []
for size in sizes:
    subnets = {int(l.split()[0]): l.split()[1:] for l in open(f"{work}/subnets{size}.txt")}
    monitors = {n: added(n) for n in range(1, size + 1)}
    peers, joins, registered, theres, backs = [], [], [], [], []
    for s, _, start, *joining in starts:
        if int(s) != size:
            continue
        start = int(start)
        times = []
        for peer in range(1, size):
            there = first_after(monitors[peer], start, joining)
            back = first_after(monitors[size], start, subnets[peer])
            if there is not None and back is not None:
                times.append((max(there, back) - start) / 1e6)
                theres.append((there - start) / 1e6)
                backs.append((back - start) / 1e6)
        peers += times
        if len(times) == size - 1:
            joins.append(max(times))
        seen = [t for t, key in records if t >= start and key == f"/podwire/nodes/node{size}"]
        if seen:
            registered.append((min(seen) - start) / 1e6)
    etcd = [float(l) for l in open(f"{work}/etcd{size}.txt")]
    for label, values in [(f"{size} nodes: a peer reaches the joining node (ms)", peers),
                          (f"{size} nodes: every peer reaches it (ms)", joins),
                          (f"{size} nodes:   a peer's route to it (ms)", theres),
                          (f"{size} nodes:   its route to a peer (ms)", backs),
                          (f"{size} nodes: its record reaches a watcher (ms)", registered),
                          (f"{size} nodes: etcd put to watch event (ms)", etcd)]:
        if values:
            rows.append((label, percentile(values, 50), percentile(values, 99), len(values)))
        else:
            rows.append((label, float("nan"), float("nan"), 0))
print()
print(f"{'':56} {'p50':>8} {'p99':>8} {'samples':>8}")
for label, p50, p99, count in rows:
    print(f"{label:56} {p50:8.1f} {p99:8.1f} {count:8d}")
PY
finish
