# The shell library of the end-to-end tests, benchmarks and demos: names unique to the run,
# a cleanup registry that runs on any exit, the one way to run a plugin (cni_exec) and the
# one way to run a conflist as a runtime does (runtime_exec), named assertions, and a tally
# whose last line is "SUITE: N passed, N failed, N skipped".
# shellcheck shell=bash
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PODWIRE=${PODWIRE:-$REPO/.build/release/podwire}
LEASES=${LEASES:-$REPO/.build/release/podwire-leases}
CNITOOL=${CNITOOL:-$REPO/netns-test/bin/podwire-cnitool}
REFERENCE_DIR=${REFERENCE_DIR:-/usr/lib/cni}
# The route protocol of the routes podwire-node owns: RouteProtocol.podwire
# (Sources/Kernel/RouteNetlink/Route.swift).
PODWIRE_ROUTE_PROTO=112
# The suite's name in its summary line: its folder and file, "e2e/bridge".
SUITE=$(basename "$(dirname "$0")")/$(basename "$0" .sh)

# MARK: running plugins

# cni_exec COMMAND ID CONFIG [NETNS] [PLUGIN]: PLUGIN (podwire unless named; a name in
# $CNI_PATH or a path) exec'd as a runtime execs a plugin: CONFIG on stdin, CNI_COMMAND,
# CNI_CONTAINERID and CNI_NETNS set, CNI_IFNAME from $IFNAME (eth0 when unset), CNI_ARGS passed on.
# With $CNI_EXEC_UNDER (words), the plugin runs under that command (valgrind …); with
# $RUNTIME_NETNS, in that netns, as a node's runtime in a cluster test. Prints the plugin's
# stdout; its status is the call's.
cni_exec() {
  local plugin=${5:-podwire}
  [[ $plugin == */* ]] || plugin=$CNI_PATH/$plugin
  # shellcheck disable=SC2086
  printf '%s' "$3" | CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=${4:-} CNI_IFNAME=${IFNAME-eth0} \
    CNI_PATH=${CNI_PATH:-} ${RUNTIME_NETNS:+ip netns exec "$RUNTIME_NETNS"} ${CNI_EXEC_UNDER:-} "$plugin"
}

# runtime_exec add|check|del NETWORK ID NETNS: the conflist NETWORK in $NETCONFPATH run as a
# runtime runs it, through libcni (its cache in $CNI_CACHEDIR, its chaining, its capability
# arguments from $CAP_ARGS); CNI_IFNAME from $IFNAME. With $RUNTIME_NETNS, the runtime runs in
# that netns, as a node's runtime in a cluster test. Prints the result; its status is the call's.
runtime_exec() {
  CNI_CONTAINERID=$3 CNI_IFNAME=${IFNAME:-eth0} ${RUNTIME_NETNS:+ip netns exec "$RUNTIME_NETNS"} \
    "$CNITOOL" "$1" "$2" "$4"
}

# single_config CONFLIST_FILE: the conflist's first plugin as a config of its own.
single_config() { jq -c '.plugins[0] + {cniVersion: .cniVersion, name: .name}' "$1"; }

# MARK: names

new_netns() { # new_netns NAME -> creates pw<run>-NAME, prints its path
  local name="pw$RUN_ID-$1"
  echo "$name" >> "$WORK/made.netns"
  ip netns add "$name"
  echo "/var/run/netns/$name"
}
netns_name() { echo "${1##*/}"; }  # netns_name PATH -> the name ip -n takes

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

# What podwire names after an attachment, asked of podwire itself (podwire-leases names):
# the tests never derive a name on their own.
attachment_name() { # attachment_name host-veth|ifb|label NETWORK ID IFNAME
  local line
  case $1 in host-veth) line=1 ;; ifb) line=2 ;; label) line=3 ;; esac
  "$LEASES" names "$2" "$3" "$4" | sed -n "${line}p"
}
host_veth_of() { # host_veth_of ID IFNAME -> the attachment's host end, remembered for cleanup
  local name
  name=$(attachment_name host-veth - "$1" "$2")
  echo "$name" >> "$WORK/made.links"
  echo "$name"
}
ifb_of() { # ifb_of ID IFNAME -> the attachment's ifb, remembered for cleanup
  local name
  name=$(attachment_name ifb - "$1" "$2")
  echo "$name" >> "$WORK/made.links"
  echo "$name"
}
# attachment_label NETWORK ID IFNAME -> its nftables comments' text (names too long to carry
# the run id become digests), remembered so that cleanup finds its elements.
attachment_label() {
  local label
  label=$(attachment_name label "$1" "$2" "$3")
  echo "$label" >> "$WORK/made.labels"
  echo "$label"
}

