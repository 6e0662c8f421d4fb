#!/usr/bin/env bash
# Builds what the demo, the tests and an install need:
#   .build/release/podwire           the plugin, release mode, statically linked
#   .build/release/podwire-leases    the lease view for operators
#   .build/release/podwire-pause     the pod's pause program (Embedded Swift, static)
#   .build/release/podwire-node      the node daemon and its CLI (cluster networking)
#   netns-test/bin/podwire-cnitool   the libcni client the end-to-end tests drive
set -euo pipefail
cd "$(dirname "$0")/.."

# The toolchain's own static archives draw glibc's warnings about getpwnam and mktemp,
# which podwire never calls; they are filtered so that real warnings stand out.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
REPO=$PWD source scripts/plugin-build-flags.sh
# Linked every time, so that the order file's stale symbols below are counted on every build.
rm -f .build/release/podwire
if ! swift build "${plugin_build_flags[@]}" -Xlinker -s >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
grep -v "statically linked applications requires at runtime" "$log" | grep -v "swift_static/linux/.*warning:" \
  | grep -v "symbol ordering file: no such symbol" | grep -E "warning:|error:" || true
# A stale order file only costs locality, so it does not stop the build; the test command
# fails when more than a fifth of its symbols are gone (netns-test/bench/order-file.sh remakes it).
stale=$(grep -c "symbol ordering file: no such symbol" "$log" || true)
echo "$stale $(wc -l < scripts/podwire.order)" > .build/order-file-stale
# Package.swift makes it static; clang warns that the driver's -pie then does nothing.
swift build -c release --product podwire-pause >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
grep -E "warning:|error:" "$log" | grep -v "argument unused during compilation: '-pie'" || true
# The operators' lease view and the node daemon (long-running, built on the ecosystem's
# packages) carry the Swift runtime, so that a node needs no Swift toolchain: they need only
# Debian's libc, libstdc++ and zlib.
for product in podwire-leases podwire-node; do
  swift build -c release --product "$product" --static-swift-stdlib >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
done

export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS=
export GOCACHE="${GOCACHE:-$PWD/.build-go/cache}"
mkdir -p netns-test/bin
(cd netns-test/tools/cnitool && go build -o ../../bin/podwire-cnitool .)
