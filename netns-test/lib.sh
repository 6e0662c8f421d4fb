# Shared by the end-to-end tests: names unique to the run, cleanup that runs on any exit,
# and a tally whose last line is "N passed, N failed".
# shellcheck shell=bash
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PODWIRE=${PODWIRE:-$REPO/.build/release/podwire}
CNITOOL=${CNITOOL:-$REPO/netns-test/bin/podwire-cnitool}
REFERENCE_DIR=${REFERENCE_DIR:-/usr/lib/cni}

# Short, so that "<prefix><run id>" names fit the kernel's 15-byte interface names.
RUN_ID=$(printf '%04x%02x' $((RANDOM)) $((RANDOM % 256)))
WORK=$(mktemp -d "/tmp/podwire-e2e-$RUN_ID-XXXX")
PASSED=0
FAILED=0
SKIPPED=0
# What a test makes is written down in files, not shell arrays: names are made inside
# $(...) subshells, whose variables die with them.
cleanup() {
  local name
  while read -r name; do kill "$name" 2>/dev/null; done < <(cat "$WORK/made.pids" 2>/dev/null)
  while read -r name; do
    [[ -d $POD_STATE/$name ]] && "$REPO/netns-test/pod.sh" delete "$name" >/dev/null 2>&1
  done < <(cat "$WORK/made.pods" 2>/dev/null)
  while read -r name; do ip netns del "$name" 2>/dev/null; done < <(cat "$WORK/made.netns" 2>/dev/null)
  clean_podwire_table
  while read -r name; do ip link del "$name" 2>/dev/null; done < <(cat "$WORK/made.links" 2>/dev/null)
  rm -rf "$WORK"
}
# podwire's nftables tables (inet podwire, and bridge podwire for macspoofchk) are the
# node's: a run removes its own elements (their comments name networks that carry the run
# id, or labels it wrote down), and a table itself only if the run created it.
PODWIRE_TABLES=("inet podwire" "bridge podwire")
TABLES_MADE_BEFORE=()
for table in "${PODWIRE_TABLES[@]}"; do
  # shellcheck disable=SC2086
  nft list table $table >/dev/null 2>&1 && TABLES_MADE_BEFORE+=("$table")
