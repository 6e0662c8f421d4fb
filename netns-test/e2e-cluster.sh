#!/usr/bin/env bash
# Pods on every node reach each other: five nodes, each a network namespace with its own
# bridge, store, nftables table and podwire-node daemon, on two segments joined by a router,
# so that peers on the other segment are reached over VXLAN; a three-member etcd cluster runs
# in three of the nodes. Then Kubernetes' "Granular Checks: Pods", over IPv4 and IPv6, with the
# sender's own address seen by every receiving pod, and the faults a cluster lives through.
source "$(dirname "$0")/lib.sh"
NODE_BIN=${PODWIRE_NODE:-$REPO/.build/release/podwire-node}
[[ -x $NODE_BIN ]] || { echo "no $NODE_BIN: scripts/build.sh builds it" >&2; exit 1; }
command -v etcd >/dev/null || { echo "no etcd: scripts/install-deps.sh installs it" >&2; exit 1; }

in_ns() { local ns=$1; shift; ip netns exec "pw$RUN_ID-$ns" "$@"; }
remember_pid() { echo "$1" >> "$WORK/made.pids"; }

# --- the underlay: switch A (nodes 1-3), switch B (nodes 4-5), a router between, and an
# "outside" network behind the router for masquerade.
for ns in swa swb router outside n1 n2 n3 n4 n5; do new_netns "$ns" >/dev/null; done
for sw in swa swb; do in_ns "$sw" ip link add br0 type bridge; in_ns "$sw" ip link set br0 up; done
plug() { # plug NS SWITCH IFNAME: a veth from NS (as IFNAME) into the switch's bridge
  local ns=$1 sw=$2 ifname=$3 port="p-$1"
  ip link add "$port$RUN_ID" type veth peer name "x$RUN_ID$ns"
  ip link set "$port$RUN_ID" netns "pw$RUN_ID-$sw"
  ip link set "x$RUN_ID$ns" netns "pw$RUN_ID-$ns"
  in_ns "$ns" ip link set "x$RUN_ID$ns" name "$ifname"
  in_ns "$sw" ip link set "$port$RUN_ID" master br0 up
  in_ns "$ns" ip link set "$ifname" up
  in_ns "$ns" ip link set lo up
}
declare -A UNDERLAY4 UNDERLAY6 SEGMENT
for n in 1 2 3 4 5; do
  if ((n <= 3)); then SEGMENT[$n]=a; net4=192.168.10 net6=fd10; else SEGMENT[$n]=b; net4=192.168.20 net6=fd20; fi
  plug "n$n" "sw${SEGMENT[$n]}" eth0
  UNDERLAY4[$n]=$net4.$n UNDERLAY6[$n]=$net6::$n
  in_ns "n$n" ip addr add "${UNDERLAY4[$n]}/24" dev eth0
  in_ns "n$n" ip addr add "${UNDERLAY6[$n]}/64" dev eth0 nodad
  in_ns "n$n" ip route add default via "$net4.254"
  in_ns "n$n" ip -6 route add default via "$net6::254"
  in_ns "n$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
done
plug router swa eth-a; plug router swb eth-b
in_ns router ip addr add 192.168.10.254/24 dev eth-a; in_ns router ip addr add fd10::254/64 dev eth-a nodad
in_ns router ip addr add 192.168.20.254/24 dev eth-b; in_ns router ip addr add fd20::254/64 dev eth-b nodad
in_ns router sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip link add "o$RUN_ID" type veth peer name "r$RUN_ID"
ip link set "o$RUN_ID" netns "pw$RUN_ID-outside"; ip link set "r$RUN_ID" netns "pw$RUN_ID-router"
in_ns outside ip link set "o$RUN_ID" up; in_ns router ip link set "r$RUN_ID" up
in_ns outside ip addr add 198.18.0.2/24 dev "o$RUN_ID"; in_ns router ip addr add 198.18.0.1/24 dev "r$RUN_ID"
in_ns outside ip route add default via 198.18.0.1

# --- etcd: three members, in nodes 1-3, on their underlay addresses.
ENDPOINTS="http://${UNDERLAY4[1]}:2379,http://${UNDERLAY4[2]}:2379,http://${UNDERLAY4[3]}:2379"
members="e1=http://${UNDERLAY4[1]}:2380,e2=http://${UNDERLAY4[2]}:2380,e3=http://${UNDERLAY4[3]}:2380"
start_etcd() { # start_etcd N
  local n=$1
  in_ns "n$n" etcd --name "e$n" --data-dir "$WORK/etcd$n" --log-level error \
    --listen-client-urls "http://${UNDERLAY4[$n]}:2379" --advertise-client-urls "http://${UNDERLAY4[$n]}:2379" \
    --listen-peer-urls "http://${UNDERLAY4[$n]}:2380" --initial-advertise-peer-urls "http://${UNDERLAY4[$n]}:2380" \
    --initial-cluster "$members" --initial-cluster-state "${2:-new}" >"$WORK/etcd$n.log" 2>&1 &
  echo $! > "$WORK/etcd$n.pid"; remember_pid $!
}
for n in 1 2 3; do start_etcd $n; done
etcdctl_n() { in_ns n1 etcdctl --endpoints "$ENDPOINTS" "$@"; }
for _ in $(seq 100); do etcdctl_n endpoint health >/dev/null 2>&1 && break; sleep 0.1; done

