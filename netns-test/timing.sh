#!/usr/bin/env bash
# A rough, interleaved timing of podwire next to the reference bridge + host-local, each
# call a real exec with a fresh pod netns. Prints medians; asserts nothing about time.
# ITERATIONS (default 15) sets the sample size. The full benchmark is issue 8's.
source "$(dirname "$0")/lib.sh"

ITERATIONS=${ITERATIONS:-15}
BR=$(new_bridge_name t)
conf() { # conf TYPE [MASQ]: with MASQ "true", ipMasq (podwire: nftables; reference: iptables)
  printf '{"cniVersion":"1.0.0","name":"timing-%s","type":"%s","bridge":"%s","isGateway":true,"isDefaultGateway":true,"ipMasq":%s,"ipam":{"type":"host-local","subnet":"%s.0/24","dataDir":"%s"}}' \
    "$1" "$1" "$BR" "${2:-false}" "$SUBNET_BASE" "$WORK/data"
}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2) / 1000}'; }

for plugin in podwire bridge; do
  for call in version add del add-masq del-masq; do : > "$WORK/$call.$plugin"; done
done
ns=$(new_netns t)
for i in $(seq "$ITERATIONS"); do
  for plugin in podwire bridge; do
    binary="$WORK/bin/$plugin"
    t0=$(now); CNI_COMMAND=VERSION "$binary" >/dev/null; t1=$(now)
    echo $(( (t1 - t0) / 1000 )) >> "$WORK/version.$plugin"
    env=(CNI_CONTAINERID="t$i$plugin" CNI_NETNS="$ns" CNI_IFNAME=eth0 CNI_PATH="$CNI_PATH")
    t0=$(now); conf "$plugin" | env CNI_COMMAND=ADD "${env[@]}" "$binary" >/dev/null || fail "$plugin ADD $i"; t1=$(now)
    conf "$plugin" | env CNI_COMMAND=DEL "${env[@]}" "$binary" >/dev/null || fail "$plugin DEL $i"; t2=$(now)
    echo $(( (t1 - t0) / 1000 )) >> "$WORK/add.$plugin"
    echo $(( (t2 - t1) / 1000 )) >> "$WORK/del.$plugin"
    t0=$(now); conf "$plugin" true | env CNI_COMMAND=ADD "${env[@]}" "$binary" >/dev/null || fail "$plugin ADD ipMasq $i"; t1=$(now)
    conf "$plugin" true | env CNI_COMMAND=DEL "${env[@]}" "$binary" >/dev/null || fail "$plugin DEL ipMasq $i"; t2=$(now)
    echo $(( (t1 - t0) / 1000 )) >> "$WORK/add-masq.$plugin"
    echo $(( (t2 - t1) / 1000 )) >> "$WORK/del-masq.$plugin"
  done
done

printf '\n%-8s %12s %12s %8s   (medians of %d, ms)\n' call podwire reference ratio "$ITERATIONS"
for call in version add del add-masq del-masq; do
  p=$(median < "$WORK/$call.podwire"); r=$(median < "$WORK/$call.bridge")
  printf '%-8s %12.2f %12.2f %8.2f\n' "$call" "$p" "$r" "$(echo "$p / $r" | bc -l)"
done
pass "timed $ITERATIONS ADD/DEL pairs of each plugin, with and without ipMasq, interleaved"
finish
