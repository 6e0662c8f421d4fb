#!/usr/bin/env bash
# scripts/install.sh as an operator meets it: the plugins, the tools and the example
# conflist land where asked, and nowhere else; a user's files are never overwritten or
# removed unasked; and --uninstall takes away exactly what install put there. Runs in private
# directories.
source "$(dirname "$0")/../lib/lib.sh"

INSTALL="$REPO/scripts/install.sh"
ROOT="$WORK/root"
BIN="$ROOT/opt/cni/bin" CONF="$ROOT/etc/cni/net.d" TOOLS="$ROOT/usr/local/bin"
UNITS="$ROOT/etc/systemd/system" DEFAULTS="$ROOT/etc/default"
EXAMPLE="$REPO/conf/10-podwire.conflist"
installed_conf="$CONF/10-podwire.conflist"
# Every place an install without options writes: none of them may change when it is told
# to install elsewhere.
SYSTEM_PLACES=(/opt/cni/bin/podwire /opt/cni/bin/podwire-ipam /opt/cni/bin/podwire-portmap
  /etc/cni/net.d/10-podwire.conflist /usr/local/bin/podwire-pause /usr/local/bin/podwire-leases
  /usr/local/bin/podwire-node /etc/systemd/system/podwire-node.service /etc/default/podwire-node)
system_state() { local place; for place in "${SYSTEM_PLACES[@]}"; do stat -c '%n %i %Y %s' "$place" 2>&1; done; }
SYSTEM_BEFORE=$(system_state)
install_quietly() { "$INSTALL" "$@" >/dev/null; }
installed_version() { "$1" --version; }

section "install under --root"
expect "install.sh --root succeeds" "$INSTALL" --root "$ROOT"
expect "the plugin is an executable in the bin dir" test -x "$BIN/podwire"
expect "podwire-ipam is a link to it" is "$(readlink "$BIN/podwire-ipam")" podwire
expect "  and podwire-portmap" is "$(readlink "$BIN/podwire-portmap")" podwire
expect "the installed plugin answers --version with podwire's version" \
  says '^podwire [0-9.]*: ' "$BIN/podwire" --version
expect "the installed IPAM link answers as podwire-ipam" says '^podwire-ipam ' "$BIN/podwire-ipam" --version
expect "the installed plugin answers VERSION like any CNI plugin" \
  prints '.supportedVersions | index("1.1.0")' cni_exec VERSION "" "" "" "$BIN/podwire"
expect "podwire-pause is in the tools dir and runs" says '^podwire-pause ' "$TOOLS/podwire-pause" --version
expect "podwire-leases is in the tools dir and runs" says '^podwire-leases ' "$TOOLS/podwire-leases" --version
expect "podwire-node is in the tools dir and runs" says '^podwire-node ' "$TOOLS/podwire-node" --version
refute "podwire-node and podwire-leases need no library of the Swift toolchain (a node has none)" \
  says /opt/swift ldd "$TOOLS/podwire-node" "$TOOLS/podwire-leases"
expect "its systemd unit is installed, as shipped" cmp "$REPO/conf/podwire-node.service" "$UNITS/podwire-node.service"
expect "  and its settings" cmp "$REPO/conf/podwire-node.default" "$DEFAULTS/podwire-node"
expect "the example conflist is in the conf dir, as shipped" cmp "$EXAMPLE" "$installed_conf"
expect "the conflist is readable by all, writable by root only" is "$(stat -c %a "$installed_conf")" 644
expect "nothing outside the root changed" is "$(system_state)" "$SYSTEM_BEFORE"

section "every directory named, or none"
DIRS=(--bin-dir "$WORK/own/bin" --conf-dir "$WORK/own/conf" --tools-dir "$WORK/own/tools" --unit-dir "$WORK/own/units"
  --defaults-dir "$WORK/own/defaults")
