# shellcheck shell=bash
# A small cluster in network namespaces, for the cluster suites, benchmarks and demo (sourced
# after lib.sh, which names and cleans up everything made here): nodes on two switched
# segments joined by a router, an "outside" network behind the router, etcd members in some
# nodes, a podwire-node daemon and a pod with a hostname server on each node.
#
#   cluster_underlay "1 2 3" "4 5"     nodes n1-n3 on segment A, n4-n5 on segment B; with
#                                       UNDERLAY_FAMILIES=6, the nodes' links have IPv6 only
#   cluster_etcd 1 2 3                  etcd members in those nodes; ENDPOINTS is set
#   cluster_config JSON; start_daemon N; wait_for_conflist N; add_pod N
#   start_tor                           FRR as the router between the segments (WITH_BIRD=1: the
#                                       daemons keep BIRD in the run's directory)
NODE_BIN=${PODWIRE_NODE:-$REPO/.build/release/podwire-node}
[[ -x $NODE_BIN ]] || { echo "no $NODE_BIN: scripts/build.sh builds it" >&2; exit 1; }
command -v etcd >/dev/null || { echo "no etcd: scripts/install-deps.sh installs it" >&2; exit 1; }

in_ns() { local ns=$1; shift; ip netns exec "pw$RUN_ID-$ns" "$@"; }
remember_pid() { echo "$1" >> "$WORK/made.pids"; }
# Background processes are started with ip netns exec itself, which execs the command:
# $! is then the process, not a subshell that would leave it behind when killed.
declare -A UNDERLAY4 UNDERLAY6 SEGMENT POD4 POD6
# etcd, stopping gracefully, waits for peers that may already be gone: its members get
# SIGKILL at exit, before lib.sh's cleanup sends the rest SIGTERM.
kill_etcd() { while read -r pid; do kill -9 "$pid" 2>/dev/null; done < <(cat "$WORK/made.etcd" 2>/dev/null); }
trap 'kill_etcd; cleanup' EXIT

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

cluster_underlay() { # cluster_underlay "NODES ON A" "NODES ON B"
  local n net4 net6 ns
  for ns in swa swb router outside; do new_netns "$ns" >/dev/null; done
  for n in $1 $2; do new_netns "n$n" >/dev/null; done
  for sw in swa swb; do in_ns "$sw" ip link add br0 type bridge; in_ns "$sw" ip link set br0 up; done
  for n in $1 $2; do
    if [[ " $1 " == *" $n "* ]]; then SEGMENT[$n]=a net4=192.168.10 net6=fd10; else
      SEGMENT[$n]=b net4=192.168.20 net6=fd20; fi
    plug "n$n" "sw${SEGMENT[$n]}" eth0
    UNDERLAY4[$n]=$net4.$n UNDERLAY6[$n]=$net6::$n
    if [[ ${UNDERLAY_FAMILIES:-4 6} == *4* ]]; then
      in_ns "n$n" ip addr add "${UNDERLAY4[$n]}/24" dev eth0
      in_ns "n$n" ip route add default via "$net4.254"
    else
      UNDERLAY4[$n]=""
    fi
    in_ns "n$n" ip addr add "${UNDERLAY6[$n]}/64" dev eth0 nodad
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
}

