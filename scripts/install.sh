#!/usr/bin/env bash
# Installs podwire where runtimes look for CNI plugins, or removes it.
#
#   scripts/install.sh [--bin-dir DIR] [--conf-dir DIR] [--force]
#   scripts/install.sh --uninstall [--bin-dir DIR] [--conf-dir DIR]
#
# Defaults: /opt/cni/bin and /etc/cni/net.d. An existing conflist is never overwritten
# unless --force is given; --uninstall removes the conflist only if it is still ours.
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir=/opt/cni/bin conf_dir=/etc/cni/net.d force=false uninstall=false
while (($#)); do
  case $1 in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --conf-dir) conf_dir=$2; shift 2 ;;
    --force) force=true; shift ;;
    --uninstall) uninstall=true; shift ;;
    *) echo "unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
conflist=conf/10-podwire.conflist
target_conf="$conf_dir/$(basename "$conflist")"

if $uninstall; then
  rm -f "$bin_dir/podwire" "$bin_dir/podwire-ipam" "$bin_dir/podwire-portmap" \
    && echo "removed $bin_dir/podwire, podwire-ipam and podwire-portmap"
  if [[ -f "$target_conf" ]]; then
    if cmp -s "$conflist" "$target_conf"; then rm -f "$target_conf" && echo "removed $target_conf"
    else echo "kept $target_conf: it was changed since it was installed"; fi
  fi
  exit 0
fi

[[ -x .build/release/podwire ]] || scripts/build.sh
install -d -m 0755 "$bin_dir" "$conf_dir"
# Install through a temporary name and rename: a runtime exec'ing the plugin meanwhile
# sees the old binary or the new one, never a half-written file.
install -m 0755 .build/release/podwire "$bin_dir/.podwire.new"
mv -f "$bin_dir/.podwire.new" "$bin_dir/podwire"
# The same binary is the standalone IPAM plugin when called podwire-ipam, and the chained
# port-mapping plugin when called podwire-portmap.
ln -sfn podwire "$bin_dir/podwire-ipam"
ln -sfn podwire "$bin_dir/podwire-portmap"
echo "installed $bin_dir/podwire, $bin_dir/podwire-ipam and $bin_dir/podwire-portmap"
if [[ -e "$target_conf" ]] && ! $force; then
  echo "kept $target_conf (exists; --force replaces it)"
else
  install -m 0644 "$conflist" "$target_conf"
  echo "installed $target_conf"
fi
