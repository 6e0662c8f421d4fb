import Addressing
import CNetlink
import Netlink

/// podwire's nftables table, `inet podwire`, shared by every pod of the node. Its chains and
/// rules are fixed; a pod adds elements to sets, each with a comment naming its attachment,
/// so a thousand pods are a thousand elements and the same handful of rules. Every change
/// is one transaction: the table, sets, chains and rules are (re)declared with the pod's
/// elements, so a first pod creates them and a damaged table is repaired.
public enum PodFirewall {
    public static let table = "podwire"

    /// Whose entries these are: the comment on each element.
    public struct Attachment: Hashable, Sendable {
        public var network: String
        public var containerID: String
        public var ifname: String
        public init(network: String, containerID: String, ifname: String) {
            self.network = network
            self.containerID = containerID
            self.ifname = ifname
        }
        var comment: String { "\(network) \(containerID) \(ifname)" }
        var networkPrefix: String { "\(network) " }
    }

    /// Masquerade traffic from `address` that leaves `subnet` (and is not multicast), as
    /// the reference bridge's `ipMasq` does.
    public struct Masquerade: Sendable {
        public var address: IPAddress
        public var subnet: IPNetwork
        public init(address: IPAddress, subnet: IPNetwork) {
            self.address = address
            self.subnet = subnet
        }
    }

    public static func add(_ attachment: Attachment, masquerade: [Masquerade]) throws(NetlinkError) {
        var tables = try NFTables(table: table)
        try declare(&tables)
        for family in [IPAddress.Family.v4, .v6] {
            let entries = masquerade.filter { $0.address.family == family }
            try tables.addElements(Set.masquerade(family), entries.map {
                NFTables.Element(key: $0.address.bytes, comment: attachment.comment)
            })
            try tables.addElements(Set.local(family), entries.map {
                NFTables.Element(key: $0.address.bytes + $0.subnet.first.bytes, keyEnd: $0.address.bytes + $0.subnet.last.bytes,
                                 comment: attachment.comment)
            })
        }
        try tables.commit()
    }

    /// Removes every element of `attachment`, in one transaction. No table: nothing to do.
    public static func remove(_ attachment: Attachment) throws(NetlinkError) {
        try removeElements { $0 == attachment.comment }
    }

    /// Removes the elements of `network` whose attachment is not in `valid`.
    public static func collectGarbage(network: String, keeping valid: Swift.Set<Attachment>) throws(NetlinkError) {
        let keep = Swift.Set(valid.map(\.comment))
        let prefix = Attachment(network: network, containerID: "", ifname: "").networkPrefix
        try removeElements { $0.hasPrefix(prefix) && !keep.contains($0) }
    }

    /// The comments of every element, for CHECK and for tests.
    public static func entries(of attachment: Attachment) throws(NetlinkError) -> [String: Int] {
        let tables = try NFTables(table: table)
        var counts: [String: Int] = [:]
        for set in Set.all {
            let owned = (try tables.elements(of: set) ?? []).filter { $0.comment == attachment.comment }
            if !owned.isEmpty { counts[set] = owned.count }
        }
        return counts
    }

    private static func removeElements(where matches: (String) -> Bool) throws(NetlinkError) {
        var tables = try NFTables(table: table)
        for set in Set.all {
            guard let elements = try tables.elements(of: set) else { continue }
            try tables.deleteElements(set, elements.filter { $0.comment.map(matches) ?? false })
        }
        try tables.commit()
    }

    // MARK: the table

    enum Set {
        static func masquerade(_ family: IPAddress.Family) -> String { family == .v4 ? "masq4" : "masq6" }
        static func local(_ family: IPAddress.Family) -> String { family == .v4 ? "podlocal4" : "podlocal6" }
        static let all = ["masq4", "masq6", "podlocal4", "podlocal6"]
    }

    enum Chain {
        static let postrouting = "postrouting"
    }

    private static func declare(_ tables: inout NFTables) throws(NetlinkError) {
        try tables.addTable()
        try tables.addSet(Set.masquerade(.v4), key: .ipv4)
        try tables.addSet(Set.masquerade(.v6), key: .ipv6)
        // Pod address . pod subnet: traffic that stays in the pod's subnet is not masqueraded.
        try tables.addSet(Set.local(.v4), key: .ipv4 + .ipv4, interval: true)
        try tables.addSet(Set.local(.v6), key: .ipv6 + .ipv6, interval: true)
        try tables.addChain(Chain.postrouting, type: "nat", hook: UInt32(NF_INET_POST_ROUTING.rawValue), priority: 100)
        try tables.flushChain(Chain.postrouting)
        for family in [IPAddress.Family.v4, .v6] {
            for rule in Rules.masquerade(family) { try tables.addRule(Chain.postrouting, rule) }
        }
    }
}