underlay_host() { [[ -n ${UNDERLAY4[$1]} ]] && echo "${UNDERLAY4[$1]}" || echo "[${UNDERLAY6[$1]}]"; }
cluster_etcd() { # cluster_etcd NODE...: one member in each, on its underlay address
  local n urls=() peers=()
  for n in "$@"; do
    urls+=("http://$(underlay_host "$n"):2379"); peers+=("e$n=http://$(underlay_host "$n"):2380")
  done
  ENDPOINTS=$(IFS=,; echo "${urls[*]}") MEMBERS=$(IFS=,; echo "${peers[*]}") ETCD_NODE=$1
  for n in "$@"; do start_etcd "$n"; done
  for _ in $(seq 100); do etcdctl_n endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
}
start_etcd() { # start_etcd N [existing]
  local n=$1 host; host=$(underlay_host "$1")
  ip netns exec "pw$RUN_ID-n$n" etcd --name "e$n" --data-dir "$WORK/etcd$n" --log-level error \
    --listen-client-urls "http://$host:2379" --advertise-client-urls "http://$host:2379" \
    --listen-peer-urls "http://$host:2380" --initial-advertise-peer-urls "http://$host:2380" \
    --initial-cluster "$MEMBERS" --initial-cluster-state "${2:-new}" >"$WORK/etcd$n.log" 2>&1 &
  echo $! > "$WORK/etcd$n.pid"; echo $! >> "$WORK/made.etcd"
  disown $!   # killed at exit with SIGKILL: no job notice for it
  # A member that joins an existing cluster is waited for: it answers once it has a leader.
  [[ ${2:-} == existing ]] && eventually 20 member_healthy "$n"
  return 0
}
# stop_etcd N: the member stops, and its process is gone, so that a start after it finds its
# ports and data directory free.
stop_etcd() {
  local pid; pid=$(cat "$WORK/etcd$1.pid")
  kill "$pid" 2>/dev/null
  eventually 10 process_gone "$pid" || kill -9 "$pid" 2>/dev/null
}
# member_healthy N: the member answers for itself.
member_healthy() {
  in_ns "n$1" etcdctl --endpoints "http://$(underlay_host "$1"):2379" endpoint health >/dev/null 2>&1
}
etcdctl_n() { in_ns "n$ETCD_NODE" etcdctl --endpoints "$ENDPOINTS" "$@"; }

node() { in_ns "n$1" "$NODE_BIN" "${@:2}" --endpoints "$ENDPOINTS"; }
cluster_config() { node "$ETCD_NODE" config --json "$1" >/dev/null; }

start_daemon() { # start_daemon N; NODE_ARGS: more options for run
  mkdir -p "$WORK/n$1/net.d"
  # shellcheck disable=SC2086 # NODE_ARGS is a list of words
  ip netns exec "pw$RUN_ID-n$1" "$NODE_BIN" run --name "node$1" --underlay eth0 --endpoints "$ENDPOINTS" \
    --conflist "$WORK/n$1/net.d/10-podwire.conflist" --bridge "pwb$RUN_ID" --data-dir "$WORK/n$1/leases" \
    ${WITH_BIRD:+--bgp-dir "$WORK/n$1/bird"} ${NODE_ARGS:-} \
    >>"$WORK/daemon$1.log" 2>&1 &
  echo $! > "$WORK/daemon$1.pid"; remember_pid $!
  # With the bgp backend (WITH_BIRD set) the daemon starts BIRD, which outlives it, as it
  # should on a node: it is stopped at exit by the PID file it writes.
  [[ -z ${WITH_BIRD:-} ]] || grep -qxF "$WORK/n$1/bird/bird.pid" "$WORK/made.pidfiles" 2>/dev/null ||
    echo "$WORK/n$1/bird/bird.pid" >> "$WORK/made.pidfiles"
}
bird_of() { birdc -s "$WORK/n$1/bird/bird.ctl" "${@:2}"; }  # bird_of N COMMAND...: node N's BIRD
stop_bird() { local pid; pid=$(cat "$WORK/n$1/bird/bird.pid"); kill "$pid"; eventually 10 process_gone "$pid"; }

