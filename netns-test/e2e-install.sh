#!/usr/bin/env bash
# scripts/install.sh as an operator meets it: the plugins, the tools and the example
# conflist land where asked; a user's files are never overwritten or removed unasked; and
# --uninstall takes away exactly what install put there. Runs in private directories.
source "$(dirname "$0")/lib.sh"

INSTALL="$REPO/scripts/install.sh"
ROOT="$WORK/root"
BIN="$ROOT/opt/cni/bin" CONF="$ROOT/etc/cni/net.d" TOOLS="$ROOT/usr/local/bin"
UNITS="$ROOT/etc/systemd/system" DEFAULTS="$ROOT/etc/default"
DIRS=(--bin-dir "$BIN" --conf-dir "$CONF" --tools-dir "$TOOLS" --unit-dir "$UNITS" --defaults-dir "$DEFAULTS")
EXAMPLE="$REPO/conf/10-podwire.conflist"
installed_conf="$CONF/10-podwire.conflist"

section "install into empty directories"
expect "install.sh succeeds" "$INSTALL" "${DIRS[@]}"
expect "the plugin is an executable in the bin dir" test -x "$BIN/podwire"
expect "podwire-ipam and podwire-portmap are links to it" \
  bash -c "[[ \$(readlink $BIN/podwire-ipam) == podwire && \$(readlink $BIN/podwire-portmap) == podwire ]]"
expect "the installed plugin answers --version with podwire's version" \
  bash -c "$BIN/podwire --version | grep -qx 'podwire [0-9.]*: .*'"
expect "the installed IPAM link answers as podwire-ipam" bash -c \
  "$BIN/podwire-ipam --version | grep -q '^podwire-ipam '"
expect "the installed plugin answers VERSION like any CNI plugin" \
  bash -c "CNI_COMMAND=VERSION $BIN/podwire </dev/null | jq -e '.supportedVersions | index(\"1.1.0\")'"
expect "podwire-pause is in the tools dir and runs" bash -c "$TOOLS/podwire-pause --version | grep -q '^podwire-pause '"
expect "podwire-leases is in the tools dir and runs" bash -c \
  "$TOOLS/podwire-leases --version | grep -q '^podwire-leases '"
expect "podwire-node is in the tools dir and runs" bash -c "$TOOLS/podwire-node --version | grep -q '^podwire-node '"
expect "podwire-node and podwire-leases need no library of the Swift toolchain (a node has none)" \
  bash -c "libraries=\$(ldd $TOOLS/podwire-node $TOOLS/podwire-leases) && ! grep -q /opt/swift <<< \"\$libraries\""
expect "its systemd unit and settings are installed, as shipped" bash -c \
  "cmp $REPO/conf/podwire-node.service $UNITS/podwire-node.service && cmp $REPO/conf/podwire-node.default \
  $DEFAULTS/podwire-node"
expect "the example conflist is in the conf dir, as shipped" cmp "$EXAMPLE" "$installed_conf"
expect "the conflist is readable by all, writable by root only" bash -c "[[ \$(stat -c %a $installed_conf) == 644 ]]"

section "a second install keeps a conflist the user changed"
jq '.plugins[0].bridge = "mybr0"' "$EXAMPLE" > "$installed_conf"
cp "$installed_conf" "$WORK/users.conflist"
output=$("$INSTALL" "${DIRS[@]}" 2>&1)
expect "install.sh succeeds" test $? -eq 0
expect "it says it kept the changed conflist and how to replace it" grep -q "kept .*--force" <<< "$output"
expect "the user's conflist is untouched" cmp "$WORK/users.conflist" "$installed_conf"
expect "--force replaces it with the example" bash -c \
  "'$INSTALL' ${DIRS[*]} --force >/dev/null && cmp '$EXAMPLE' '$installed_conf'"

section "a user's own file of the conflist's name, before any install"
rm -rf "$ROOT"; mkdir -p "$CONF"
echo '{"my":"own"}' > "$installed_conf"
expect "install.sh succeeds" bash -c "'$INSTALL' ${DIRS[*]} >/dev/null"
expect "the user's file is still theirs" grep -q '"my"' "$installed_conf"

section "uninstall"
echo "not podwire's" > "$BIN/bridge"
expect "uninstall succeeds" bash -c "'$INSTALL' --uninstall ${DIRS[*]} > $WORK/uninstall.out"
expect "the plugin and its links are gone" bash -c \
  "[[ ! -e $BIN/podwire && ! -L $BIN/podwire-ipam && ! -L $BIN/podwire-portmap ]]"
expect "the tools are gone" bash -c \
  "[[ ! -e $TOOLS/podwire-pause && ! -e $TOOLS/podwire-leases && ! -e $TOOLS/podwire-node ]]"
expect "and the unit and its unchanged settings" bash -c \
  "[[ ! -e $UNITS/podwire-node.service && ! -e $DEFAULTS/podwire-node ]]"
expect "other plugins in the bin dir are untouched" grep -q "not podwire's" "$BIN/bridge"
expect "a conflist that is not podwire's example stays, and uninstall says so" \
  bash -c "grep -q '\"my\"' $installed_conf && grep -q 'kept $installed_conf' $WORK/uninstall.out"
"$INSTALL" "${DIRS[@]}" --force >/dev/null
echo "mine" > "$BIN/podwire-ipam.keep" && rm "$BIN/podwire-ipam" && mv "$BIN/podwire-ipam.keep" "$BIN/podwire-ipam"
expect "uninstall of an unchanged install succeeds" bash -c "'$INSTALL' --uninstall ${DIRS[*]} >/dev/null"
expect "it removes the example conflist it installed" test ! -e "$installed_conf"
expect "a regular file named podwire-ipam is not a podwire link, so it stays" grep -qx mine "$BIN/podwire-ipam"
expect "uninstalling again is harmless" bash -c "'$INSTALL' --uninstall ${DIRS[*]} >/dev/null"

section "usage errors"
refute "an unknown option is refused" "$INSTALL" --bogus
expect "the refusal exits 2" bash -c "'$INSTALL' --bogus 2>/dev/null; [[ \$? == 2 ]]"
refute "a directory option without a directory is refused" "$INSTALL" --bin-dir
expect "nothing was installed by the refused calls" bash -c "[[ ! -e $BIN/podwire ]]"

finish
