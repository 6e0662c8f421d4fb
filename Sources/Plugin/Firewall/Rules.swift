import Addressing
import NetfilterNetlink

/// The rules of podwire's table, written as the expressions nft itself would generate for
/// them; the nft text of each is in its comment.
enum Rules {
    typealias Expression = NFTables.Expression
    typealias Register = NFTables.Register

    /// The first 32-bit register: concatenations start here, one register per 4 bytes.
    static let words = Register.word(0)

    static func masquerade(_ family: IPAddress.Family) -> [[Expression]] {
        let width = UInt32(family.bitWidth / 32)
        let multicast: [Expression] = family == .v4
            ? [daddr(family, into: .one), .mask(.one, length: 4, with: [0xf0, 0, 0, 0]),
               .compare(.one, equal: true, to: [224, 0, 0, 0])]
            : [.payload(base: .network, offset: 24, length: 1, into: .one),
               .compare(.one, equal: true, to: [0xff])]
        return [
            // ip saddr . ip daddr @podlocal4 return
            isFamily(family) + [saddr(family, into: words), daddr(family, into: words + width),
             .lookup(set: PodFirewall.SetName.local(family), register: words), .verdict(.return)],
            // ip daddr 224.0.0.0/4 return (ip6 daddr ff00::/8)
            isFamily(family) + multicast + [.verdict(.return)],
            // ip saddr @masq4 masquerade
            isFamily(family) + [saddr(family, into: .one),
             .lookup(set: PodFirewall.SetName.masquerade(family), register: .one), .masquerade],
        ]
    }

    /// DNAT of traffic to a mapped host port, first for mappings on one host address, then
    /// for mappings on any local address. The same rules serve prerouting (from outside)
    /// and output (from the node itself).
    static func portForwarding(_ family: IPAddress.Family) -> [[Expression]] {
        let width = UInt32(family.bitWidth / 32)
        return [
            // dnat ip to ip daddr . meta l4proto . th dport map @hostaddrports4
            isFamily(family) + [daddr(family, into: words), .meta(.l4proto, into: words + width),
                                dport(into: words + width + 1),
                                .map(set: PodFirewall.SetName.hostAddressPorts(family), register: words,
                                     into: words),
                                .dnat(family: tableFamily(family), addressRegister: words,
                                      portRegister: words + width)],
            // meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @hostports4
            isFamily(family) + [.destinationAddressType(into: .one),
                                .compare(.one, equal: true, to: hostOrder(NFTables.localAddressType)),
                                .meta(.l4proto, into: words), dport(into: words + 1),
                                .map(set: PodFirewall.SetName.hostPorts(family), register: words, into: words),
                                .dnat(family: tableFamily(family), addressRegister: words,
                                      portRegister: words + width)],
        ]
    }

    /// ct status dnat ip saddr . ip daddr @hairpin4 masquerade: a client in the pod's subnet
    /// or on the node's localhost reaches the pod through a host port, and the reply must
    /// come back through the node to be un-NATed.
    static func hairpinMasquerade(_ family: IPAddress.Family) -> [Expression] {
        let width = UInt32(family.bitWidth / 32)
        return [.conntrackStatus(into: .one),
                .mask(.one, length: 4, with: hostOrder(NFTables.destinationNATStatus)),
                .compare(.one, equal: false, to: [0, 0, 0, 0])]
            + isFamily(family)
            + [saddr(family, into: words), daddr(family, into: words + width),
               .lookup(set: PodFirewall.SetName.hairpin(family), register: words), .masquerade]
    }

    /// iifname @ports iifname . ether saddr != @macs drop: a frame from a checked port whose
    /// source MAC is not its pod's. The name fills the first four 32-bit registers.
    static let spoofCheck: [Expression] = [
        .meta(.inputInterfaceName, into: .one),
        .lookup(set: SpoofCheck.SetName.ports, register: .one),
        .meta(.inputInterfaceName, into: words),
        .payload(base: .link, offset: 6, length: 6, into: words + 4),
        .absentFrom(set: SpoofCheck.SetName.macs, register: words),
        .verdict(.drop),
    ]

    static func tableFamily(_ family: IPAddress.Family) -> NFTables.Family { family == .v4 ? .ipv4 : .ipv6 }

    /// th dport: the destination port of TCP, UDP and SCTP alike.
    static func dport(into register: Register) -> Expression {
        .payload(base: .transport, offset: 2, length: 2, into: register)
    }

    /// Values the kernel keeps in host byte order (ct status, fib results).
    static func hostOrder(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    /// meta nfproto ipv4 (or ipv6): the inet table sees both.
    static func isFamily(_ family: IPAddress.Family) -> [Expression] {
        [.meta(.nfproto, into: .one), .compare(.one, equal: true, to: [tableFamily(family).rawValue])]
    }

    static func saddr(_ family: IPAddress.Family, into register: Register) -> Expression {
        family == .v4 ? .payload(base: .network, offset: 12, length: 4, into: register)
                      : .payload(base: .network, offset: 8, length: 16, into: register)
    }

    static func daddr(_ family: IPAddress.Family, into register: Register) -> Expression {
        family == .v4 ? .payload(base: .network, offset: 16, length: 4, into: register)
                      : .payload(base: .network, offset: 24, length: 16, into: register)
    }
}