# start_tor: FRR (zebra and bgpd) in the router namespace as the segments' top-of-rack router,
# AS 65000, taking sessions from any node on either segment (dynamic neighbours, any other
# AS), with graceful restart. Its files are in TOR_DIR, which FRR's own user can read.
start_tor() {
  if [[ -z ${TOR_DIR:-} ]]; then
    TOR_DIR=$(mktemp -d "/tmp/podwire-frr-$RUN_ID-XXXX"); echo "$TOR_DIR" >> "$WORK/made.dirs"
    chmod 755 "$TOR_DIR"
    cat > "$TOR_DIR/frr.conf" <<EOF2
frr defaults datacenter
hostname tor
router bgp 65000
 bgp router-id 192.168.10.254
 no bgp ebgp-requires-policy
 bgp graceful-restart
 neighbor NODES peer-group
 neighbor NODES remote-as external
 bgp listen range 192.168.10.0/24 peer-group NODES
 bgp listen range 192.168.20.0/24 peer-group NODES
 bgp listen range fd10::/64 peer-group NODES
 bgp listen range fd20::/64 peer-group NODES
 address-family ipv6 unicast
  neighbor NODES activate
 exit-address-family
EOF2
    chown -R frr:frr "$TOR_DIR"
    echo "$TOR_DIR/zebra.pid" >> "$WORK/made.pidfiles"; echo "$TOR_DIR/bgpd.pid" >> "$WORK/made.pidfiles"
  fi
  tor_daemon zebra -f /dev/null -P 0
  tor_daemon bgpd -f "$TOR_DIR/frr.conf" -P 0
  eventually 10 tor -c "show bgp summary" || return 1
}
# tor_daemon NAME OPTION...: one of FRR's daemons in the router namespace, its files in TOR_DIR.
tor_daemon() {
  in_ns router "/usr/lib/frr/$1" -d -N "pw$RUN_ID" -z "$TOR_DIR/zserv.api" --vty_socket "$TOR_DIR" \
    -i "$TOR_DIR/$1.pid" --log "file:$TOR_DIR/$1.log" "${@:2}" 2>/dev/null
}
tor_bfd() { # tor_bfd: FRR's bfdd beside bgpd, and BFD on every node's session
  echo "$TOR_DIR/bfdd.pid" >> "$WORK/made.pidfiles"
  tor_daemon bfdd --bfdctl "$TOR_DIR/bfdd.sock" -f /dev/null
  eventually 10 test -S "$TOR_DIR/bfdd.vty" &&
    tor -c "configure terminal" -c "router bgp 65000" -c "neighbor NODES bfd" >/dev/null
}
stop_tor() { # stop_tor: bgpd and zebra stop, as on a router's restart; zebra takes its routes with it
  local pid
  for pid in "$(cat "$TOR_DIR/bgpd.pid")" "$(cat "$TOR_DIR/zebra.pid")"; do
    kill "$pid"; eventually 10 process_gone "$pid" || kill -9 "$pid"
  done
}
# longest_loss: from ping's output, the longest run of probes without a reply, whatever ping
# printed for them ("no answer yet", an ICMP error from a router, nothing at all).
longest_loss() {
  awk '/bytes from/ { match($0, /icmp_seq=[0-9]+/); seq = substr($0, RSTART + 9, RLENGTH - 9) + 0
                      if (seq - last - 1 > worst) worst = seq - last - 1; last = seq }
       /packets transmitted/ { sent = $1 }
       END { if (sent - last > worst) worst = sent - last; print worst + 0 }'
}
# segment_peers: the cluster config's bgp.peers for the bgp suites' nodes (1 and 2 on
# segment A, 3 on B), each peering with the router's addresses on its own segment.
segment_peers() {
  jq -cn '[("node1", "node2") as $n | {address: ("192.168.10.254", "fd10::254"), asn: 65000, node: $n}]
    + [{address: ("192.168.20.254", "fd20::254"), asn: 65000, node: "node3"}]'
}
tor() { vtysh --vty_socket "$TOR_DIR" "$@"; }
# tor_nexthops PREFIX: the next hops of the ToR's selected route to PREFIX, as its CLI shows them.
tor_nexthops() {
  local table=ip; [[ $1 == *:* ]] && table=ipv6
  tor -c "show $table route $1 json" | jq -r --arg p "$1" '.[$p][]? | select(.selected) | .nexthops[].ip' | sort
}
# stop_daemon N: node N's daemon gets SIGTERM, and is gone; restart_daemon N: then starts again
# (it reads the cluster's config anew).
stop_daemon() {
  local pid; pid=$(cat "$WORK/daemon$1.pid")
  kill "$pid" 2>/dev/null; eventually 10 process_gone "$pid"
}
restart_daemon() { stop_daemon "$1"; start_daemon "$1"; }
wait_for_conflist() {
  for _ in $(seq 100); do [[ -s $WORK/n$1/net.d/10-podwire.conflist ]] && return 0; sleep 0.1; done
  return 1
}
subnets() { jq -r '.plugins[0].ipam.ranges[][0].subnet' "$WORK/n$1/net.d/10-podwire.conflist"; }
subnet4() { jq -r '.plugins[0].ipam.ranges[][0].subnet | select(contains("."))' "$WORK/n$1/net.d/10-podwire.conflist"; }
podwire_routes() { # podwire_routes NODE [-6]: the routes podwire-node owns on the node, one family
  ip -n "pw$RUN_ID-n$1" ${2:-} route show proto "$PODWIRE_ROUTE_PROTO"
}
routes_of() { podwire_routes "$1" | sort; podwire_routes "$1" -6 | sort; }  # routes_of NODE: both families
holds_routes() { # holds_routes WANTED NODE...: every NODE holds WANTED of podwire's routes per family
  local n
  for n in "${@:2}"; do
    [[ $(podwire_routes "$n" | wc -l) == "$1" ]] || return 1
    [[ $(podwire_routes "$n" -6 | wc -l) == "$1" ]] || return 1
  done
}
# has_route NODE REGEX: one of podwire's IPv4 routes on the node matches.
has_route() { says "$2" podwire_routes "$1"; }
# status_page NODE PATH: what the node daemon's status server answers at PATH.
status_page() {
  in_ns "n$1" python3 -c "import urllib.request, sys
try: print(urllib.request.urlopen('http://127.0.0.1:9750$2', timeout=2).read().decode())
except Exception as e: print(e); sys.exit(1)"
}

