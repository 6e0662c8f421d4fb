#!/usr/bin/env bash
# podwire under containerd's CRI plugin, driven the way a kubelet drives it: RunPodSandbox,
# PodSandboxStatus, StopPodSandbox, RemovePodSandbox, through the project's own minimal CRI
# client. containerd runs with a private config, root, state and socket; its sandbox image
# is a local OCI image whose entrypoint is podwire-pause, imported with `ctr images import`.
source "$(dirname "$0")/../lib/lib.sh"

CD="$WORK/containerd"
NETWORK="cd$RUN_ID"
BRIDGE=$(new_bridge_name c)
SUBNET="$SUBNET_BASE.0/24" GATEWAY="$SUBNET_BASE.1"
LEASES="$WORK/data/$NETWORK"
HOSTPORT=$((20000 + RANDOM % 20000))
IMAGE="localhost/podwire-pause:$RUN_ID"
SOCKET="$CD/containerd.sock"
mkdir -p "$CD"/{bin,net.d,root,state,opt,logs,image/rootfs,www}

# runc keeps its state, and the shims their sockets, under /run/containerd whatever the
# config says; the run removes that directory only if it made it.
RUN_CONTAINERD_WAS_THERE=$([[ -e /run/containerd ]] && echo 1 || echo 0)
NETNS_BEFORE=$(ls /run/netns 2>/dev/null | grep '^cni-' | sort)
containerd_cleanup() {
  if [[ -s $CD/containerd.pid ]]; then
    local sandbox
    for sandbox in $(cri list 2>/dev/null); do cri stop "$sandbox"; cri remove "$sandbox"; done >/dev/null 2>&1
    kill "$(cat "$CD/containerd.pid")" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$(cat "$CD/containerd.pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  pkill -f "containerd-shim-runc-v2 -namespace k8s.io -id .* -address $SOCKET" 2>/dev/null
  findmnt -rn -o TARGET | grep -F "$CD/" | sort -r | while read -r mount; do umount -l "$mount"; done
  [[ $RUN_CONTAINERD_WAS_THERE == 0 ]] && rm -rf /run/containerd
  cleanup
}
trap containerd_cleanup EXIT

# The project's CRI client, on Debian's python3 (where python3-grpcio is).
cri() { /usr/bin/python3 "$REPO/netns-test/tools/cri-client.py" "$SOCKET" "$@"; }

section "setup: podwire installed, containerd started with its CRI plugin on it"
expect "scripts/install.sh puts podwire in containerd's CNI bin dir" \
  "$REPO/scripts/install.sh" --bin-dir "$CD/bin" --conf-dir "$CD/installed-conf" --tools-dir "$CD/tools" \
  --unit-dir "$CD/units" --defaults-dir "$CD/defaults"
# containerd 1.6 takes one bin dir, and sets up the pod's loopback with the loopback plugin
# from it, as on a node whose /opt/cni/bin has the reference plugins beside podwire.
ln -s "$REFERENCE_DIR/loopback" "$CD/bin/loopback"

runtime_conflist "$NETWORK" "$BRIDGE" "$SUBNET" "$CD/calls.log" > "$CD/net.d/10-$NETWORK.conflist"

cat > "$CD/config.toml" <<EOF
version = 2
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$SOCKET"
[ttrpc]
  address = "$SOCKET.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$IMAGE"
  disable_apparmor = true
  # Keeps the sandbox's oom_score_adj at containerd's own: lowering it needs CAP_SYS_RESOURCE,
  # which test sandboxes may not grant.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CD/bin"
    conf_dir = "$CD/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    # Plain copies: works on any filesystem the work dir is on.
    snapshotter = "native"
EOF
containerd --config "$CD/config.toml" > "$CD/containerd.log" 2>&1 &
echo $! > "$CD/containerd.pid"
for _ in $(seq 100); do cri version >/dev/null 2>&1 && break; sleep 0.1; done
expect "containerd answers CRI Version on its private socket" says '^containerd .* v1$' cri version

cp "$CD/tools/podwire-pause" "$CD/image/rootfs/"
python3 "$REPO/netns-test/tools/oci-image.py" "$CD/image/rootfs" "$IMAGE" /podwire-pause "$CD/image/pause.tar"
expect "the sandbox image, podwire-pause as entrypoint, is imported with ctr" \
  ctr --address "$SOCKET" --namespace k8s.io images import "$CD/image/pause.tar"

sandbox_status() { cri status "$1" | jq -r "$2"; }
pause_pid() { ctr --address "$SOCKET" --namespace k8s.io tasks ls | awk -v id="$1" '$1 == id {print $2}'; }

section "RunPodSandbox: the pod gets its address from podwire"
POD=$(cri run "web$RUN_ID" "uid-$RUN_ID" default "$CD/logs" "$HOSTPORT:80")
POD_IP=$(sandbox_status "$POD" .ip)
expect "RunPodSandbox returns a 64-hex sandbox ID" matches "$POD" '^[0-9a-f]{64}$'
expect "PodSandboxStatus: ready" is "$(sandbox_status "$POD" .state)" SANDBOX_READY
expect "  with an IPv4 address in podwire's subnet" matches "$POD_IP" "^$SUBNET_BASE\\."
expect "the address is podwire's lease, held by the sandbox ID" is "$(lease_holder "$LEASES" "$POD_IP")" "$POD"
PAUSE=$(pause_pid "$POD")
expect "the sandbox's process is podwire-pause" is "$(tr '\0' ' ' < "/proc/$PAUSE/cmdline")" '/podwire-pause '
expect "inside the pod's netns: eth0 with that address" \
  says " $POD_IP/24 " nsenter -t "$PAUSE" -n ip -4 -o addr show eth0
expect "  and a default route via podwire's gateway" says "default via $GATEWAY" nsenter -t "$PAUSE" -n ip route
expect "the pod's loopback is up (containerd's loopback plugin call)" says UP nsenter -t "$PAUSE" -n ip -o link show lo
expect "the host reaches the pod across the bridge" ping -c1 -W2 "$POD_IP"

section "the sandbox's port mapping, passed by containerd in Go's field names"
echo "hello from a containerd pod" > "$CD/www/index.html"
nsenter -t "$PAUSE" -n busybox httpd -f -p 80 -h "$CD/www" &
echo $! >> "$WORK/made.pids"
sleep 0.3
answers() { timeout "${2:-5}" busybox wget -qO- "http://$1/" | grep -q 'containerd pod'; }  # answers HOST:PORT
expect "the host port answers on the host's loopback" answers "127.0.0.1:$HOSTPORT"
expect "and on the host's bridge address" answers "$GATEWAY:$HOSTPORT"
expect "podwire's table holds the mapping, named for the sandbox" says "$NETWORK $POD eth0" nft list table inet podwire

section "StopPodSandbox and RemovePodSandbox release it"
expect "StopPodSandbox succeeds" cri stop "$POD"
expect "the sandbox is not ready and has no address" \
  prints '.state == "SANDBOX_NOTREADY" and .ip == ""' cri status "$POD"
expect "the lease is released" no_leases "$LEASES"
refute "the port mapping is gone from podwire's table" says "$NETWORK " nft list table inet podwire
refute "the host port no longer answers" answers "127.0.0.1:$HOSTPORT" 2
expect "RemovePodSandbox succeeds" cri remove "$POD"
refute "PodSandboxStatus no longer finds it" cri status "$POD"

section "a refused ADD: containerd cleans up after it"
# containerd drops mappings without a host port itself; one whose container port is 0
# reaches podwire, which refuses it.
BAD=$(cri run "bad$RUN_ID" "uid-bad-$RUN_ID" default "$CD/logs" "$((HOSTPORT + 1)):0" 2>&1)
echo "$BAD" | sed "s/^/        /"
BAD_ID=$(grep -oE '[0-9a-f]{64}' <<< "$BAD" | head -1)
expect "RunPodSandbox fails with podwire's message" matches "$BAD" "portMappings: containerPort 0 is not a port number"
expect "containerd's DEL after the failure succeeds: DEL does not read the refused mappings" \
  file_has "$CD/calls.log" "info podwire: DEL containerID=$BAD_ID "
refute "so containerd removed the failed sandbox itself" cri status "$BAD_ID"
expect "no lease was left by it" no_leases "$LEASES"

section "what podwire logged"
expect "one ADD line with the sandbox ID and address, and DEL lines, no errors but the refused ADD" \
  file_has "$CD/calls.log" "info podwire: ADD containerID=$POD .* ips=$POD_IP/24"
expect "  the DEL" file_has "$CD/calls.log" "info podwire: DEL containerID=$POD "
expect "  one error" is "$(grep -c ' error podwire: ' "$CD/calls.log")" 1
expect "  the refused ADD's" file_has "$CD/calls.log" " error podwire: ADD containerID=$BAD_ID "
sed "s/^/        /" "$CD/calls.log"

section "nothing left behind"
expect "containerd lists no sandboxes" prints_nothing cri list
expect "no leases" no_leases "$LEASES"
expect "no veth on the bridge" is "$(ip -o link show master "$BRIDGE" 2>/dev/null)" ""
expect "no network namespaces from containerd" is "$(ls /run/netns 2>/dev/null | grep '^cni-' | sort)" "$NETNS_BEFORE"

finish
