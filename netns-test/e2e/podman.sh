#!/usr/bin/env bash
# podwire under podman, with its CNI network backend, end to end: podwire installed by
# scripts/install.sh, real containers run by runc from a busybox rootfs directory, a pod
# whose infra container is podwire-pause, a published port, and teardown that releases
# everything. podman is configured by this test alone (its own containers.conf, storage and
# network config dir); nothing is pulled from a registry.
source "$(dirname "$0")/../lib/lib.sh"

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

infra_image() {
  tar -C "$template" -c . \
    | podman import --change 'ENTRYPOINT=["/bin/podwire-pause"]' - "localhost/podwire-pause:$RUN_ID"
}
expect "the infra image is built locally: the rootfs with podwire-pause as its entrypoint" infra_image
expect "podman uses its CNI backend" is "$(podman info --format '{{.Host.NetworkBackend}}')" cni
expect "podman lists the network with podwire as its driver" \
  prints '.[0].driver == "podwire"' podman network inspect "$NETWORK"

in_subnet() { [[ $1 == "$SUBNET_BASE".* ]] || { echo "$1 is not in $SUBNET"; false; }; }
ip_in() { podman exec "$1" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1; }
hello() { timeout "${2:-5}" busybox wget -qO- "http://$1/" | grep -q 'hello from a podwire pod'; }  # hello HOST:PORT
no_containers() { is "$(podman ps -aq)" ""; }

section "a container gets its address from podwire"
podman run -d --init --name "solo$RUN_ID" --rootfs "$(rootfs solo)" sleep 600 >/dev/null
SOLO_ID=$(podman inspect "solo$RUN_ID" --format '{{.Id}}')
SOLO_IP=$(ip_in "solo$RUN_ID")
expect "it runs, with an IPv4 address in podwire's subnet" in_subnet "$SOLO_IP"
expect "its lease names the container ID" is "$(lease_holder "$LEASES" "$SOLO_IP")" "$SOLO_ID"
expect "  in full: 64 hex digits" matches "$SOLO_ID" '^[0-9a-f]{64}$'
expect "its default route is podwire's gateway on the bridge" \
  says "default via $GATEWAY" podman exec "solo$RUN_ID" ip route
expect "the host reaches it across the bridge" ping -c1 -W2 "$SOLO_IP"
expect "stop" podman stop -t 2 "solo$RUN_ID"
refute "  releases the lease" test -e "$LEASES/$SOLO_IP"
expect "rm" podman rm "solo$RUN_ID"
expect "  leaves no container" no_containers

section "a pod: two containers share the pause container's address and localhost"
POD="pod$RUN_ID"
expect "podman pod create with a published port" podman pod create --name "$POD" -p "$HOSTPORT:80"
podman run -d --init --pod "$POD" --name "web$RUN_ID" --rootfs "$(rootfs web)" httpd -f -p 80 -h /www >/dev/null
podman run -d --init --pod "$POD" --name "cli$RUN_ID" --rootfs "$(rootfs cli)" sleep 600 >/dev/null
INFRA_ID=$(podman pod inspect "$POD" --format '{{.InfraContainerID}}')
WEB_IP=$(ip_in "web$RUN_ID") CLI_IP=$(ip_in "cli$RUN_ID")
expect "the pod's infra container runs podwire-pause" says podwire-pause podman top "$INFRA_ID" args
expect "both containers have the same address" is "$CLI_IP" "$WEB_IP"
expect "  in podwire's subnet" in_subnet "$WEB_IP"
expect "the pod has one lease" lease_count "$LEASES" 1
expect "  held by the infra container" is "$(lease_holder "$LEASES" "$WEB_IP")" "$INFRA_ID"
expect "cli fetches web over localhost" \
  says 'hello from a podwire pod' podman exec "cli$RUN_ID" wget -qO- http://127.0.0.1:80/
expect "the published port answers on the host's loopback" hello "127.0.0.1:$HOSTPORT"
expect "the published port answers on the host's bridge address" hello "$GATEWAY:$HOSTPORT"
expect "podwire's table holds the pod's port mapping" says "$NETWORK $INFRA_ID eth0" nft list table inet podwire
podman kill "web$RUN_ID" >/dev/null 2>&1
podman start "web$RUN_ID" >/dev/null
expect "web killed and started again keeps the pod's address" is "$(ip_in "web$RUN_ID")" "$WEB_IP"
sleep 0.3
expect "and serves on the published port again" hello "127.0.0.1:$HOSTPORT"
expect "podman pod stop" podman pod stop -t 2 "$POD"
expect "  releases the lease" no_leases "$LEASES"
refute "and removes the port mapping from podwire's table" says "$NETWORK " nft list table inet podwire
refute "the published port no longer answers" hello "127.0.0.1:$HOSTPORT" 2
expect "podman pod rm removes the pod" podman pod rm "$POD"
expect "  and its containers" no_containers

section "what podman sent, and what podwire answered"
calls=$(cat "$PM/calls.txt" 2>/dev/null)
echo "$calls" | awk '{print $1, "exit " $2, substr($3, 1, 12)}' | sort | uniq -c | sed 's/^ */        /'
count() { grep -cE -- "$1" <<< "$calls"; }  # count REGEX: calls that match
expect "podman asked VERSION several times" at_least "$(count '^VERSION 0 ')" 2
expect "  and every answer was exit 0" is "$(count '^VERSION ')" "$(count '^VERSION 0 ')"
expect "one ADD and one DEL for the container and for the pod" is "$(count '^ADD 0 ') $(count '^DEL 0 ')" "2 2"
expect "  and every call exit 0" is "$(count '^[A-Z]* [1-9]')" 0
expect "every ADD and DEL carried a 64-hex container ID" \
  is "$(count '^(ADD|DEL) ')" "$(count '^(ADD|DEL) [0-9]+ [0-9a-f]{64} ')"
expect "every ADD and DEL carried IgnoreUnknown=1 in CNI_ARGS" \
  is "$(count '^(ADD|DEL) ')" "$(count '^(ADD|DEL) .*IgnoreUnknown=1(;|$)')"
expect "  and K8S_POD_NAME" is "$(count '^(ADD|DEL) ')" "$(count '^(ADD|DEL) .*K8S_POD_NAME=')"
expect "the call log has a line per ADD, with IDs, interface and addresses" \
  file_has "$PM/calls.log" "info podwire: ADD containerID=$INFRA_ID .* ifname=eth0 ips=$WEB_IP/24"
expect "  and per DEL" file_has "$PM/calls.log" "info podwire: DEL containerID=$INFRA_ID "
expect "  and no other" is "$(grep -c ' podwire: ' "$PM/calls.log")" "$(count '^(ADD|DEL|CHECK) ')"

section "nothing left behind"
expect "no containers or pods" no_containers
expect "  no pods" is "$(podman pod ps -q)" ""
expect "no leases" no_leases "$LEASES"
podman_netns() { ls /run/netns 2>/dev/null | grep '^netns-' | sort; }
expect "no network namespaces from podman" is "$(podman_netns)" "$(echo "$NETNS_BEFORE" | grep '^netns-' | sort)"
expect "no veth left on the bridge" is "$(ip -o link show master "$BRIDGE" 2>/dev/null)" ""
refute "no libcni cache entries for the network" says "^$NETWORK-" ls /var/lib/cni/results

finish
