#!/usr/bin/env bash
# Installs every Debian package podwire's build, demo and tests use. Idempotent:
# packages already present are not fetched again, and the package index is
# refreshed only when something is missing.
set -euo pipefail

packages=(
  linux-libc-dev                              # the kernel's netlink headers (Sources/Kernel/CNetlink)
  libmnl-dev                                  # for the record: shared only in Debian, so not linked
  strace                                      # recaptures the golden references (Tests/Kernel/NetlinkTests)
  iproute2 iputils-ping nftables procps       # tests look at what the plugin did
  iptables                                    # the reference portmap and firewall use it
  containernetworking-plugins                 # the reference plugins, side by side
  golang-go golang-github-appc-cni-dev  # the libcni test client
  util-linux jq bc time                         # unshare/nsenter, JSON in scripts, peak RSS
  busybox-static python3                        # the pod demo's app containers; test helpers
  podman runc catatonit conmon uidmap           # the podman end-to-end test (CNI backend)
  containerd python3-grpcio                     # the containerd test and its CRI client
  valgrind                                      # profiling: netns-test/bench/order-file.sh
  etcd-server etcd-client openssl               # the cluster's store, and certificates for its TLS tests
  iperf3                                        # the cluster data-path benchmark
  bird2 frr tcpdump                             # the bgp backend's routing daemon; the tests' router; captures
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
