import Addressing
import CNetlink
import Netlink

/// The rules of podwire's table, written as the expressions nft itself would generate for
/// them; the nft text of each is in its comment.
enum Rules {
    typealias Expression = NFTables.Expression

    static let verdictReturn = Int32(NFT_RETURN.rawValue)
    static let register1 = UInt32(NFT_REG_1.rawValue)
    /// The first 32-bit register: concatenations start here, one register per 4 bytes.
    static let register32 = UInt32(NFT_REG32_00.rawValue)

    static func masquerade(_ family: IPAddress.Family) -> [[Expression]] {
        let width = UInt32(family.bitWidth / 32)
        let multicast: [Expression] = family == .v4
            ? [daddr(family, into: register1), .mask(register: register1, length: 4, with: [0xf0, 0, 0, 0]),
               .compare(register: register1, equal: true, to: [224, 0, 0, 0])]
            : [.payload(base: networkHeader, offset: 24, length: 1, into: register1),
               .compare(register: register1, equal: true, to: [0xff])]
        return [
            // ip saddr . ip daddr @podlocal4 return
            isFamily(family) + [saddr(family, into: register32), daddr(family, into: register32 + width),
             .lookup(set: PodFirewall.SetName.local(family), register: register32, into: nil), .verdict(verdictReturn)],
            // ip daddr 224.0.0.0/4 return (ip6 daddr ff00::/8)
            isFamily(family) + multicast + [.verdict(verdictReturn)],
            // ip saddr @masq4 masquerade
            isFamily(family) + [saddr(family, into: register1),
             .lookup(set: PodFirewall.SetName.masquerade(family), register: register1, into: nil), .masquerade],
        ]
    }

    /// DNAT of traffic to a mapped host port, first for mappings on one host address, then
    /// for mappings on any local address. The same rules serve prerouting (from outside)
    /// and output (from the node itself).
    static func portForwarding(_ family: IPAddress.Family) -> [[Expression]] {
        let width = UInt32(family.bitWidth / 32)
        return [
            // dnat ip to ip daddr . meta l4proto . th dport map @hostaddrports4
            isFamily(family) + [daddr(family, into: register32), l4proto(into: register32 + width),
                                dport(into: register32 + width + 1),
                                .lookup(set: PodFirewall.SetName.hostAddressPorts(family), register: register32,
                                        into: register32),
                                .dnat(family: nfproto(family), addressRegister: register32,
                                      portRegister: register32 + width)],
            // fib daddr type local dnat ip to meta l4proto . th dport map @hostports4
            isFamily(family) + [.destinationAddressType(into: register1),
                                .compare(register: register1, equal: true, to: hostOrder(UInt32(RTN_LOCAL))),
                                l4proto(into: register32), dport(into: register32 + 1),
                                .lookup(set: PodFirewall.SetName.hostPorts(family), register: register32,
                                        into: register32),
                                .dnat(family: nfproto(family), addressRegister: register32,
                                      portRegister: register32 + width)],
        ]
    }

    /// ct status dnat ip saddr . ip daddr @hairpin4 masquerade: a client in the pod's subnet
    /// or on the node's localhost reaches the pod through a host port, and the reply must
    /// come back through the node to be un-NATed.
    static func hairpinMasquerade(_ family: IPAddress.Family) -> [Expression] {
        let width = UInt32(family.bitWidth / 32)
        return [.conntrack(key: UInt32(NFT_CT_STATUS.rawValue), into: register1),
                .mask(register: register1, length: 4, with: hostOrder(UInt32(IPS_DST_NAT.rawValue))),
                .compare(register: register1, equal: false, to: [0, 0, 0, 0])]
            + isFamily(family)
            + [saddr(family, into: register32), daddr(family, into: register32 + width),
               .lookup(set: PodFirewall.SetName.hairpin(family), register: register32, into: nil), .masquerade]
    }

    /// iifname @ports iifname . ether saddr != @macs drop: a frame from a checked port whose
    /// source MAC is not its pod's. The name fills the first four 32-bit registers.
    static let spoofCheck: [Expression] = [
        .meta(key: UInt32(NFT_META_IIFNAME.rawValue), into: register1),
        .lookup(set: SpoofCheck.SetName.ports, register: register1, into: nil),
        .meta(key: UInt32(NFT_META_IIFNAME.rawValue), into: register32),
        .payload(base: UInt32(NFT_PAYLOAD_LL_HEADER.rawValue), offset: 6, length: 6, into: register32 + 4),
        .absentFrom(set: SpoofCheck.SetName.macs, register: register32),
        .verdict(Int32(NF_DROP)),
    ]

    static func nfproto(_ family: IPAddress.Family) -> Int32 { Int32(family == .v4 ? NFPROTO_IPV4 : NFPROTO_IPV6) }

    static func l4proto(into register: UInt32) -> Expression {
        .meta(key: UInt32(NFT_META_L4PROTO.rawValue), into: register)
    }

    /// th dport: the destination port of TCP, UDP and SCTP alike.
    static func dport(into register: UInt32) -> Expression {
        .payload(base: UInt32(NFT_PAYLOAD_TRANSPORT_HEADER.rawValue), offset: 2, length: 2, into: register)
    }

    /// Values the kernel keeps in host byte order (ct status, fib results).
    static func hostOrder(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    static let networkHeader = UInt32(NFT_PAYLOAD_NETWORK_HEADER.rawValue)

    /// meta nfproto ipv4 (or ipv6): the inet table sees both.
    static func isFamily(_ family: IPAddress.Family) -> [Expression] {
        [.meta(key: UInt32(NFT_META_NFPROTO.rawValue), into: register1),
         .compare(register: register1, equal: true, to: [UInt8(family == .v4 ? NFPROTO_IPV4 : NFPROTO_IPV6)])]
    }

    static func saddr(_ family: IPAddress.Family, into register: UInt32) -> Expression {
        family == .v4 ? .payload(base: networkHeader, offset: 12, length: 4, into: register)
                      : .payload(base: networkHeader, offset: 8, length: 16, into: register)
    }

    static func daddr(_ family: IPAddress.Family, into register: UInt32) -> Expression {
        family == .v4 ? .payload(base: networkHeader, offset: 16, length: 4, into: register)
                      : .payload(base: networkHeader, offset: 24, length: 16, into: register)
    }
}