node() { in_ns "n$1" "$NODE_BIN" "${@:2}" --endpoints "$ENDPOINTS"; }
node 1 config --json '{"network4":"10.244.0.0/16","network6":"fd44::/48","backend":"auto"}' >/dev/null \
  || fail "set the cluster config"

# --- the daemons.
start_daemon() { # start_daemon N
  mkdir -p "$WORK/n$1/net.d"
  in_ns "n$1" "$NODE_BIN" run --name "node$1" --underlay eth0 --endpoints "$ENDPOINTS" \
    --conflist "$WORK/n$1/net.d/10-podwire.conflist" --bridge "pwb$RUN_ID" >>"$WORK/daemon$1.log" 2>&1 &
  echo $! > "$WORK/daemon$1.pid"; remember_pid $!
}
for n in 1 2 3 4 5; do start_daemon $n; done
for n in 1 2 3 4 5; do
  for _ in $(seq 100); do [[ -s $WORK/n$n/net.d/10-podwire.conflist ]] && break; sleep 0.1; done
done
subnet4() { jq -r '.plugins[0].ipam.ranges[][0].subnet | select(contains("."))' "$WORK/n$1/net.d/10-podwire.conflist"; }

section "five nodes, each with a subnet of its own"
subnets=$(for n in 1 2 3 4 5; do subnet4 $n; done | sort)
expect "every node wrote its conflist, with a different IPv4 subnet each: $(echo $subnets)" \
  bash -c "[[ \$(echo '$subnets' | grep -c '^10.244.') == 5 && \$(echo '$subnets' | sort -u | wc -l) == 5 ]]"

# --- a pod on each node, with a hostname server.
declare -A POD4 POD6
for n in 1 2 3 4 5; do
  ns=$(new_netns "pod$n")
  in_ns "pod$n" ip link set lo up   # a runtime's loopback plugin does this
  in_ns "n$n" env CNI_PATH="$CNI_PATH" NETCONFPATH="$WORK/n$n/net.d" CNI_CACHEDIR="$WORK/n$n/cache" \
    CNI_CONTAINERID="pod$n$RUN_ID" "$CNITOOL" add podwire "$ns" > "$WORK/pod$n.json" || fail "ADD the pod of node $n"
  POD4[$n]=$(jq -r '.ips[] | select(.address | contains(".")) | .address | split("/")[0]' "$WORK/pod$n.json")
  POD6[$n]=$(jq -r '.ips[] | select(.address | contains(":")) | .address | split("/")[0]' "$WORK/pod$n.json")
  in_ns "pod$n" python3 "$REPO/netns-test/hostname-server.py" "pod$n" 8083 8081 "${POD4[$n]}" "${POD6[$n]}" \
    >/dev/null 2>&1 &
  remember_pid $!
done
sleep 0.5

conformance() { # conformance FAMILY: every pod asks every pod, and every node every pod
  local family=$1 from to want answer bad=0 tried=0
  for from in 1 2 3 4 5; do
    for to in 1 2 3 4 5; do
      [[ $family == 4 ]] && want=${POD4[$to]} || want=${POD6[$to]}
      [[ $family == 4 ]] && src=${POD4[$from]} || src=${POD6[$from]}
      for proto in http udp; do
        tried=$((tried + 1))
        port=8083; [[ $proto == udp ]] && port=8081
        answer=$(in_ns "pod$from" python3 "$REPO/netns-test/hostname-client.py" "$proto" "$want" "$port" 2>&1)
        [[ $answer == "pod$to $src" ]] || { bad=$((bad + 1)); echo "        pod$from -> pod$to ($proto): $answer"; }
      done
    done
    for to in 1 2 3 4 5; do
      [[ $family == 4 ]] && want=${POD4[$to]} || want=${POD6[$to]}
      tried=$((tried + 1))
      answer=$(in_ns "n$from" python3 "$REPO/netns-test/hostname-client.py" http "$want" 8083 2>&1)
      [[ $answer == "pod$to "* ]] || { bad=$((bad + 1)); echo "        node$from -> pod$to: $answer"; }
    done
  done
  echo "        $tried requests, $bad wrong or unanswered"
  ((bad == 0))
}
section "Granular Checks: Pods, IPv4"
expect "every pod answers HTTP and UDP hostname requests from every pod and every node, and sees the sender's \
own address" \
  conformance 4
section "Granular Checks: Pods, IPv6"
expect "the same over IPv6" conformance 6

section "paths"
expect "node 1 reaches node 2's pods by a direct route (same segment)" \
  bash -c "ip -n pw$RUN_ID-n1 route show proto 112 | grep -q 'via ${UNDERLAY4[2]} dev eth0'"
expect "node 1 reaches node 4's pods over VXLAN (behind the router)" \
  bash -c "ip -n pw$RUN_ID-n1 route show proto 112 | grep -q 'dev podwire.vx onlink'"

section "traffic leaving the cluster"
in_ns outside python3 "$REPO/netns-test/peer-server.py" 9000 198.18.0.2 >/dev/null 2>&1 &
remember_pid $!
sleep 0.3
answer=$(in_ns pod4 python3 "$REPO/netns-test/peer-client.py" 198.18.0.2 9000 2>&1)
expect "a pod reaches an address outside the cluster, masqueraded as its node ($answer)" \
  test "$answer" == "${UNDERLAY4[4]}"

finish
