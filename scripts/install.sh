#!/usr/bin/env bash
# Installs podwire where runtimes look for CNI plugins, or removes it.
#
#   scripts/install.sh [--root DIR] [--force]
#   scripts/install.sh [--root DIR] --bin-dir DIR --conf-dir DIR --tools-dir DIR --unit-dir DIR
#                      --defaults-dir DIR [--force]
#   scripts/install.sh --uninstall [the same options]
#
# The plugins (podwire, and podwire-ipam and podwire-portmap, links to it) go to --bin-dir,
# default /opt/cni/bin; the example conflist to --conf-dir, default /etc/cni/net.d; the pause
# program, the lease view and the node agent (podwire-pause, podwire-leases, podwire-node) to
# --tools-dir, default /usr/local/bin; the node agent's systemd unit to --unit-dir, default
# /etc/systemd/system, and its settings to --defaults-dir, default /etc/default. Either all
# five directories are given or none: an install told where half of it goes would put the
# rest in the system's directories. --root DIR puts every one of them under DIR, as DESTDIR
# does for make install. A conflist or settings file that exists is never overwritten unless
# --force is given, and --uninstall removes one only while it is unchanged; it removes only
# files podwire put there. The unit is not enabled: the node's settings come first
# (docs/cluster.md).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A defaults_of=([bin-dir]=/opt/cni/bin [conf-dir]=/etc/cni/net.d [tools-dir]=/usr/local/bin
  [unit-dir]=/etc/systemd/system [defaults-dir]=/etc/default)
declare -A given=()
root="" force=false uninstall=false
while (($#)); do
  case $1 in
    --bin-dir|--conf-dir|--tools-dir|--unit-dir|--defaults-dir|--root)
      [[ $# -ge 2 && -n $2 ]] || { echo "$1 needs a directory" >&2; exit 2; }
      if [[ $1 == --root ]]; then root=${2%/}; else given[${1#--}]=$2; fi
      shift 2 ;;
    --force) force=true; shift ;;
    --uninstall) uninstall=true; shift ;;
    *) echo "unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
if ((${#given[@]} > 0 && ${#given[@]} < ${#defaults_of[@]})); then
  missing=()
  for option in "${!defaults_of[@]}"; do [[ -n ${given[$option]:-} ]] || missing+=("--$option"); done
  echo "every directory or none: also give ${missing[*]} (or --root DIR for all of them)" >&2
  exit 2
fi
destination() { echo "$root${given[$1]:-${defaults_of[$1]}}"; }
bin_dir=$(destination bin-dir) conf_dir=$(destination conf-dir) tools_dir=$(destination tools-dir)
unit_dir=$(destination unit-dir) defaults_dir=$(destination defaults-dir)
conflist=conf/10-podwire.conflist
target_conf="$conf_dir/$(basename "$conflist")"
links=(podwire-ipam podwire-portmap)
tools=(podwire-pause podwire-leases podwire-node)
unit=conf/podwire-node.service target_unit="$unit_dir/podwire-node.service"
defaults=conf/podwire-node.default target_defaults="$defaults_dir/podwire-node"

if $uninstall; then
  [[ -f "$bin_dir/podwire" ]] && rm -f "$bin_dir/podwire" && echo "removed $bin_dir/podwire"
  for link in "${links[@]}"; do
    # Only our links: a file of that name that is not a link to podwire is someone else's.
    [[ -L "$bin_dir/$link" && $(readlink "$bin_dir/$link") == podwire ]] && rm -f "$bin_dir/$link" \
      && echo "removed $bin_dir/$link"
  done
  for tool in "${tools[@]}"; do
    if [[ -f "$tools_dir/$tool" ]] && "$tools_dir/$tool" --version 2>/dev/null | grep -q '^podwire'; then
      rm -f "$tools_dir/$tool" && echo "removed $tools_dir/$tool"
    fi
  done
  for pair in "$conflist:$target_conf" "$defaults:$target_defaults" "$unit:$target_unit"; do
    shipped=${pair%%:*} placed=${pair#*:}
    [[ -f "$placed" ]] || continue
    if cmp -s "$shipped" "$placed"; then rm -f "$placed" && echo "removed $placed"
    else echo "kept $placed: it was changed since it was installed"; fi
  done
  exit 0
fi

for product in podwire "${tools[@]}"; do
  [[ -x .build/release/$product ]] || { scripts/build.sh; break; }
done
install -d -m 0755 "$bin_dir" "$conf_dir" "$tools_dir" "$unit_dir" "$defaults_dir"
# Install through a temporary name and rename: a runtime exec'ing the plugin meanwhile
# sees the old binary or the new one, never a half-written file.
place() { # stripped: the build keeps its symbols for debugging, a node has no use for them
  install -s -m 0755 ".build/release/$1" "$2/.$1.new"
  mv -f "$2/.$1.new" "$2/$1"
  echo "installed $2/$1"
}
place podwire "$bin_dir"
# The same binary is the standalone IPAM plugin when called podwire-ipam, and the chained
# port-mapping plugin when called podwire-portmap.
for link in "${links[@]}"; do
  ln -sfn podwire "$bin_dir/$link"
  echo "installed $bin_dir/$link -> podwire"
done
for tool in "${tools[@]}"; do place "$tool" "$tools_dir"; done
# Files an operator may edit: kept when they exist, unless --force.
keep_or_install() { # keep_or_install SHIPPED TARGET
  if [[ -e "$2" ]] && ! $force; then
    if cmp -s "$1" "$2"; then echo "kept $2 (already this version)"
    else echo "kept $2: it exists and differs (--force replaces it)"; fi
  else
    install -m 0644 "$1" "$2"
    echo "installed $2"
  fi
}
keep_or_install "$conflist" "$target_conf"
keep_or_install "$unit" "$target_unit"
keep_or_install "$defaults" "$target_defaults"