write_conflist() { # write_conflist NAME JSON_PLUGINS [CNIVERSION]
  local name=$1 plugins=$2 version=${3:-1.0.0}
  printf '{"cniVersion":"%s","name":"%s","plugins":%s}\n' "$version" "$name" "$plugins" > "$NETCONFPATH/$name.conflist"
}

# runtime_conflist NAME BRIDGE SUBNET LOG_FILE -> conf/'s example for runtimes (masquerade,
# portMappings and bandwidth capabilities) on the run's bridge, subnet and store, call log on.
runtime_conflist() {
  jq --arg name "$1" --arg br "$2" --arg subnet "$3" --arg data "$WORK/data" --arg log "$4" '
    .name = $name | .plugins[0].bridge = $br | .plugins[0].ipam.ranges = [[{subnet: $subnet}]]
    | .plugins[0].ipam.dataDir = $data | .plugins[0].logFile = $log' "$REPO/conf/20-podwire-full.conflist"
}

# MARK: the tally

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

section() { printf '\n%s\n' "$1"; }

finish() {
  printf '\n%s: %d passed, %d failed, %d skipped\n' "$SUITE" "$PASSED" "$FAILED" "$SKIPPED"
  [[ $FAILED -eq 0 ]]
}

# MARK: assertions, for expect and refute. Each prints what it saw when it fails.

