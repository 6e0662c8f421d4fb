#!/usr/bin/env bash
# Twenty nodes joining at once: twenty daemons started together against one etcd, each in its
# own network namespace on one segment. No two may hold one subnet, every node must reach
# every other, and when all twenty restart together each keeps the subnets it had.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"
NODES=$(seq -s ' ' 1 20)

cluster_underlay "$NODES" ""
cluster_etcd 1
cluster_config '{"network4":"10.246.0.0/16","network6":"fd46::/48"}' || fail "set the cluster config"
subnets_of() { local n; for n in $NODES; do echo $(subnets "$n"); done; }
# shellcheck disable=SC2086
routes_everywhere() { holds_routes 19 $NODES; }  # a route to each of the 19 others, per family
all_conflists() { local n; for n in $NODES; do [[ -s $WORK/n$n/net.d/10-podwire.conflist ]] || return 1; done; }

section "twenty daemons started at once"
for n in $NODES; do start_daemon "$n"; done
expect "all twenty wrote their conflists within 30 s" eventually 30 all_conflists
first=$(subnets_of)
v4=$(awk '{print $1}' <<< "$first") v6=$(awk '{print $2}' <<< "$first")
expect "twenty different IPv4 subnets" is "$(sort -u <<< "$v4" | grep -c '^10\.246\.')" 20
expect "  and twenty different IPv6 subnets" is "$(sort -u <<< "$v6" | grep -c '^fd46:')" 20
expect "etcd holds one subnet key per subnet, each naming its node" \
  is "$(etcdctl_n get --prefix --keys-only /podwire/subnets/ | grep -c .)" 40
expect "every node holds a route to each of the nineteen others, both families, within 30 s" \
  eventually 30 routes_everywhere
expect "podwire-node nodes lists twenty, all alive" is "$(node 1 nodes 2>/dev/null | grep -c '  alive$')" 20

section "twenty daemons restarted at once"
for n in $NODES; do kill "$(cat "$WORK/daemon$n.pid")"; done
all_gone() { local n; for n in $NODES; do process_gone "$(cat "$WORK/daemon$n.pid")" || return 1; done; }
expect "all twenty stop on SIGTERM within 10 s" eventually 10 all_gone
for n in $NODES; do rm -f "$WORK/n$n/net.d/10-podwire.conflist"; start_daemon "$n"; done
expect "all twenty wrote their conflists again" eventually 30 all_conflists
expect "each kept the subnets it had" is "$(subnets_of)" "$first"
expect "and every node still reaches every other" eventually 30 routes_everywhere
finish
