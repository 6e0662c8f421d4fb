#!/usr/bin/env bash
# ADD and DEL cost against the number of leases already in the store: medians at 1, 500
# and 1000 existing leases on a /22, podwire and the reference bridge + host-local
# interleaved, each call a real exec with a real veth. A benchmark: it asserts only that
# every call succeeded. SAMPLES (default 11) and COUNTS ("1 500 1000") are parameters.
source "$(dirname "$0")/lib.sh"

SAMPLES=${SAMPLES:-11}
COUNTS=${COUNTS:-1 500 1000}
BR=$(new_bridge_name n)
NS=$(new_netns n)
SUBNET="10.$((250 + RANDOM % 4)).$((RANDOM % 63 * 4)).0/22"
conf() { printf '{"cniVersion":"1.0.0","name":"density","type":"%s","bridge":"%s","ipam":{"type":"host-local","subnet":"%s","dataDir":"%s"}}' "$1" "$BR" "$SUBNET" "$WORK/data"; }
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.2f", (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2) / 1000}'; }

# Leases of pods that are not ours: written in the reference's format, from the top of the
# range down, so that round-robin allocation starts just as on a busy node.
populate() {
  python3 - "$WORK/data/density" "$SUBNET" "$1" <<'PY'
import ipaddress, os, sys
directory, subnet, count = sys.argv[1], ipaddress.ip_network(sys.argv[2]), int(sys.argv[3])
os.makedirs(directory, exist_ok=True)
hosts = list(subnet.hosts())[1:]
for name in os.listdir(directory):
    if name[0].isdigit():
        os.remove(os.path.join(directory, name))
for i, address in enumerate(hosts[-count:]):
    with open(os.path.join(directory, str(address)), "w") as f:
        f.write(f"existing{i}\r\neth0")
PY
}

printf '\n%-9s %-8s %10s %10s %7s   (medians of %d, ms)\n' leases call podwire reference ratio "$SAMPLES"
for count in $COUNTS; do
  populate "$count"
  for plugin in podwire bridge; do : > "$WORK/add.$plugin"; : > "$WORK/del.$plugin"; done
  for i in $(seq "$SAMPLES"); do
    for plugin in podwire bridge; do
      env=(CNI_CONTAINERID="d$count-$i-$plugin" CNI_NETNS="$NS" CNI_IFNAME=eth0 CNI_PATH="$CNI_PATH")
      t0=$(now); conf "$plugin" | env CNI_COMMAND=ADD "${env[@]}" "$WORK/bin/$plugin" >/dev/null || fail "$plugin ADD at $count"; t1=$(now)
      conf "$plugin" | env CNI_COMMAND=DEL "${env[@]}" "$WORK/bin/$plugin" >/dev/null || fail "$plugin DEL at $count"; t2=$(now)
      echo $(( (t1 - t0) / 1000 )) >> "$WORK/add.$plugin"; echo $(( (t2 - t1) / 1000 )) >> "$WORK/del.$plugin"
    done
  done
  for call in add del; do
    p=$(median < "$WORK/$call.podwire"); r=$(median < "$WORK/$call.bridge")
    printf '%-9s %-8s %10s %10s %7.2f\n' "$count" "$call" "$p" "$r" "$(echo "$p / $r" | bc -l)"
  done
done
pass "ADD/DEL at ${COUNTS// /, } existing leases, $SAMPLES samples each"
finish