is() { [[ $1 == "$2" ]] || { echo "got '$1', wanted '$2'"; false; }; }   # is ACTUAL WANTED
matches() { grep -qE -- "$2" <<< "$1" || { echo "'$1' does not match $2"; false; }; }  # matches TEXT REGEX
at_least() { (($1 >= $2)) || { echo "$1 < $2"; false; }; }  # at_least N MIN
# all_same VALUE...: true when all are equal; all_different VALUE...: when none are.
all_same() { [[ $(printf '%s\n' "$@" | sort -u | wc -l) == 1 ]] || { printf '%s\n' "$@"; false; }; }
all_different() { [[ $(printf '%s\n' "$@" | sort -u | wc -l) == $# ]] || { printf '%s\n' "$@"; false; }; }
# json FILE JQ_EXPRESSION: the expression is true of the file.
json() { jq -e "$2" "$1" >/dev/null || { echo "$1: not $2: $(head -c 300 "$1")"; false; }; }
# prints JQ_EXPRESSION COMMAND...: the command succeeds and the expression is true of its stdout.
prints() {
  local expression=$1 out; shift
  out=$("$@") || { echo "exit $?: $out"; return 1; }
  jq -e "$expression" <<< "$out" >/dev/null || { echo "not $expression: $out"; false; }
}
# answer COMMAND...: what the command prints, its status dropped (a refusal's error JSON).
answer() { "$@"; true; }
# into FILE COMMAND...: the command, its stdout written to FILE; its status is the command's.
into() { local file=$1; shift; "$@" > "$file"; }
# prints_nothing COMMAND...: it succeeds and prints nothing on stdout.
prints_nothing() { local out; out=$("$@") && [[ -z $out ]] || { echo "exit $?: $out"; false; }; }
# says REGEX COMMAND...: the command's stdout and stderr together match REGEX, whatever its status.
says() { local regex=$1 out; shift; out=$("$@" 2>&1); grep -qE -- "$regex" <<< "$out" || { echo "$out"; false; }; }
# cni_error CODE COMMAND...: the command fails and prints a CNI error of that code, with a message.
cni_error() {
  local code=$1 out status; shift
  out=$("$@"); status=$?
  ((status != 0)) && jq -e --argjson c "$code" '.code == $c and (.msg | length > 0)' <<< "$out" >/dev/null \
    || { echo "exit $status: $out"; false; }
}
# exits STATUS COMMAND...: the command exits with STATUS.
exits() { local want=$1; shift; "$@" >/dev/null 2>&1; local status=$?; is "$status" "$want"; }
# eventually SECONDS COMMAND...: the command succeeds within SECONDS, tried every 0.1 s.
eventually() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do ((SECONDS >= deadline)) && { "$@"; return 1; }; sleep 0.1; done
}
has_link() { if [[ -n ${2:-} ]]; then ip -n "$2" link show "$1"; else ip link show "$1"; fi >/dev/null; }
lacks_link() { ! has_link "$@" 2>/dev/null || { echo "link $1 exists"; false; }; }  # lacks_link NAME [NETNS]
# link_shows NAME REGEX [NETNS]: ip link show NAME (in NETNS) matches REGEX.
link_shows() { says "$2" ip ${3:+-n "$3"} -d link show "$1"; }
# address_shows NETNS IFNAME REGEX: ip addr show of IFNAME in NETNS matches REGEX.
address_shows() { says "$3" ip -n "$1" -o addr show dev "$2"; }
route_shows() { says "$2" ip -n "$1" route show "${@:3}"; }  # route_shows NETNS REGEX [ip route show args]
sysfs_is() { is "$(cat "/sys/class/net/$1")" "$2"; }  # sysfs_is IFNAME/ATTRIBUTE VALUE
file_has() { grep -qE -- "$2" "$1" || { echo "$1: no $2"; false; }; }  # file_has FILE REGEX
process_gone() { ! kill -0 "$1" 2>/dev/null; }  # process_gone PID

# MARK: the host-local store

# lease_holder DIR IP -> the container ID in a lease file (which holds ID, CRLF, ifname).
lease_holder() { head -1 "$1/$2" 2>/dev/null | tr -d '\r'; }
leases_in() { # leases_in DIR -> the lease files (named by IP) in a host-local network directory
  ls "$1" 2>/dev/null | grep -Ev '^(lock|last_reserved_ip\..*)$' || true
}
export -f leases_in
no_leases() { local left; left=$(leases_in "$1"); [[ -z $left ]] || { echo "leases left in $1:" $left; false; }; }
lease_count() { is "$(leases_in "$1" | wc -l)" "$2"; }  # lease_count DIR N

# MARK: measuring

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
# iperf_rounds ROUNDS NAME:CLIENT:SERVER:ADDRESS[:PORT]...: every transfer in turn, in each of
# ROUNDS rounds (a noisy machine then weighs on every kind alike); each result's bits per
# second are appended to results[NAME], which the caller declares (declare -A results).
iperf_rounds() {
  local round kind name client server address port
  for round in $(seq "$1"); do
    for kind in "${@:2}"; do
      IFS=: read -r name client server address port <<< "$kind"
      results[$name]+="$(iperf_bps "$client" "$server" "$address" "${port:-5201}") "
    done
  done
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }

# MARK: the run

# A tool that keeps state between invocations (tools/sentinel.sh) takes the functions alone:
# a run's names, work directory and cleanup at exit would not outlive it.
[[ -n ${PODWIRE_LIB_ONLY:-} ]] && return 0

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
  # Daemons that fork away (BIRD, FRR) are named by the PID files the run told them to write.
  while read -r name; do
    [[ -s $name ]] && kill "$(cat "$name")" 2>/dev/null
  done < <(cat "$WORK/made.pidfiles" 2>/dev/null)
  while read -r name; do
    [[ -d $POD_STATE/$name ]] && "$REPO/netns-test/tools/pod.sh" delete "$name" >/dev/null 2>&1
  done < <(cat "$WORK/made.pods" 2>/dev/null)
  while read -r name; do ip netns del "$name" 2>/dev/null; done < <(cat "$WORK/made.netns" 2>/dev/null)
  clean_podwire_table
  while read -r name; do ip link del "$name" 2>/dev/null; done < <(cat "$WORK/made.links" 2>/dev/null)
  while read -r name; do git -C "$REPO" worktree remove --force "$name" 2>/dev/null; done \
    < <(cat "$WORK/made.worktrees" 2>/dev/null)
  while read -r name; do rm -rf "$name"; done < <(cat "$WORK/made.dirs" 2>/dev/null)
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
# Pods made with netns-test/tools/pod.sh keep their state here and are deleted at exit.
export POD_STATE="$WORK/pods"
