#!/usr/bin/env bash
# podwire under podman, with its CNI network backend, end to end: podwire installed by
# scripts/install.sh, real containers run by runc from a busybox rootfs directory, a pod
# whose infra container is podwire-pause, a published port, and teardown that releases
# everything. podman is configured by this test alone (its own containers.conf, storage and
# network config dir); nothing is pulled from a registry.
source "$(dirname "$0")/lib.sh"

PM="$WORK/podman"
NETWORK="pm$RUN_ID"
BRIDGE=$(new_bridge_name p)
SUBNET="$SUBNET_BASE.0/24" GATEWAY="$SUBNET_BASE.1"
LEASES="$WORK/data/$NETWORK"
HOSTPORT=$((20000 + RANDOM % 20000))
mkdir -p "$PM"/{installed,net.d,recorder,storage,run,tmp,rootfs}

# Whatever the test fails at, podman's containers go first (their DEL releases the
# leases), then any mount podman left under the work dir, then the shared cleanup.
VAR_LIB_CONTAINERS_WAS_THERE=$([[ -e /var/lib/containers ]] && echo 1 || echo 0)
NETNS_BEFORE=$(ls /run/netns 2>/dev/null)
podman_cleanup() {
  podman pod rm --all --force --time 0 >/dev/null 2>&1
  podman rm --all --force --time 0 >/dev/null 2>&1
  podman rmi --all --force >/dev/null 2>&1
  findmnt -rn -o TARGET | grep -F "$PM/" | sort -r | while read -r mount; do umount -l "$mount"; done
  # podman's blob cache for `podman import`: the machine had none before this run.
  [[ $VAR_LIB_CONTAINERS_WAS_THERE == 0 ]] && rm -rf /var/lib/containers
  cleanup
}
trap podman_cleanup EXIT

section "setup: podwire installed, podman configured for it"
expect "scripts/install.sh puts podwire and podwire-pause in private directories" \
  "$REPO/scripts/install.sh" --bin-dir "$PM/installed/bin" --conf-dir "$PM/installed/net.d" --tools-dir \
    "$PM/installed/tools" --unit-dir "$PM/installed/units" --defaults-dir "$PM/installed/defaults"

# In front of the installed plugin, a recorder notes each call's command, container ID,
# CNI_ARGS and exit status, for the protocol checks; the call itself is podwire's.
cat > "$PM/recorder/podwire" <<EOF
#!/bin/sh
"$PM/installed/bin/podwire" "\$@"
status=\$?
echo "\$CNI_COMMAND \$status \${CNI_CONTAINERID:--} \${CNI_ARGS:--}" >> "$PM/calls.txt"
exit \$status
EOF
chmod +x "$PM/recorder/podwire"

# The example conflist with ports and masquerade, on this run's bridge, subnet and store,
# and with the call log on.
runtime_conflist "$NETWORK" "$BRIDGE" "$SUBNET" "$PM/calls.log" > "$PM/net.d/$NETWORK.conflist"

cat > "$PM/containers.conf" <<EOF
[containers]
# podman raises these limits by default, which needs CAP_SYS_RESOURCE; test sandboxes may
# not grant it, and lowering is always allowed.
default_ulimits = ["nofile=4096:4096", "nproc=8192:8192"]

[network]
network_backend = "cni"
cni_plugin_dirs = ["$PM/recorder", "$REFERENCE_DIR"]
network_config_dir = "$PM/net.d"
default_network = "$NETWORK"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PM/events.log"
runtime = "runc"
tmp_dir = "$PM/tmp"
infra_image = "localhost/podwire-pause:$RUN_ID"
EOF
cat > "$PM/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$PM/storage"
runroot = "$PM/run"
EOF
export CONTAINERS_CONF="$PM/containers.conf" CONTAINERS_STORAGE_CONF="$PM/storage.conf"

# A busybox root filesystem, copied per container: podman writes /etc/hosts and friends
# into a --rootfs directory.
template="$PM/rootfs/template"
mkdir -p "$template"/{bin,etc,proc,sys,dev,tmp,www}
cp /bin/busybox "$template/bin/"
for applet in sh httpd wget ip cat sleep hostname true ps; do ln -s busybox "$template/bin/$applet"; done
cp "$PM/installed/tools/podwire-pause" "$template/bin/"
echo "hello from a podwire pod" > "$template/www/index.html"
rootfs() { cp -a "$template" "$PM/rootfs/$1" && echo "$PM/rootfs/$1"; }

