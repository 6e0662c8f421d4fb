#!/usr/bin/env bash
# The pod demo: what a CRI runtime does for a pod, done by netns-test/tools/pod.sh, with podwire
# wiring the network through libcni. It shows, with the kernel's own evidence, what a pod
# is: a pause process holding net, ipc and uts namespaces that app containers join, so
# they share one IP, one MAC, localhost, IPC and a hostname, and keep the IP when they
# restart; and pause, as PID 1, reaping orphans. Leaves nothing behind.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
POD="$REPO/netns-test/tools/pod.sh"
WORK=$(mktemp -d /tmp/podwire-demo-XXXX)
BR=pwdemo$$
BR=${BR:0:15}
SUBNET=10.254.77.0/24
export POD_STATE="$WORK/pods" POD_NETWORK=podwire
export NETCONFPATH="$WORK/conf" CNI_PATH="$WORK/bin" CNI_CACHEDIR="$WORK/cache"
WEB_POD=demo-web-$$ DB_POD=demo-db-$$
cleanup() {
  for pod in "$WEB_POD" "$DB_POD"; do [[ -d $POD_STATE/$pod ]] && "$POD" delete "$pod" >/dev/null 2>&1; done
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/bin" "$WORK/conf"
ln -s "$REPO/.build/release/podwire" "$WORK/bin/podwire"
ln -s /usr/lib/cni/loopback "$WORK/bin/loopback"
# conf/'s example network, on a bridge and subnet of the demo's own.
jq --arg br "$BR" --arg subnet "$SUBNET" --arg data "$WORK/leases" \
  '.plugins[0].bridge = $br | .plugins[0].ipam.ranges = [[{subnet: $subnet}]] | .plugins[0].ipam.dataDir = $data' \
  "$REPO/conf/10-podwire.conflist" > "$NETCONFPATH/10-podwire.conflist"

if [[ -t 1 ]]; then say() { printf '\n\033[1m%s\033[0m\n' "$*"; }; else say() { printf '\n%s\n' "$*"; }; fi
show() { sed 's/^/   /'; }
in_app() { "$POD" exec "$@"; }
inode() { readlink "/proc/$1/ns/$2" | tr -dc '0-9'; }
ip_of() { in_app "$1" "$2" busybox ip -o -4 addr show eth0 | awk '{print $4}'; }
mac_of() { in_app "$1" "$2" busybox ip -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
fetch() { # fetch POD APP URL: the page, or why there is none
  local out
  if out=$(in_app "$1" "$2" timeout 3 busybox wget -q -O - "$3" 2>&1); then echo "$out"; else echo "${out#wget: }"; fi
}
run_web() { # run_web GREETING: web serves GREETING on 127.0.0.1:8080 and on the pod's IP at :8081
  "$POD" run "$WEB_POD" web -- busybox sh -c 'echo "$0" > /tmp/index.html
    busybox httpd -p 0.0.0.0:8081 -h /tmp
    exec busybox httpd -f -p 127.0.0.1:8080 -h /tmp' "$1"
}
children() { local c; c=$(cat "/proc/$1/task/$1/children" 2>/dev/null); echo ${c}; }

say "1. The runtime starts pod $WEB_POD's sandbox: podwire-pause, PID 1 of new net, ipc, uts, pid and mnt namespaces"
"$POD" create "$WEB_POD" > "$WORK/web.json"
PAUSE=$("$POD" pid "$WEB_POD")
{
  echo "podwire-pause runs as host PID $PAUSE; in the pod it is PID $(awk '/^NSpid/ {print $NF}' "/proc/$PAUSE/status")"
  echo "its netns is named for runtimes and ip netns: $(ip netns list | grep "^$WEB_POD")"
  echo "its hostname (UTS namespace) is $(nsenter --target "$PAUSE" --uts hostname); the host's is $(hostname)"
} | show

say "2. podwire ADD through libcni, with conf/10-podwire.conflist (bridge $BR, $SUBNET here)"
jq -r \
  '"eth0: \(.ips[0].address), gateway \(.ips[0].gateway), MAC \(.interfaces[] | select(.sandbox // "" != "") | .mac)"' \
  "$WORK/web.json" | show
{
  ip=$(jq -r '.ips[0].address' "$WORK/web.json")
  echo "the lease, in the reference host-local's format: $WORK/leases/podwire/${ip%/*}"
  echo "the reference loopback plugin, next in the conflist, brought up lo"
} | show

say "3. Two app containers join pause's net, ipc and uts namespaces; each has its own mnt and pid"
WEB=$(run_web "hello from web")
CLI=$("$POD" run "$WEB_POD" cli -- busybox sleep 100000)
{
  echo "web: busybox httpd on 127.0.0.1:8080 (and 0.0.0.0:8081), host PID $WEB"
  echo "cli: busybox sleep, host PID $CLI"
} | show

say "4. Their namespaces: the inode of each, as lsns shows them"
{
  printf '%-7s %-7s %-11s %-11s %-11s %-11s %-11s\n' "" PID net ipc uts mnt pid
  for who in host:$$ pause:$PAUSE web:$WEB cli:$CLI; do
    pid=${who#*:}
    printf '%-7s %-7s %-11s %-11s %-11s %-11s %-11s\n' "${who%%:*}" "$pid" \
      "$(inode "$pid" net)" "$(inode "$pid" ipc)" "$(inode "$pid" uts)" "$(inode "$pid" mnt)" "$(inode "$pid" pid)"
  done
  echo
  for ns in net ipc uts mnt pid; do
    if [[ $(inode "$PAUSE" $ns) == "$(inode "$WEB" $ns)" && $(inode "$WEB" $ns) == "$(inode "$CLI" $ns)" ]]; then
      echo "$ns: shared by pause, web and cli"
    else
      echo "$ns: each container its own"
    fi
  done
} | show

say "5. One IP and one MAC, seen from both apps"
{
  echo "web\$ ip addr show eth0   $(ip_of "$WEB_POD" web)  $(mac_of "$WEB_POD" web)"
  echo "cli\$ ip addr show eth0   $(ip_of "$WEB_POD" cli)  $(mac_of "$WEB_POD" cli)"
} | show

say "6. localhost is shared: cli reaches web on 127.0.0.1"
echo "cli\$ wget -qO- http://127.0.0.1:8080/   $(fetch "$WEB_POD" cli http://127.0.0.1:8080/index.html)" | show

say "7. IPC and the hostname are shared; mounts are not"
{
  shm=$(in_app "$WEB_POD" web ipcmk -M 4096 | awk '{print $NF}')
  key() { "$@" ipcs -m | awk -v id="$shm" '$2 == id {print "key " $1 ", shmid " $2}'; }
  echo "web\$ ipcmk -M 4096        made System V shared memory: $(key in_app "$WEB_POD" web)"
  echo "cli\$ ipcs -m              sees it:                     $(key in_app "$WEB_POD" cli)"
  echo "host\$ ipcs -m             $(key env | grep -q . && echo "sees it too (?)" || echo "does not see it")"
  echo "web\$ hostname             $(in_app "$WEB_POD" web busybox hostname)"
  echo "cli\$ hostname             $(in_app "$WEB_POD" cli busybox hostname)"
  echo "web\$ ls /tmp              $(in_app "$WEB_POD" web ls /tmp)"
  echo "cli\$ ls /tmp              $(in_app "$WEB_POD" cli ls /tmp)(empty: its own tmpfs)"
} | show

say "8. web crashes (SIGKILL) and is restarted: the pod keeps its IP"
{
  before=$(ip_of "$WEB_POD" web)
  "$POD" kill "$WEB_POD" web
  answer=$(fetch "$WEB_POD" cli http://127.0.0.1:8080/index.html)
  echo "web (host PID $WEB) killed; cli\$ wget http://127.0.0.1:8080/   $answer"
  WEB2=$(run_web "hello again from web")
  for _ in $(seq 40); do in_app "$WEB_POD" cli timeout 1 busybox wget -q -O /dev/null http://127.0.0.1:8080/index.html \
    2>/dev/null && break; sleep 0.05; done
  echo "web restarted as host PID $WEB2"
  echo "IP before: $before   after: $(ip_of "$WEB_POD" web)   pause: still PID $("$POD" pid "$WEB_POD"), \
netns inode $(inode "$PAUSE" net)"
  echo "cli\$ wget -qO- http://127.0.0.1:8080/   $(fetch "$WEB_POD" cli http://127.0.0.1:8080/index.html)"
} | show

say "9. pause, as PID 1, reaps an orphan"
{
  echo "a debug container shares pause's PID namespace (shareProcessNamespace) and leaves a child behind:"
  echo "debug\$ sh -c 'sleep 1 & exit'"
  "$POD" run "$WEB_POD" debug --share-pid -- busybox sh -c 'busybox sleep 1 & exit 0' >/dev/null
  for _ in $(seq 40); do [[ -n $(children "$PAUSE") ]] && break; sleep 0.05; done
  orphan=$(children "$PAUSE")
  parent=$(ps -o comm= -p "$(awk '/^PPid/ {print $2}' "/proc/$orphan/status")")
  echo "the orphan, host PID $orphan, is re-parented to: $parent (PID 1 in the pod)"
  ps -o pid,ppid,stat,comm -p "$PAUSE,$orphan"
  sleep 1.3
  gone=$(test -e "/proc/$orphan" && echo "still there (!)" || echo "no process, no zombie")
  echo "a second later it has exited and pause has reaped it: $gone"
} | show

say "10. A second pod on the same bridge: pod to pod works, localhost stays in its pod"
"$POD" create "$DB_POD" > "$WORK/db.json"
"$POD" run "$DB_POD" db -- busybox sleep 100000 >/dev/null
WEB_IP=$(jq -r '.ips[0].address' "$WORK/web.json"); WEB_IP=${WEB_IP%/*}
{
  echo "$DB_POD got $(jq -r '.ips[0].address' "$WORK/db.json")"
  echo "db\$ wget http://$WEB_IP:8081/      $(fetch "$DB_POD" db "http://$WEB_IP:8081/index.html")"
  echo "db\$ wget http://127.0.0.1:8080/      $(fetch "$DB_POD" db http://127.0.0.1:8080/index.html)"
  echo "db\$ wget http://$WEB_IP:8080/      $(fetch "$DB_POD" db "http://$WEB_IP:8080/index.html")"
  echo "(web's port 8080 is on its pod's localhost only; db's localhost is db's own)"
} | show

say "11. Teardown, as containerd does it: stop the apps, CNI DEL, stop pause"
{
  for pod in "$WEB_POD" "$DB_POD"; do echo "$pod: $("$POD" delete "$pod")"; done
  echo "netns left: $(ip netns list | grep -c "demo-" || true)"
  echo "leases left: $(find "$WORK/leases/podwire" -name '10.*' | wc -l)"
  echo "host veths left on $BR: $(ip -o link show master "$BR" 2>/dev/null | wc -l)"
} | show
echo
