import Addressing
import CNetlink
import Netlink

/// podwire's nftables table, `inet podwire`, shared by every pod of the node. Its chains and
/// rules are fixed; a pod adds elements to sets, each with a comment naming its attachment,
/// so a thousand pods are a thousand elements and the same handful of rules. Every change
/// is one transaction; the first pod's also declares the table, its sets, chains and rules.
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

    /// Adds the pod's entries in one transaction, replacing any it already had (from an ADD
    /// that was killed midway). A host port that another attachment holds is refused.
    public static func add(_ attachment: Attachment, masquerade: [Masquerade] = [],
                           ports: [PortTarget] = [], hairpin: Bool = true) throws(FirewallError) {
        var tables = try FirewallError.wrap { () throws(NetlinkError) in try NFTables(table: table) }
        var stale: [(set: String, elements: [NFTables.Element])] = []
        if !ports.isEmpty {
            // Reading the maps first finds this attachment's stale entries and other pods' ports.
            for set in SetName.portMaps {
                let existing = try FirewallError.wrap { () throws(NetlinkError) in try tables.elements(of: set) } ?? []
                stale.append((set, existing.filter { $0.comment == attachment.comment }))
                for element in existing where element.comment != attachment.comment {
                    if let taken = ports.first(where: { Elements.conflict($0, set: set, key: element.key) }) {
                        throw .portTaken(taken.mapping, owner: element.comment ?? "another attachment")
                    }
                }
            }
        }
        func stage(_ tables: inout NFTables) throws(NetlinkError) {
            for (set, elements) in stale { try tables.deleteElements(set, elements) }
            for family in [IPAddress.Family.v4, .v6] {
                let masq = masquerade.filter { $0.address.family == family }
                try tables.addElements(SetName.masquerade(family), masq.map {
                    NFTables.Element(key: $0.address.bytes, comment: attachment.comment)
                })
                try tables.addElements(SetName.local(family), masq.map { Elements.podLocal($0, comment: attachment.comment) })
                if hairpin {
                    try tables.addElements(SetName.hairpin(family), Elements.hairpin(ports.filter { $0.podAddress.family == family },
                                                                                     comment: attachment.comment))
                }
            }
            for (set, targets) in Dictionary(grouping: ports, by: SetName.ports(for:)) {
                try tables.addElements(set, targets.map { Elements.portMap($0, comment: attachment.comment) }, exclusive: true)
            }
        }
        try FirewallError.wrap { () throws(NetlinkError) in
            // Most ADDs only add elements. Declaring the table's chains and rules again costs
            // the kernel a grace period (10 ms and more), so that is done only when a set is
            // missing: on a node's first pod, or after an upgrade that added sets.
            do throws(NetlinkError) {
                try stage(&tables)
                try tables.commit()
            } catch {
                guard error.isNotFound else { throw error }
                try declare(&tables)
                try stage(&tables)
                try tables.commit()
            }
        }
    }

    /// Removes every element of `attachment`, in one transaction. No table: nothing to do.
    public static func remove(_ attachment: Attachment) throws(NetlinkError) {
        try removeElements { $0 == attachment.comment }
    }

    /// Removes the elements of `network` whose attachment is not in `valid`.
    public static func collectGarbage(network: String, keeping valid: Set<Attachment>) throws(NetlinkError) {
        let keep = Set(valid.map(\.comment))
        let prefix = Attachment(network: network, containerID: "", ifname: "").networkPrefix
        try removeElements { $0.hasPrefix(prefix) && !keep.contains($0) }
    }

    /// For CHECK: the first set that should hold an entry of `attachment` and holds none.
    public static func missingEntry(_ attachment: Attachment, masquerade families: Set<IPAddress.Family>,
                                    ports: [PortTarget]) throws(NetlinkError) -> String? {
        let expected = families.map { SetName.masquerade($0) } + ports.map { SetName.ports(for: $0) }
        guard !expected.isEmpty else { return nil }
        let tables = try NFTables(table: table)
        for set in expected {
            let owned = (try tables.elements(of: set) ?? []).contains { $0.comment == attachment.comment }
            if !owned { return set }
        }
        return nil
    }

    private static func removeElements(where matches: (String) -> Bool) throws(NetlinkError) {
        var tables = try NFTables(table: table)
        for set in SetName.all {
            // No first set: no table, which is most nodes' case on DEL; nothing to read.
            guard let elements = try tables.elements(of: set) else {
                if set == SetName.all[0] { return }
                continue
            }
            try tables.deleteElements(set, elements.filter { $0.comment.map(matches) ?? false })
        }
        try tables.commit()
    }

    // MARK: the table

    enum SetName {
        static func masquerade(_ family: IPAddress.Family) -> String { family == .v4 ? "masq4" : "masq6" }
        static func local(_ family: IPAddress.Family) -> String { family == .v4 ? "podlocal4" : "podlocal6" }
        static func hostPorts(_ family: IPAddress.Family) -> String { family == .v4 ? "hostports4" : "hostports6" }
        static func hostAddressPorts(_ family: IPAddress.Family) -> String { family == .v4 ? "hostaddrports4" : "hostaddrports6" }
        static func hairpin(_ family: IPAddress.Family) -> String { family == .v4 ? "hairpin4" : "hairpin6" }
        static func ports(for target: PortTarget) -> String {
            target.mapping.hostIP == nil ? hostPorts(target.podAddress.family) : hostAddressPorts(target.podAddress.family)
        }
        static let portMaps = ["hostports4", "hostports6", "hostaddrports4", "hostaddrports6"]
        static let all = ["masq4", "masq6", "podlocal4", "podlocal6", "hairpin4", "hairpin6"] + portMaps
    }

    enum Chain {
        static let prerouting = "prerouting"
        static let output = "output"
        static let postrouting = "postrouting"
    }

    private static func declare(_ tables: inout NFTables) throws(NetlinkError) {
        try tables.addTable()
        let service = NFTables.DataType.inetProtocol + .inetService
        for family in [IPAddress.Family.v4, .v6] {
            let address: NFTables.DataType = family == .v4 ? .ipv4 : .ipv6
            try tables.addSet(SetName.masquerade(family), key: address)
            // Pod address . pod subnet: traffic that stays in the pod's subnet is not masqueraded.
            try tables.addSet(SetName.local(family), key: address + address, interval: true)
            // Client range . pod address: hairpin and localhost clients of a host port.
            try tables.addSet(SetName.hairpin(family), key: address + address, interval: true)
            // Protocol . host port (on any local address), or host address . protocol . port,
            // to pod address . container port.
            try tables.addSet(SetName.hostPorts(family), key: service, value: address + .inetService)
            try tables.addSet(SetName.hostAddressPorts(family), key: address + service, value: address + .inetService)
        }
        try tables.addChain(Chain.prerouting, type: "nat", hook: UInt32(NF_INET_PRE_ROUTING.rawValue), priority: -100)
        try tables.addChain(Chain.output, type: "nat", hook: UInt32(NF_INET_LOCAL_OUT.rawValue), priority: -100)
        try tables.addChain(Chain.postrouting, type: "nat", hook: UInt32(NF_INET_POST_ROUTING.rawValue), priority: 100)
        for chain in [Chain.prerouting, Chain.output, Chain.postrouting] { try tables.flushChain(chain) }
        for family in [IPAddress.Family.v4, .v6] {
            for rule in Rules.portForwarding(family) {
                try tables.addRule(Chain.prerouting, rule)
                try tables.addRule(Chain.output, rule)
            }
            try tables.addRule(Chain.postrouting, Rules.hairpinMasquerade(family))
            for rule in Rules.masquerade(family) { try tables.addRule(Chain.postrouting, rule) }
        }
    }
}

public enum FirewallError: Error, CustomStringConvertible {
    case netlink(NetlinkError)
    case portTaken(PortMapping, owner: String)

    public var description: String {
        switch self {
        case let .netlink(error): "\(error)"
        case let .portTaken(mapping, owner):
            "host port \(mapping) is already mapped, to attachment \"\(owner)\" (network, container ID, ifname)"
        }
    }

    static func wrap<T>(_ body: () throws(NetlinkError) -> T) throws(FirewallError) -> T {
        do { return try body() } catch { throw .netlink(error) }
    }
}