expect "the infra image is built locally: the rootfs with podwire-pause as its entrypoint" \
  bash -c \
    "tar -C '$template' -c . | podman import --change 'ENTRYPOINT=[\"/bin/podwire-pause\"]' - \
    localhost/podwire-pause:$RUN_ID"
expect "podman uses its CNI backend" bash -c "[[ \$(podman info --format '{{.Host.NetworkBackend}}') == cni ]]"
expect "podman lists the network with podwire as its driver" \
  bash -c "podman network inspect $NETWORK | jq -e '.[0].driver == \"podwire\"'"

in_subnet() { [[ $1 == "$SUBNET_BASE".* ]] || { echo "$1 is not in $SUBNET"; false; }; }
ip_in() { podman exec "$1" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1; }

section "a container gets its address from podwire"
podman run -d --init --name "solo$RUN_ID" --rootfs "$(rootfs solo)" sleep 600 >/dev/null
SOLO_ID=$(podman inspect "solo$RUN_ID" --format '{{.Id}}')
SOLO_IP=$(ip_in "solo$RUN_ID")
expect "it runs, with an IPv4 address in podwire's subnet" in_subnet "$SOLO_IP"
expect "its lease names the full 64-hex container ID" bash -c \
  "[[ '$(lease_holder "$LEASES" "$SOLO_IP")' == '$SOLO_ID' && '$SOLO_ID' =~ ^[0-9a-f]{64}$ ]]"
expect "its default route is podwire's gateway on the bridge" \
  bash -c "podman exec solo$RUN_ID ip route | grep -q 'default via $GATEWAY'"
expect "the host reaches it across the bridge" ping -c1 -W2 "$SOLO_IP"
expect "stop releases the lease" bash -c "podman stop -t 2 solo$RUN_ID >/dev/null && [[ ! -e $LEASES/$SOLO_IP ]]"
expect "rm leaves no container" bash -c "podman rm solo$RUN_ID >/dev/null && [[ -z \$(podman ps -aq) ]]"

section "a pod: two containers share the pause container's address and localhost"
POD="pod$RUN_ID"
expect "podman pod create with a published port" bash -c \
  "podman pod create --name $POD -p $HOSTPORT:80 >/dev/null"
podman run -d --init --pod "$POD" --name "web$RUN_ID" --rootfs "$(rootfs web)" httpd -f -p 80 -h /www >/dev/null
podman run -d --init --pod "$POD" --name "cli$RUN_ID" --rootfs "$(rootfs cli)" sleep 600 >/dev/null
INFRA_ID=$(podman pod inspect "$POD" --format '{{.InfraContainerID}}')
WEB_IP=$(ip_in "web$RUN_ID") CLI_IP=$(ip_in "cli$RUN_ID")
expect "the pod's infra container runs podwire-pause" \
  bash -c "podman top $INFRA_ID args | grep -q podwire-pause"
expect "both containers have the same address, in podwire's subnet" bash -c \
  "[[ -n '$WEB_IP' && '$WEB_IP' == '$CLI_IP' ]] && [[ '$WEB_IP' == $SUBNET_BASE.* ]]"
expect "the pod has one lease, held by the infra container" bash -c \
  "[[ \$(leases_in $LEASES | wc -l) == 1 && '$(lease_holder "$LEASES" "$WEB_IP")' == '$INFRA_ID' ]]"
expect "cli fetches web over localhost" bash -c \
  "podman exec cli$RUN_ID wget -qO- http://127.0.0.1:80/ | grep -q 'hello from a podwire pod'"
expect "the published port answers on the host's loopback" bash -c \
  "timeout 5 busybox wget -qO- http://127.0.0.1:$HOSTPORT/ | grep -q 'hello from a podwire pod'"
expect "the published port answers on the host's bridge address" bash -c \
  "timeout 5 busybox wget -qO- http://$GATEWAY:$HOSTPORT/ | grep -q 'hello from a podwire pod'"
