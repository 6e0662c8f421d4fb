#!/usr/bin/env bash
# Installs what podwire needs, builds it, and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec netns-test/demo-pod.sh
