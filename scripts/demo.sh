#!/usr/bin/env bash
# Installs what podwire needs, builds it, and runs the demos: the pod demo, the cluster demo
# (three nodes in network namespaces, podwire-node on each, etcd in one), then the routed-pods
# demo (the same nodes over BGP, reached by a client outside the cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
netns-test/demo/node.sh
netns-test/demo/cluster.sh
netns-test/demo/bgp.sh