repaired() { # repaired WHAT MS COMMAND...: makes the fault, then waits (10 s at most) for the suite's
  # state_of to print $before again; passes within MS, with the time it took
  local what=$1 within=$2 start elapsed deadline; shift 2
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || fail "$what: the fault could not be made"
  deadline=$((SECONDS + 10))
  until [[ $(state_of 2>&1) == "$before" ]] || ((SECONDS >= deadline)); do sleep 0.02; done
  elapsed=$((($(date +%s%N) - start) / 1000000))
  if [[ $(state_of 2>&1) == "$before" ]] && ((elapsed <= within)); then
    pass "$what: put back in $elapsed ms"
  else
    fail "$what: not put back within $within ms ($elapsed ms)" "$(diff <(echo "$before") <(state_of 2>&1) | head -5)"
  fi
}

ask_once() { # ask_once NS ADDRESS PORT: one HTTP ask of a hostname server, 1 s at most; prints the answer
  in_ns "$1" python3 -c "import sys, urllib.request
host = f'[{sys.argv[1]}]' if ':' in sys.argv[1] else sys.argv[1]
print(urllib.request.urlopen(f'http://{host}:{sys.argv[2]}/hostname', timeout=1).read().decode())" "$2" "$3"
}

add_pod() { # add_pod N: pod N on node N, through the node's conflist, with a hostname server
  wire_pod "$1" || return 1
  ip netns exec "pw$RUN_ID-pod$1" python3 "$REPO/netns-test/tools/hostname-server.py" "pod$1" 8083 8081 \
    "${POD4[$1]}" "${POD6[$1]}" \
    >/dev/null 2>&1 &
  remember_pid $!
}
wire_pod() { # wire_pod N: pod N on node N, through the node's conflist; POD4[N] and POD6[N] are set
  local n=$1 ns
  ns=$(new_netns "pod$n")
  in_ns "pod$n" ip link set lo up   # a runtime's loopback plugin does this
  RUNTIME_NETNS="pw$RUN_ID-n$n" NETCONFPATH="$WORK/n$n/net.d" CNI_CACHEDIR="$WORK/n$n/cache" \
    runtime_exec add podwire "pod$n$RUN_ID" "$ns" > "$WORK/pod$n.json" || return 1
  POD4[$n]=$(jq -r '.ips[] | select(.address | contains(".")) | .address | split("/")[0]' "$WORK/pod$n.json")
  POD6[$n]=$(jq -r '.ips[] | select(.address | contains(":")) | .address | split("/")[0]' "$WORK/pod$n.json")
}
unwire_pod() { # unwire_pod N: pod N's DEL through node N's conflist, as a runtime would; then its netns goes
  RUNTIME_NETNS="pw$RUN_ID-n$1" NETCONFPATH="$WORK/n$1/net.d" CNI_CACHEDIR="$WORK/n$1/cache" \
    runtime_exec del podwire "pod$1$RUN_ID" "/var/run/netns/pw$RUN_ID-pod$1" || return 1
  ip netns del "pw$RUN_ID-pod$1"
}