done
# The reference plugins' iptables (the nft flavour) makes tables of its own on first use. One
# that appeared during the run goes only if it holds nothing but what those plugins make:
# CNI-* chains, and built-in chains whose rules only jump to them. A table another program
# made or filled meanwhile (kube-proxy's, say) stays.
TABLES_BEFORE=$(nft list tables 2>/dev/null)
only_cni_chains() { # only_cni_chains FAMILY NAME
  nft -j list table "$1" "$2" 2>/dev/null | jq -e '[.nftables[]] as $all
    | ([$all[] | .chain? | select(.) | .name
        | select(test("^(CNI-.*|PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)$") | not)] | length == 0)
    and ([$all[] | .rule? | select(.) | select(.chain | test("^CNI-") | not)
          | select([.expr[] | (.jump.target? // .goto.target? // "") | test("^CNI-")] | any | not)] | length == 0)' \
    >/dev/null
}
clean_podwire_table() {
  local table family name
  while read -r table; do
    [[ -n $table && $table != "table inet podwire" && $table != "table bridge podwire" ]] \
      && ! grep -qxF "$table" <<< "$TABLES_BEFORE" \
      && only_cni_chains $(cut -d' ' -f2,3 <<< "$table") && nft delete $table 2>/dev/null
  done < <(nft list tables 2>/dev/null)
  touch "$WORK/made.labels"
  for table in "${PODWIRE_TABLES[@]}"; do
    read -r family name <<< "$table"
    nft -j list table "$family" "$name" 2>/dev/null | jq -c --arg run "$RUN_ID" --arg family "$family" \
      --rawfile labels "$WORK/made.labels" '
      ($labels | split("\n") | map(select(length > 0))) as $made | {nftables: [.nftables[] | (.set // .map) | select(.)
        | {delete: {element: {family: $family, table: "podwire", name: .name,
            elem: [(.elem // [])[] | select(((if type == "array" then .[0] else . end) | .elem.comment? // "")
              | contains($run) or (. as $c | $made | index($c) != null))]}}}
        | select(.delete.element.elem | length > 0)]}' | nft -j -f - 2>/dev/null
    # The table goes only if this run made it and nobody else's elements are in it.
    if ! printf '%s\n' "${TABLES_MADE_BEFORE[@]}" | grep -qxF "$table" \
        && ! nft list table "$family" "$name" 2>/dev/null | grep -q 'comment "'; then
      nft delete table "$family" "$name" 2>/dev/null
    fi
  done
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A CNI_PATH with podwire and the reference plugins side by side. podwire is copied in, as
# an install copies it: a binary fresh from the linker sits in the page cache in single
# pages, and every exec of it takes a fifth more page faults than of a copied one (measured
# on ADD: 122 against 101), which the reference's files, installed by dpkg, do not pay.
mkdir -p "$WORK/bin" "$WORK/conf" "$WORK/data"
cp "$PODWIRE" "$WORK/bin/podwire"
ln -s podwire "$WORK/bin/podwire-ipam"
ln -s podwire "$WORK/bin/podwire-portmap"
for plugin in bridge host-local loopback portmap bandwidth tuning firewall ptp; do
  [[ -x "$REFERENCE_DIR/$plugin" ]] && ln -s "$REFERENCE_DIR/$plugin" "$WORK/bin/$plugin"
done
export CNI_PATH="$WORK/bin"
export NETCONFPATH="$WORK/conf"
export CNI_CACHEDIR="$WORK/cache"

new_netns() { # new_netns NAME -> creates pw<run>-NAME, prints its path
  local name="pw$RUN_ID-$1"
  echo "$name" >> "$WORK/made.netns"
  ip netns add "$name"
  echo "/var/run/netns/$name"
}

# Pods made with netns-test/pod.sh keep their state here and are deleted at exit.
export POD_STATE="$WORK/pods"

new_pod_name() { # new_pod_name NAME -> pw<run>-NAME, deleted with pod.sh at exit
  local name="pw$RUN_ID-$1"
  echo "$name" >> "$WORK/made.pods"
  echo "$name"
}

new_bridge_name() { # a bridge name unique to this run, removed at exit
  local name="pwb$RUN_ID$1"
  echo "$name" >> "$WORK/made.links"
  echo "$name"
}

# A subnet unlikely to be in use on the machine: 10.250-253.x.0/24, picked per run.
SUBNET_BASE="10.$((250 + RANDOM % 4)).$((RANDOM % 250))"
SUBNET6_BASE="fd$(printf '%02x' $((RANDOM % 256))):$(printf '%x' $((RANDOM)))"

host_veth_of() { # host_veth_of CONTAINER_ID IFNAME -> podwire's host end name, remembered for cleanup
  local name
  name=$(python3 "$REPO/netns-test/podnames.py" "$1" "$2")
  echo "$name" >> "$WORK/made.links"
  echo "$name"
}

# attachment_label NETWORK CONTAINER_ID IFNAME -> its nftables comments' text (names too long
# to carry the run id become digests), remembered so that cleanup finds its elements.
attachment_label() {
  local label
  label=$(python3 "$REPO/netns-test/podnames.py" --label "$1" "$2" "$3")
  echo "$label" >> "$WORK/made.labels"
  echo "$label"
}

write_conflist() { # write_conflist NAME JSON_PLUGINS [CNIVERSION]
  local name=$1 plugins=$2 version=${3:-1.0.0}
  printf '{"cniVersion":"%s","name":"%s","plugins":%s}\n' "$version" "$name" "$plugins" > "$NETCONFPATH/$name.conflist"
}

pass() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf '  FAIL  %s\n' "$1"; [[ -n "${2:-}" ]] && printf '        %s\n' "$2"; }

# skip DESCRIPTION REASON: the machine cannot show this; the reason is printed as evidence.
skip() { SKIPPED=$((SKIPPED + 1)); printf '  skip  %s\n        %s\n' "$1" "$2"; }

# expect DESCRIPTION COMMAND...: passes when the command succeeds.
expect() {
  local what=$1; shift
  local output
  if output=$("$@" 2>&1); then pass "$what"; else fail "$what" "$(echo "$output" | tail -3)"; fi
}

# refute DESCRIPTION COMMAND...: passes when the command fails.
refute() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then fail "$what" "succeeded but should not"; else pass "$what"; fi
}

# all_same VALUE...: true when all are equal; all_different VALUE...: when none are.
# Either prints the values when it fails, for the test's report.
all_same() { [[ $(printf '%s\n' "$@" | sort -u | wc -l) == 1 ]] || { printf '%s\n' "$@"; false; }; }
all_different() { [[ $(printf '%s\n' "$@" | sort -u | wc -l) == $# ]] || { printf '%s\n' "$@"; false; }; }

section() { printf '\n%s\n' "$1"; }

finish() {
  printf '\n%s: %d passed, %d failed, %d skipped\n' "$(basename "$0" .sh)" "$PASSED" "$FAILED" "$SKIPPED"
  [[ $FAILED -eq 0 ]]
}

# lease_holder DIR IP -> the container ID in a lease file (which holds ID, CRLF, ifname).
lease_holder() { head -1 "$1/$2" 2>/dev/null | tr -d '\r'; }

# runtime_conflist NAME BRIDGE SUBNET LOG_FILE -> conf/'s example for runtimes (masquerade,
# portMappings and bandwidth capabilities) on the run's bridge, subnet and store, call log on.
runtime_conflist() {
  jq --arg name "$1" --arg br "$2" --arg subnet "$3" --arg data "$WORK/data" --arg log "$4" '
    .name = $name | .plugins[0].bridge = $br | .plugins[0].ipam.ranges = [[{subnet: $subnet}]]
    | .plugins[0].ipam.dataDir = $data | .plugins[0].logFile = $log' "$REPO/conf/20-podwire-full.conflist"
}

leases_in() { # leases_in DIR -> the lease files (named by IP) in a host-local network directory
  ls "$1" 2>/dev/null | grep -Ev '^(lock|last_reserved_ip\..*)$' || true
}
export -f leases_in

# iperf_bps CLIENT SERVER ADDRESS [PORT] -> bits per second of one TCP stream, SECONDS_EACH long,
# from netns CLIENT to an iperf3 server on port 5201 in netns SERVER (names as new_netns takes),
# reached at ADDRESS:PORT; nothing when the transfer failed.
iperf_bps() {
  ip netns exec "pw$RUN_ID-$2" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  local server=$!
  sleep 0.3
  ip netns exec "pw$RUN_ID-$1" iperf3 -c "$3" -p "${4:-5201}" -t "${SECONDS_EACH:-5}" -J 2>/dev/null \
    | jq '.end.sum_received.bits_per_second // empty'
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null
  return 0
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }
