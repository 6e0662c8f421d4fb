#!/usr/bin/env bash
# End-to-end tests of the pod: the pause program, and pods made by netns-test/tools/pod.sh as a
# CRI runtime makes them, with podwire wiring them through libcni. Each claim of the pod
# demo is asserted here.
source "$(dirname "$0")/../lib/lib.sh"

PAUSE="$REPO/.build/release/podwire-pause"
POD="$REPO/netns-test/tools/pod.sh"
export POD_NETWORK=podwire
BR=$(new_bridge_name p)
# conf/'s example network, on a bridge, subnet and dataDir of this run's own.
jq --arg br "$BR" --arg subnet "$SUBNET_BASE.0/24" --arg data "$WORK/data" \
  '.plugins[0].bridge = $br | .plugins[0].ipam.ranges = [[{subnet: $subnet}]] | .plugins[0].ipam.dataDir = $data' \
  "$REPO/conf/10-podwire.conflist" > "$NETCONFPATH/10-podwire.conflist"

namespace_of() { readlink "/proc/$1/ns/$2"; }  # namespace_of PID TYPE
children_of() { local c; c=$(cat "/proc/$1/task/$1/children" 2>/dev/null); echo ${c}; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
in_app() { "$POD" exec "$@"; }
# fetch POD APP URL: an HTTP GET from inside an app, body on stdout. (busybox 1.35's
# wget -T crashes, so the time limit comes from timeout.)
fetch() { in_app "$1" "$2" timeout 3 busybox wget -q -O - "$3"; }
netns_named() { ip netns list | grep -q "^$1\( \|$\)"; }
is_pid1() { grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$1/status"; }
has_children() { [[ -n $(children_of "$1") ]]; }
parent_of() { awk '/^PPid/ {print $2}' "/proc/$1/status"; }
zombie_child_of() { ps -o stat= --ppid "$1" | grep -q Z; }
process_in_netns() { for p in /proc/[0-9]*; do readlink "$p/ns/net"; done 2>/dev/null | grep -qxF "$1"; }

section "the pause program"
version=$("$PODWIRE" --version | sed -n '1s/^podwire \([^:]*\):.*/\1/p')
expect "podwire-pause -v prints podwire's version ($version)" all_same "$("$PAUSE" -v)" "podwire-pause $version"
"$PAUSE" 2>"$WORK/pause.err" & pause=$!
sleep 0.3
before=$(cpu_ticks "$pause"); sleep 1; after=$(cpu_ticks "$pause")
expect "idle for 1 s, it uses no CPU time ($before -> $after ticks)" all_same "$before" "$after"
expect "  and sleeps (state S)" grep -q '^State:.S' "/proc/$pause/status"
PAUSE_RSS_KB=$(awk '/^VmRSS/ {print $2}' "/proc/$pause/status")
expect "  and its idle RSS is under 1 MiB (${PAUSE_RSS_KB} KiB)" test "${PAUSE_RSS_KB:-99999}" -lt 1024
kill -TERM "$pause"; wait "$pause"; status=$?
expect "it exits 0 on SIGTERM" test "$status" -eq 0
expect "it warns that it is not PID 1 when started outside a PID namespace" grep -q "not PID 1" "$WORK/pause.err"
"$PAUSE" 2>/dev/null & pause=$!
sleep 0.2; kill -INT "$pause"; wait "$pause"; status=$?
expect "it exits 0 on SIGINT" test "$status" -eq 0
mkdir -p "$WORK/rootfs" && cp "$PAUSE" "$WORK/rootfs/pause"
unshare --root="$WORK/rootfs" --pid --fork --kill-child /pause 2>/dev/null & wrapper=$!
sleep 0.3
inner=$(children_of "$wrapper")
expect "it runs as PID 1 from a rootfs that holds nothing but itself (static, no loader)" is_pid1 "${inner:-0}"
[[ -n $inner ]] && kill -TERM "$inner"
wait "$wrapper"; status=$?
expect "as PID 1 it exits 0 on SIGTERM" test "$status" -eq 0
PAUSE_BYTES=$(stat -c %s "$PAUSE")
expect "podwire-pause is under 1 MiB on disk ($PAUSE_BYTES bytes)" test "$PAUSE_BYTES" -lt 1048576

section "a pod: pause and two app containers"
P1=$(new_pod_name one)
"$POD" create "$P1" > "$WORK/p1.json" || fail "pod.sh create $P1" "$(cat "$WORK/p1.json")"
ID1=$(cat "$POD_STATE/$P1/id")
VETH1=$(host_veth_of "$ID1" eth0)
PAUSE1=$("$POD" pid "$P1")
IP1=$(jq -r '.ips[0].address' "$WORK/p1.json"); IP1=${IP1%/*}
MAC1=$(jq -r '.interfaces[] | select(.sandbox != null and .sandbox != "") | .mac' "$WORK/p1.json")
expect "the pod's netns is named for runtimes and ip netns" netns_named "$P1"
expect "the named netns is pause's" all_same "$(ip netns exec "$P1" readlink /proc/self/ns/net)" \
  "$(namespace_of "$PAUSE1" net)"
expect "pause is PID 1 of the pod's PID namespace" is_pid1 "$PAUSE1"
expect "podwire ADD gave the pod $IP1, in the run's subnet" test "${IP1%.*}" = "$SUBNET_BASE"
expect "and the MAC of its eth0, $MAC1" test -n "$MAC1"
expect "its host veth is on the bridge" says "$VETH1" ip -o link show master "$BR"

web_command=(busybox sh -c 'echo "hello from web" > /tmp/index.html
  busybox httpd -p 0.0.0.0:8081 -h /tmp
  exec busybox httpd -f -p 127.0.0.1:8080 -h /tmp')
WEB1=$("$POD" run "$P1" web -- "${web_command[@]}")
CLI1=$("$POD" run "$P1" cli -- busybox sleep 100000)
for ns in net ipc uts; do
  expect "pause, web and cli share one $ns namespace" \
    all_same "$(namespace_of "$PAUSE1" $ns)" "$(namespace_of "$WEB1" $ns)" "$(namespace_of "$CLI1" $ns)"
  expect "  which is not the host's" all_different "$(namespace_of "$PAUSE1" $ns)" "$(namespace_of $$ $ns)"
done
expect "pause, web, cli and the host each have their own mnt namespace" \
  all_different "$(namespace_of "$PAUSE1" mnt)" "$(namespace_of "$WEB1" mnt)" "$(namespace_of "$CLI1" mnt)" \
    "$(namespace_of $$ mnt)"
expect "so web's /tmp/index.html is in web's /tmp" in_app "$P1" web test -f /tmp/index.html
refute "  and not in cli's" in_app "$P1" cli test -e /tmp/index.html

addr_in() { in_app "$1" "$2" busybox ip -o -4 addr show eth0 | awk '{print $4}'; }
mac_in() { in_app "$1" "$2" busybox ip -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
expect "web and cli see the same IP on eth0, $IP1" all_same "$(addr_in "$P1" web)" "$(addr_in "$P1" cli)" "$IP1/24"
expect "web and cli see the same MAC, $MAC1" all_same "$(mac_in "$P1" web)" "$(mac_in "$P1" cli)" "$MAC1"
expect "cli reaches web on localhost:8080" eventually 3 fetch "$P1" cli http://127.0.0.1:8080/index.html
expect "  and gets web's page" all_same "$(fetch "$P1" cli http://127.0.0.1:8080/index.html)" "hello from web"
expect "web and cli have the pod's hostname, $P1" \
  all_same "$(in_app "$P1" web busybox hostname)" "$(in_app "$P1" cli busybox hostname)" "$P1"
expect "  and the host keeps its own" all_different "$(hostname)" "$P1"
shm=$(in_app "$P1" web ipcmk -M 4096 | awk '{print $NF}')
key_of_shm() { "$@" ipcs -m | awk -v id="$shm" '$2 == id {print $1}'; }
key=$(key_of_shm in_app "$P1" web)
expect "a System V shared memory segment web makes (id $shm, key $key) is seen from cli" \
  all_same "$key" "$(key_of_shm in_app "$P1" cli)"
expect "  and not from the host" all_different "$key" "$(key_of_shm env)"

section "an app container restarts; the pod keeps its IP"
"$POD" kill "$P1" web
refute "web is gone after SIGKILL" kill -0 "$WEB1"
refute "cli no longer reaches localhost:8080" fetch "$P1" cli http://127.0.0.1:8080/index.html
WEB1B=$("$POD" run "$P1" web -- "${web_command[@]}")
expect "web runs again as a new process ($WEB1 -> $WEB1B)" all_different "$WEB1" "$WEB1B"
expect "  with the same IP, $IP1" all_same "$(addr_in "$P1" web)" "$IP1/24"
expect "  and the same MAC" all_same "$(mac_in "$P1" web)" "$MAC1"
expect "pause is the same process" all_same "$("$POD" pid "$P1")" "$PAUSE1"
expect "  holding the same net namespace, which web joined again" all_same "$(namespace_of "$WEB1B" net)" \
  "$(namespace_of "$PAUSE1" net)"
expect "cli reaches the restarted web on localhost" eventually 3 fetch "$P1" cli http://127.0.0.1:8080/index.html
expect "the store still holds one lease, $IP1" all_same "$(leases_in "$WORK/data/podwire")" "$IP1"

section "pause reaps orphans as PID 1"
# A container that shares pause's PID namespace (shareProcessNamespace) leaves a child
# behind; it is re-parented to pause and, when it exits, reaped.
"$POD" run "$P1" orphaner --share-pid -- busybox sh -c 'busybox sleep 1 & exit 0' >/dev/null
eventually 3 has_children "$PAUSE1"
orphan=$(children_of "$PAUSE1")
expect "the orphan ($orphan) is re-parented to pause" all_same "$(parent_of "${orphan:-0}")" "$PAUSE1"
sleep 1.3
refute "it exits and pause reaps it: no zombie, no process" test -e "/proc/${orphan:-0}"
refute "  and pause has no zombie child" zombie_child_of "$PAUSE1"
# The same under a PID 1 that does not reap: the zombie stays, so the check above can fail.
unshare --pid --fork --kill-child busybox sleep 30 & control=$!
eventually 3 has_children "$control"
init=$(children_of "$control")
nsenter --target "$init" --pid -- busybox sh -c 'busybox sleep 0.2 & exit 0'
sleep 0.6
expect "control: under a PID 1 that does not reap (busybox sleep), the orphan stays a zombie" zombie_child_of "$init"
kill -KILL "$init"; wait "$control" 2>/dev/null

section "two pods on one bridge"
P2=$(new_pod_name two)
"$POD" create "$P2" > "$WORK/p2.json" || fail "pod.sh create $P2"
ID2=$(cat "$POD_STATE/$P2/id")
VETH2=$(host_veth_of "$ID2" eth0)
IP2=$(jq -r '.ips[0].address' "$WORK/p2.json"); IP2=${IP2%/*}
PEER=$("$POD" run "$P2" peer -- busybox sleep 100000)
expect "the pods have different IPs ($IP1, $IP2)" all_different "$IP1" "$IP2"
expect "  and net namespaces" all_different "$(namespace_of "$PEER" net)" "$(namespace_of "$PAUSE1" net)"
expect "pod two reaches pod one's web at $IP1:8081" fetch "$P2" peer "http://$IP1:8081/index.html"
expect "pod one's cli pings pod two" in_app "$P1" cli busybox ping -c1 -W2 "$IP2"
refute "pod two's localhost:8080 is its own: nothing listens there" fetch "$P2" peer http://127.0.0.1:8080/index.html
refute "pod one's localhost-only port 8080 is not reachable from pod two at $IP1:8080" fetch "$P2" peer \
  "http://$IP1:8080/index.html"

section "teardown: apps, then CNI DEL, then pause"
net1=$(namespace_of "$PAUSE1" net)
expect "pod.sh delete $P1 reports that pause exited 0 on SIGTERM" all_same "$("$POD" delete "$P1")" \
  "pause exited with status 0"
refute "no netns named $P1 is left" netns_named "$P1"
refute "no host veth $VETH1 is left" ip link show "$VETH1"
expect "pod one's lease is released; pod two's stays" all_same "$(leases_in "$WORK/data/podwire")" "$IP2"
refute "pause, web and cli are gone" kill -0 "$PAUSE1" "$WEB1B" "$CLI1"
refute "no process is left in pod one's net namespace" process_in_netns "$net1"
expect "pod two still works after pod one is gone" in_app "$P2" peer busybox hostname
expect "pod.sh delete $P2 reports pause's status 0" all_same "$("$POD" delete "$P2")" "pause exited with status 0"
refute "no netns of either pod is left" says "$RUN_ID" ip netns list
refute "no host veth of pod two is left" ip link show "$VETH2"
expect "no lease and no pod state is left" all_same "$(leases_in "$WORK/data/podwire")$(ls "$POD_STATE")" ""

section "the pod demo"
expect "netns-test/demo/node.sh runs to the end" into "$WORK/demo.out" "$REPO/netns-test/demo/node.sh"
expect "  and tells every part of the story" is "$(grep -cE '^[0-9]+\. ' "$WORK/demo.out")" 11
refute "  and leaves no netns" says demo- ip netns list
refute "  no bridge" says pwdemo ip -o link show type bridge
refute "  no temp dir" compgen -G "/tmp/podwire-demo-*"

finish
