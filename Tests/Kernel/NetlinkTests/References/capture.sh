#!/usr/bin/env bash
# Captures the reference for each golden test: the netlink message `ip`, `bridge`, `tc` or
# `nft` sends for the same change podwire makes, as strace shows it:
#
#   strace -f -xx -e trace=sendmsg,sendto -e write=all COMMAND
#
# (this kernel has no nlmon device). Each command runs in a network namespace of this
# script's own (`unshare --net`), which goes when the script ends. A reference is the last
# message of the named type the command sent (a batch is split into its messages), written
# as hex under a header naming the command and the tool's version. Lines starting
# "# differ:" are added by hand: each names a difference the golden test allows, and why.
#
#   Tests/Kernel/NetlinkTests/References/capture.sh            # rewrites every reference
#
# Run as root on a machine like the CI's; the header records the versions it saw.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ "${1:-}" != inside ]]; then
  exec unshare --net --mount bash ${DEBUG:+-x} "$0" inside
fi
mount --make-rprivate /
mount -t tmpfs none /var/run
mkdir -p /var/run/netns

extractor=$(mktemp)
trap 'rm -f "$extractor"' EXIT
cat > "$extractor" <<'PY'
import re, sys
path, wanted, match, command = sys.argv[1], int(sys.argv[2], 0), sys.argv[3], sys.argv[4]
datagrams, current = [], None
for line in sys.stdin:
    if re.match(r'^(\d+ +)?(sendmsg|sendto)\(', line):
        current = bytearray(); datagrams.append(current)
    # " | 00010  xx xx xx xx xx xx xx xx  xx xx xx xx xx xx xx xx  ascii |": hex in fixed columns.
    if re.match(r'^ \| [0-9a-f]{5}  ', line) and current is not None:
        current.extend(bytes.fromhex(line[10:59].replace(' ', '')))
found = None
for data in datagrams:
    offset = 0
    while offset + 16 <= len(data):
        length = int.from_bytes(data[offset:offset + 4], 'little')
        kind = int.from_bytes(data[offset + 4:offset + 6], 'little')
        if length < 16: break
        message = bytes(data[offset:offset + length])
        if kind == wanted and (not match or bytes.fromhex(match) in message):
            found = message
        offset += (length + 3) & ~3
if found is None:
    sys.exit(f'{path}: no message of type {wanted:#x} in the capture of: {command}')
old = open(path).read().splitlines() if __import__('os').path.exists(path) else []
differ = [l for l in old if l.startswith('# differ:')]
with open(path, 'w') as out:
    out.write(f'# {command}\n')
    for l in differ: out.write(l + '\n')
    for i in range(0, len(found), 16):
        out.write(' '.join(f'{b:02x}' for b in found[i:i + 16]) + '\n')
PY

extract() { # NAME TYPE MATCH COMMAND: reads strace output on stdin
  python3 "$extractor" "$here/$1.hex" "$2" "$3" "$4"
}

# The kernel may refuse a change (this one has no VLAN filtering); the message is what counts.
capture() { # NAME TYPE MATCH -- COMMAND...
  local name=$1 type=$2 match=$3 trace
  shift 4
  trace=$(strace -f -xx -e trace=sendmsg,sendto -e write=all "$@" 2>&1 >/dev/null || true)
  extract "$name" "$type" "$match" "$*" <<<"$trace"
}

{ ip -V; nft -v; tc -V; strace -V | head -1; uname -r; } > "$here/VERSIONS"