expect "podwire's table holds the pod's port mapping" bash -c \
  "nft list table inet podwire | grep -q '$NETWORK $INFRA_ID eth0'"
podman kill "web$RUN_ID" >/dev/null 2>&1
podman start "web$RUN_ID" >/dev/null
expect "web killed and started again keeps the pod's address" bash -c \
  "[[ \$(podman exec web$RUN_ID ip -4 -o addr show eth0 | awk '{print \$4}' | cut -d/ -f1) == '$WEB_IP' ]]"
expect "and serves on the published port again" bash -c \
  "sleep 0.3; timeout 5 busybox wget -qO- http://127.0.0.1:$HOSTPORT/ | grep -q 'hello from a podwire pod'"
expect "podman pod stop releases the lease" bash -c \
  "podman pod stop -t 2 $POD >/dev/null && [[ -z \$(leases_in $LEASES) ]]"
expect "and removes the port mapping from podwire's table" bash -c \
  "! nft list table inet podwire 2>/dev/null | grep -q '$NETWORK '"
refute "the published port no longer answers" bash -c "timeout 2 busybox wget -qO- http://127.0.0.1:$HOSTPORT/"
expect "podman pod rm removes the pod and its containers" bash -c \
  "podman pod rm $POD >/dev/null && [[ -z \$(podman ps -aq) ]]"

section "what podman sent, and what podwire answered"
calls=$(cat "$PM/calls.txt" 2>/dev/null)
echo "$calls" | awk '{print $1, "exit " $2, substr($3, 1, 12)}' | sort | uniq -c | sed 's/^ */        /'
expect "podman asked VERSION several times, and every answer was exit 0" \
  bash -c \
    "[[ \$(grep -c '^VERSION 0 ' <<< '$calls') -ge 2 && \$(grep -c '^VERSION ' <<< '$calls') == \$(grep -c \
    '^VERSION 0 ' <<< '$calls') ]]"
expect "one ADD and one DEL for the container and for the pod, and every call exit 0" \
  bash -c \
    "[[ \$(grep -c '^ADD 0 ' <<< '$calls') == 2 && \$(grep -c '^DEL 0 ' <<< '$calls') == 2 && -z \$(grep -v \
    '^[A-Z]* 0 ' <<< '$calls') ]]"
expect "every ADD and DEL carried a 64-hex container ID" \
  bash -c "[[ -z \$(grep -E '^(ADD|DEL) ' <<< '$calls' | grep -vE '^[A-Z]+ [0-9]+ [0-9a-f]{64} ') ]]"
expect "every ADD and DEL carried IgnoreUnknown=1 and K8S_POD_NAME in CNI_ARGS" \
  bash -c \
    "[[ -z \$(grep -E '^(ADD|DEL) ' <<< '$calls' | grep -vE 'IgnoreUnknown=1(;|\$)' ) && -z \$(grep -E '^(ADD|DEL) ' \
    <<< '$calls' | grep -v 'K8S_POD_NAME=') ]]"
expect "the call log has a line per ADD and DEL, with IDs, interface and addresses" \
  bash -c "grep -q 'info podwire: ADD containerID=$INFRA_ID .* ifname=eth0 ips=$WEB_IP/24' $PM/calls.log \
    && grep -q 'info podwire: DEL containerID=$INFRA_ID ' $PM/calls.log \
    && [[ \$(grep -c ' podwire: ' $PM/calls.log) == \$(grep -cE '^(ADD|DEL|CHECK) ' <<< '$calls') ]]"

section "nothing left behind"
expect "no containers and no pods" \
  bash -c "[[ -z \$(podman ps -aq) && -z \$(podman pod ps -q) ]]"
expect "no leases" bash -c "[[ -z \$(leases_in $LEASES) ]]"
podman_netns() { ls /run/netns 2>/dev/null | grep '^netns-' | sort; }
expect "no network namespaces from podman" bash -c \
  "[[ '$(podman_netns)' == '$(echo "$NETNS_BEFORE" | grep '^netns-' | sort)' ]]"
expect "no veth left on the bridge" bash -c "[[ -z \$(ip -o link show master $BRIDGE 2>/dev/null) ]]"
expect "no libcni cache entries for the network" bash -c "! ls /var/lib/cni/results 2>/dev/null | grep -q '^$NETWORK-'"

finish
