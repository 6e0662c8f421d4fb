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
        let width = UInt32(family.bitWidth / 8)
        let multicast: [Expression] = family == .v4
            ? [daddr(family, into: register1), .mask(register: register1, length: 4, with: [0xf0, 0, 0, 0]),
               .compare(register: register1, equal: true, to: [224, 0, 0, 0])]
            : [.payload(base: networkHeader, offset: 24, length: 1, into: register1),
               .compare(register: register1, equal: true, to: [0xff])]
        return [
            // ip saddr . ip daddr @podlocal4 return
            isFamily(family) + [saddr(family, into: register32), daddr(family, into: register32 + width / 4),
             .lookup(set: PodFirewall.Set.local(family), register: register32, into: nil), .verdict(verdictReturn)],
            // ip daddr 224.0.0.0/4 return (ip6 daddr ff00::/8)
            isFamily(family) + multicast + [.verdict(verdictReturn)],
            // ip saddr @masq4 masquerade
            isFamily(family) + [saddr(family, into: register1),
             .lookup(set: PodFirewall.Set.masquerade(family), register: register1, into: nil), .masquerade],
        ]
    }

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