# Route netlink: RTM_NEWLINK 16, DELLINK 17, GETLINK 18, SETLINK 19, NEWADDR 20, DELADDR 21,
# GETADDR 22, NEWROUTE 24, DELROUTE 25, GETROUTE 26, NEWNEIGH 28, DELNEIGH 29, GETNEIGH 30,
# NEWQDISC 36, GETQDISC 38, NEWTFILTER 44.
ip link add br0 type bridge
ip link add h0 type veth peer name p0
ip link add u0 type veth peer name u1
ip link add g0 type veth peer name g1
ip link add d0 type veth peer name d1
ip link set u0 up
ip netns add peer
capture link-get 18 "08001d0009000000" -- ip link show dev lo
capture link-dump 18 "" -- ip -o link show
capture bridge-add 16 "" -- ip link add br1 mtu 1400 up type bridge
capture bridge-add-promiscuous-vlan 16 "" -- ip link add br2 up promisc on type bridge vlan_filtering 1
capture bridge-vlan-filtering 16 "" -- ip link set dev br0 type bridge vlan_filtering 1
capture veth-add 16 "" -- ip link add hv mtu 1400 address 02:00:00:00:00:01 master br0 up \
  type veth peer name eth0 mtu 1400 address 02:00:00:00:00:02 netns peer
capture ifb-add 16 "" -- ip link add ifb0 up type ifb
capture vxlan-add 16 "" -- ip link add vx0 mtu 1450 address 02:00:00:00:00:05 up \
  type vxlan id 7 local 192.168.50.1 dev u0 dstport 4789 nolearning
capture vxlan6-add 16 "" -- ip link add vx6 up type vxlan id 8 local fd50::1 dev u0 dstport 4789 nolearning
capture link-set-mac 16 "" -- ip link set dev br0 address 02:00:00:00:00:03
capture link-set-alias 16 "" -- ip link set dev h0 alias "net c1 eth0"
capture link-set-up 16 "" -- ip link set dev h0 up
capture link-set-up-promiscuous 16 "" -- ip link set dev h0 up promisc on
capture link-set-group 16 "" -- ip link set dev g0 group 1886850529
capture link-delete-group 17 "" -- ip link delete group 1886850529
capture link-delete 17 "" -- ip link delete dev d1
capture port-hairpin 19 "" -- bridge link set dev h0 hairpin on
capture port-isolated 19 "" -- bridge link set dev h0 isolated on
capture port-vlan-pvid 19 "" -- bridge vlan add dev h0 vid 5 pvid untagged
capture port-vlan-trunk 19 "" -- bridge vlan add dev h0 vid 10-20
capture port-vlan-delete 17 "" -- bridge vlan del dev h0 vid 1
capture address-add4 20 "" -- ip addr add 10.1.0.1/24 brd 10.1.0.255 dev br0
capture address-add6 20 "" -- ip addr add fd00::1/64 dev br0 nodad
capture address-delete 21 "" -- ip addr del 10.1.0.1/24 dev br0
capture address-dump 22 "" -- ip -4 addr show dev br0
capture route-add-gateway 24 "" -- ip route add 10.2.0.0/24 via 10.1.0.9 dev br0 proto boot
capture route-add-link 24 "" -- ip route add 10.3.0.0/24 dev br0 proto boot scope link
capture route-add-onlink 24 "" -- ip route add 10.244.1.0/24 via 10.244.1.0 dev vx0 onlink proto 77
capture route-delete 25 "" -- ip route del 10.244.1.0/24 via 10.244.1.0 dev vx0 proto 77
capture route-dump 26 "" -- ip -4 route show table main
capture route-get 26 "" -- ip route get 10.1.0.9
capture route-get6 26 "" -- ip -6 route get fd00::9
capture neighbour-add 28 "" -- ip neigh replace 10.244.1.0 lladdr 02:00:00:00:00:09 dev vx0 nud permanent
capture neighbour-delete 29 "" -- ip neigh del 10.244.1.0 dev vx0
capture neighbour-dump 30 "" -- ip neigh show dev vx0
capture fdb-add 28 "" -- bridge fdb append 02:00:00:00:00:09 dev vx0 dst 192.168.50.2 self permanent
capture fdb-delete 29 "" -- bridge fdb del 02:00:00:00:00:09 dev vx0 dst 192.168.50.2 self
capture fdb-dump 30 "" -- bridge fdb show dev vx0
capture qdisc-tbf 36 "" -- tc qdisc replace dev h0 root tbf rate 1000000bit burst 100000b limit 200000b
capture qdisc-ingress 36 "" -- tc qdisc add dev h0 handle ffff: ingress
capture filter-redirect 44 "" -- tc filter add dev h0 parent ffff: protocol all prio 1 \
  u32 match u32 0 0 action mirred egress redirect dev ifb0