expect "install.sh with all five directories succeeds" install_quietly "${DIRS[@]}"
expect "  and puts each part in its own" is "$(cd "$WORK/own" && find . -type f -o -type l | sort | tr '\n' ' ')" \
  "./bin/podwire ./bin/podwire-ipam ./bin/podwire-portmap ./conf/10-podwire.conflist ./defaults/podwire-node \
./tools/podwire-leases ./tools/podwire-node ./tools/podwire-pause ./units/podwire-node.service "
expect "with only --bin-dir, --conf-dir and --tools-dir it refuses (exit 2)" \
  exits 2 "$INSTALL" --bin-dir "$WORK/half/bin" --conf-dir "$WORK/half/conf" --tools-dir "$WORK/half/tools"
expect "  naming what is missing" says 'also give .*--unit-dir' \
  "$INSTALL" --bin-dir "$WORK/half/bin" --conf-dir "$WORK/half/conf" --tools-dir "$WORK/half/tools"
refute "  and installs nothing" test -e "$WORK/half"
expect "--root with directories puts them under the root" install_quietly --root "$WORK/r2" "${DIRS[@]}"
expect "  (the plugin at ROOT/DIR)" test -x "$WORK/r2$WORK/own/bin/podwire"
expect "still nothing outside the directories changed" is "$(system_state)" "$SYSTEM_BEFORE"

section "a second install keeps a conflist the user changed"
jq '.plugins[0].bridge = "mybr0"' "$EXAMPLE" > "$installed_conf"
cp "$installed_conf" "$WORK/users.conflist"
expect "install.sh succeeds" into "$WORK/second.out" "$INSTALL" --root "$ROOT"
expect "it says it kept the changed conflist and how to replace it" file_has "$WORK/second.out" "kept .*--force"
expect "the user's conflist is untouched" cmp "$WORK/users.conflist" "$installed_conf"
expect "--force succeeds" install_quietly --root "$ROOT" --force
expect "  and replaces it with the example" cmp "$EXAMPLE" "$installed_conf"

section "a user's own file of the conflist's name, before any install"
rm -rf "$ROOT"; mkdir -p "$CONF"
echo '{"my":"own"}' > "$installed_conf"
expect "install.sh succeeds" install_quietly --root "$ROOT"
expect "the user's file is still theirs" file_has "$installed_conf" '"my"'

section "uninstall"
echo "not podwire's" > "$BIN/bridge"
expect "uninstall succeeds" into "$WORK/uninstall.out" "$INSTALL" --uninstall --root "$ROOT"
refute "the plugin is gone" test -e "$BIN/podwire"
refute "  and its links" test -L "$BIN/podwire-ipam" -o -L "$BIN/podwire-portmap"
refute "the tools are gone" test -e "$TOOLS/podwire-pause" -o -e "$TOOLS/podwire-leases" -o -e "$TOOLS/podwire-node"
refute "and the unit and its unchanged settings" test -e "$UNITS/podwire-node.service" -o -e "$DEFAULTS/podwire-node"
expect "other plugins in the bin dir are untouched" file_has "$BIN/bridge" "not podwire's"
expect "a conflist that is not podwire's example stays" file_has "$installed_conf" '"my"'
expect "  and uninstall says so" file_has "$WORK/uninstall.out" "kept $installed_conf"
install_quietly --root "$ROOT" --force
echo "mine" > "$BIN/podwire-ipam.keep" && rm "$BIN/podwire-ipam" && mv "$BIN/podwire-ipam.keep" "$BIN/podwire-ipam"
expect "uninstall of an unchanged install succeeds" install_quietly --uninstall --root "$ROOT"
expect "it removes the example conflist it installed" test ! -e "$installed_conf"
expect "a regular file named podwire-ipam is not a podwire link, so it stays" file_has "$BIN/podwire-ipam" '^mine$'
expect "uninstalling again is harmless" install_quietly --uninstall --root "$ROOT"
expect "uninstall with the five directories takes that install away" install_quietly --uninstall "${DIRS[@]}"
expect "  entirely" is "$(find "$WORK/own" -type f -o -type l)" ""

section "usage errors"
refute "an unknown option is refused" "$INSTALL" --bogus
expect "the refusal exits 2" exits 2 "$INSTALL" --bogus
refute "a directory option without a directory is refused" "$INSTALL" --bin-dir
expect "nothing was installed by the refused calls" test ! -e "$BIN/podwire"
expect "and after all of it, nothing outside the test's directories changed" is "$(system_state)" "$SYSTEM_BEFORE"

finish
