#!/usr/bin/env bash
# A pod sandbox without a container engine: what a CRI runtime does for a pod, step by
# step, with podwire wiring the network.
#
#   pod.sh create POD                  pause in new net, ipc, uts, pid and mnt namespaces;
#                                      its netns named in /var/run/netns; hostname POD;
#                                      CNI ADD through libcni; prints the CNI result
#   pod.sh run POD APP [--share-pid] -- COMMAND...
#                                      an app container: joins pause's net, ipc and uts
#                                      namespaces (and its PID namespace with --share-pid,
#                                      like shareProcessNamespace); its own mnt namespace
#                                      with a private /tmp and its own /proc
#   pod.sh exec POD APP COMMAND...     runs COMMAND in all of APP's namespaces
#   pod.sh stop POD APP                SIGTERM, then SIGKILL after 1 s
#   pod.sh kill POD APP                SIGKILL: the container crashes
#   pod.sh pid POD [APP]               host PID of pause, or of APP's first process
#   pod.sh delete POD                  stop apps, CNI DEL, stop pause, remove the netns name;
#                                      prints pause's exit status
#
# Environment: POD_NETWORK (conflist name, default podwire), NETCONFPATH (/etc/cni/net.d),
# CNI_PATH (/opt/cni/bin), POD_STATE (/run/podwire-pods), PAUSE (podwire-pause), CNITOOL.
# The teardown order is containerd's: containers first, then the network, then the sandbox.
PODWIRE_LIB_ONLY=1 source "$(dirname "${BASH_SOURCE[0]}")/../lib/lib.sh"
set -euo pipefail

PAUSE=${PAUSE:-$REPO/.build/release/podwire-pause}
POD_NETWORK=${POD_NETWORK:-podwire}
POD_STATE=${POD_STATE:-/run/podwire-pods}
export NETCONFPATH=${NETCONFPATH:-/etc/cni/net.d}
export CNI_PATH=${CNI_PATH:-/opt/cni/bin}

die() { echo "pod.sh: $*" >&2; exit 1; }

# child_of PID EXE: waits until PID has a child that runs EXE (forked and exec'd), prints it.
child_of() {
  local parent=$1 exe=$2 child tries=0
  while ((tries++ < 500)); do
    for child in $(cat "/proc/$parent/task/$parent/children" 2>/dev/null); do
      [[ $(readlink "/proc/$child/exe" 2>/dev/null) == "$exe" ]] && { echo "$child"; return; }
    done
    kill -0 "$parent" 2>/dev/null || break
    sleep 0.01
  done
  return 1
}

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# app_alive POD PID: the app still runs, and PID was not reused by a process outside the pod.
app_alive() {
  alive "$2" && [[ $(readlink "/proc/$2/ns/net") == "$(readlink "/proc/$(state "$1" pause.pid)/ns/net")" ]]
}

# wait_gone PID [TENTHS]: true once PID has exited (within TENTHS tenths of a second).
wait_gone() {
  local pid=$1 tries=0 limit=${2:-20}
  while alive "$pid"; do ((tries++ < limit)) || return 1; sleep 0.1; done
}

pod_dir() { echo "$POD_STATE/$1"; }
state() { cat "$(pod_dir "$1")/$2" 2>/dev/null; }

cni() { # cni add|del POD
  CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=$2;K8S_POD_INFRA_CONTAINER_ID=$(state "$2" id)" \
    IFNAME=eth0 runtime_exec "$1" "$POD_NETWORK" "$(state "$2" id)" "/var/run/netns/$(state "$2" netns)"
}

create() {
  local pod=$1 dir shell pause
  [[ $pod =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$ ]] || die "pod name '$pod': letters, digits, '_', '.', '-'"
  dir=$(pod_dir "$pod")
  [[ -e $dir ]] && die "pod $pod exists ($dir)"
  [[ -x $PAUSE ]] || die "no pause program at $PAUSE (run scripts/build.sh)"
  mkdir -p "$dir/apps"
  echo "$pod" > "$dir/netns"
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$dir/id"

  # The sandbox: pause as PID 1 of new namespaces. A subshell stays behind to record
  # pause's exit status, as a runtime's shim does. Mount events from the host reach the
  # new mount namespace (slave), so a netns name removed on the host does not live on
  # in a copy.
  ( unshare --net --ipc --uts --pid --mount --propagation slave --fork --kill-child "$PAUSE" \
      2>>"$dir/pause.log"
    echo $? > "$dir/pause.exit" ) </dev/null >/dev/null 2>&1 &
  shell=$!
  local unshare_pid
  unshare_pid=$(child_of "$shell" "$(readlink -f "$(command -v unshare)")") || die "unshare did not start"
  pause=$(child_of "$unshare_pid" "$(readlink -f "$PAUSE")") || die "pause did not start: $(cat "$dir/pause.log")"
  echo "$pause" > "$dir/pause.pid"

  if ! ip netns attach "$pod" "$pause" || ! nsenter --target "$pause" --uts hostname "$pod" \
      || ! cni add "$pod" > "$dir/result.json"; then
    cni del "$pod" 2>/dev/null || true
    remove_sandbox "$pod" >/dev/null
    die "pod $pod: could not set up its sandbox"
  fi
  cat "$dir/result.json"
}