capture qdisc-dump 38 "" -- tc qdisc show dev h0

# nf_tables: (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_*: NEWTABLE 0xa00, DELTABLE 0xa02,
# NEWCHAIN 0xa03, NEWRULE 0xa06, DELRULE 0xa08, NEWSET 0xa09, NEWSETELEM 0xa0c,
# GETSETELEM 0xa0d, DELSETELEM 0xa0e.
capture nft-table-add 0xa00 "" -- nft add table inet podwire
capture nft-set-add 0xa09 "" -- nft add set inet podwire masq4 '{ type ipv4_addr; }'
capture nft-set-add-interval 0xa09 "" -- nft add set inet podwire podlocal4 \
  '{ type ipv4_addr . ipv4_addr; flags interval; }'
capture nft-map-add 0xa09 "" -- nft add map inet podwire hostports4 \
  '{ type inet_proto . inet_service : ipv4_addr . inet_service; }'
nft add set inet podwire hairpin4 '{ type ipv4_addr . ipv4_addr; flags interval; }'
nft add map inet podwire hostaddrports4 '{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }'
capture nft-chain-add 0xa03 "" -- nft add chain inet podwire postrouting '{ type nat hook postrouting priority 100; }'
nft add chain inet podwire prerouting '{ type nat hook prerouting priority -100; }'
capture nft-chain-flush 0xa08 "" -- nft flush chain inet podwire postrouting
capture nft-rule-masquerade 0xa06 "" -- nft add rule inet podwire postrouting ip saddr @masq4 masquerade
capture nft-rule-podlocal 0xa06 "" -- nft add rule inet podwire postrouting ip saddr . ip daddr @podlocal4 return
capture nft-rule-multicast 0xa06 "" -- nft add rule inet podwire postrouting ip daddr 224.0.0.0/4 return
capture nft-rule-hairpin 0xa06 "" -- nft add rule inet podwire postrouting \
  ct status dnat ip saddr . ip daddr @hairpin4 masquerade
capture nft-rule-hostaddrports 0xa06 "" -- nft add rule inet podwire prerouting \
  dnat ip to ip daddr . meta l4proto . th dport map @hostaddrports4
capture nft-rule-hostports 0xa06 "" -- nft add rule inet podwire prerouting meta nfproto ipv4 \
  fib daddr type local dnat ip to meta l4proto . th dport map @hostports4
capture nft-element-add 0xa0c "" -- nft add element inet podwire masq4 '{ 10.0.0.5 comment "net c1 eth0" }'
capture nft-element-add-interval 0xa0c "" -- nft add element inet podwire podlocal4 \
  '{ 10.0.0.5 . 10.0.0.0/24 comment "net c1 eth0" }'
capture nft-element-delete 0xa0e "" -- nft delete element inet podwire masq4 '{ 10.0.0.5 }'
capture nft-element-dump 0xa0d "" -- nft list set inet podwire masq4
nft add table bridge podwire
nft add set bridge podwire ports '{ type ifname; }'
nft add set bridge podwire macs '{ type ifname . ether_addr; }'
nft add chain bridge podwire prerouting '{ type filter hook prerouting priority -300; }'
nft add table inet podwire-node
nft add chain inet podwire-node prerouting '{ type filter hook prerouting priority -300; }'
capture nft-rule-notrack 0xa06 "" -- nft add rule inet podwire-node prerouting udp dport 4789 notrack
capture nft-rule-spoofcheck 0xa06 "" -- nft add rule bridge podwire prerouting \
  iifname @ports iifname . ether saddr != @macs drop