conformance() { # conformance FAMILY N...: among pods N (add_pod's), every pod asks every pod and
  # every node every pod; the pods answer with their name and the address they saw asking
  local family=$1 from to want src proto port answer bad=0 tried=0 nodes=("${@:2}")
  for from in "${nodes[@]}"; do
    for to in "${nodes[@]}"; do
      [[ $family == 4 ]] && want=${POD4[$to]} || want=${POD6[$to]}
      [[ $family == 4 ]] && src=${POD4[$from]} || src=${POD6[$from]}
      for proto in http udp; do
        tried=$((tried + 1))
        port=8083; [[ $proto == udp ]] && port=8081
        answer=$(in_ns "pod$from" python3 "$REPO/netns-test/tools/hostname-client.py" "$proto" "$want" "$port" 2>&1)
        [[ $answer == "pod$to $src" ]] || { bad=$((bad + 1)); echo "        pod$from -> pod$to ($proto): $answer"; }
      done
    done
    for to in "${nodes[@]}"; do
      [[ $family == 4 ]] && want=${POD4[$to]} || want=${POD6[$to]}
      tried=$((tried + 1))
      answer=$(in_ns "n$from" python3 "$REPO/netns-test/tools/hostname-client.py" http "$want" 8083 2>&1)
      [[ $answer == "pod$to "* ]] || { bad=$((bad + 1)); echo "        node$from -> pod$to: $answer"; }
    done
  done
  echo "        $tried requests, $bad wrong or unanswered"
  ((bad == 0))
}

# vxlan_mtu_checks UNDERLAY_FAMILY FROM TO: the pods' MTU is the underlay's 1500 less VXLAN's
# overhead over that family, and a DF ping of the largest size it allows crosses VXLAN from pod
# FROM to pod TO, over IPv4 and IPv6; one byte more does not.
vxlan_mtu_checks() {
  local overhead=$(($1 == 4 ? 50 : 70)) mtu
  local want=$((1500 - overhead)) from=$2 to=$3
  mtu=$(in_ns "pod$from" cat /sys/class/net/eth0/mtu)
  expect "the pods' MTU is the underlay's 1500 less VXLAN-over-IPv$1's $overhead: $mtu" test "$mtu" == "$want"
  expect "a DF ping of the largest size it allows ($((want - 28)) bytes of payload) crosses VXLAN, pod $from to \
pod $to" in_ns "pod$from" ping -M do -s $((want - 28)) -c 1 -W 2 "${POD4[$to]}"
  refute "  one byte more does not" in_ns "pod$from" ping -M do -s $((want - 27)) -c 1 -W 2 "${POD4[$to]}"
  expect "  over IPv6, $((want - 48)) bytes of payload cross" \
    in_ns "pod$from" ping -6 -M do -s $((want - 48)) -c 1 -W 2 "${POD6[$to]}"
  refute "  and one byte more does not" in_ns "pod$from" ping -6 -M do -s $((want - 47)) -c 1 -W 2 "${POD6[$to]}"
}