run_app() {
  local pod=$1 app=$2 share_pid=() private_pid=(--pid --fork --kill-child) dir wrapper
  shift 2
  if [[ ${1:-} == --share-pid ]]; then share_pid=(--pid); private_pid=(); shift; fi
  [[ ${1:-} == -- ]] && shift
  (($#)) || die "run: no command"
  dir=$(pod_dir "$pod")
  [[ -f $dir/pause.pid ]] || die "no pod $pod"
  [[ $app =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ ]] || die "app name '$app'"
  app_alive "$pod" "$(state "$pod" "apps/$app.pid")" && die "app $app is running in pod $pod"

  # nsenter joins the sandbox's namespaces; unshare gives the container its own mounts
  # (a private /tmp, a /proc for its PID namespace) and, unless it shares pause's, its
  # own PID namespace. The container's first process is the wrapper's child; it marks
  # itself ready once its mounts are in place, through a working directory taken before
  # the new /tmp could hide a state directory under /tmp.
  rm -f "$dir/apps/$app.ready"
  nsenter --target "$(state "$pod" pause.pid)" --net --ipc --uts "${share_pid[@]}" -- \
    unshare --mount --propagation slave --mount-proc "${private_pid[@]}" -- \
    /bin/sh -c 'cd "$0" && mount -t tmpfs -o size=8m tmpfs /tmp && : > "$1.ready" && cd / && shift && exec "$@"' \
    "$dir/apps" "$app" "$@" \
    </dev/null >>"$dir/apps/$app.log" 2>&1 &
  wrapper=$!
  local first tries=0
  until [[ -e $dir/apps/$app.ready ]]; do
    alive "$wrapper" && ((tries++ < 500)) || die "app $app did not start: $(tail -3 "$dir/apps/$app.log")"
    sleep 0.01
  done
  # A short-lived command may be gone already; its PID is then of no use.
  first=$(cat "/proc/$wrapper/task/$wrapper/children" 2>/dev/null) || true
  first=${first%% *}
  echo "$first" > "$dir/apps/$app.pid"
  echo "$first"
}

exec_in() {
  local pod=$1 app=$2 pid
  shift 2
  pid=$(state "$pod" "apps/$app.pid") && app_alive "$pod" "$pid" || die "app $app is not running in pod $pod"
  exec nsenter --target "$pid" --net --ipc --uts --mount --pid -- "$@"
}

# stop_apps POD SIGNAL APP...: signals every app at once, gives them a second, then kills
# what is left. An app that is PID 1 of its own PID namespace ignores SIGTERM unless it
# handles it, as in any container.
stop_apps() {
  local pod=$1 signal=$2 app pid pids=()
  shift 2
  for app; do
    pid=$(state "$pod" "apps/$app.pid") || die "no app $app in pod $pod"
    app_alive "$pod" "$pid" && { kill "-$signal" "$pid" 2>/dev/null || true; pids+=("$pid"); }
  done
  for pid in "${pids[@]}"; do
    wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 20; }
  done
}

remove_sandbox() { # stops pause and removes the netns name; prints pause's exit status
  local pod=$1 dir pause tries=0
  dir=$(pod_dir "$pod")
  pause=$(state "$pod" pause.pid) || true
  if alive "$pause"; then
    kill -TERM "$pause"
    wait_gone "$pause" 50 || kill -KILL "$pause" 2>/dev/null || true
  fi
  while [[ ! -f $dir/pause.exit ]] && ((tries++ < 50)); do sleep 0.1; done
  ip netns delete "$(state "$pod" netns)" 2>/dev/null || true
  state "$pod" pause.exit || echo "unknown"
  rm -rf "$dir"
}

delete() {
  local pod=$1 dir apps=() app
  dir=$(pod_dir "$pod")
  [[ -d $dir ]] || die "no pod $pod"
  for app in "$dir"/apps/*.pid; do [[ -e $app ]] && apps+=("$(basename "$app" .pid)"); done
  stop_apps "$pod" TERM "${apps[@]}"
  [[ -f $dir/result.json ]] && { cni del "$pod" || echo "pod.sh: CNI DEL of $pod failed" >&2; }
  echo "pause exited with status $(remove_sandbox "$pod")"
}

command=${1:-}
(($#)) && shift
case $command in
  create) (($# == 1)) || die "usage: create POD"; create "$1" ;;
  run) (($# >= 3)) || die "usage: run POD APP [--share-pid] -- COMMAND..."; run_app "$@" ;;
  exec) (($# >= 3)) || die "usage: exec POD APP COMMAND..."; exec_in "$@" ;;
  stop) (($# == 2)) || die "usage: stop POD APP"; stop_apps "$1" TERM "$2" ;;
  kill) (($# == 2)) || die "usage: kill POD APP"; stop_apps "$1" KILL "$2" ;;
  pid) (($# >= 1)) || die "usage: pid POD [APP]"
       if (($# == 2)); then state "$1" "apps/$2.pid"; else state "$1" pause.pid; fi ;;
  delete) (($# == 1)) || die "usage: delete POD"; delete "$1" ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; [[ -z $command || $command == help ]] ;;
esac
