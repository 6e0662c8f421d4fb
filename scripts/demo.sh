#!/usr/bin/env bash
# Installs what podwire needs, builds it, and runs the demos: the pod demo, then the cluster
# demo (three nodes in network namespaces, podwire-node on each, etcd in one).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
netns-test/demo/node.sh
netns-test/demo/cluster.sh
