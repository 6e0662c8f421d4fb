import Addressing
import Identity
import Netlink
import NetfilterNetlink
import Syscall

/// podwire's nftables table, `inet podwire`, shared by every pod of the node. Its chains and
/// rules are fixed; a pod adds elements to sets, each with a comment naming its attachment,
/// so a thousand pods are a thousand elements and the same handful of rules. Every change
/// is one transaction; the first pod's also declares the table, its sets, chains and rules.
public enum PodFirewall {
    public static let table = "podwire"

    /// Elements of one set, to add or to delete in a transaction.
    typealias SetElements = (set: String, elements: [NFTables.Element])

    /// Masquerade traffic from `address` that leaves `subnet` (and is not multicast), as
    /// the reference bridge's `ipMasq` does, except towards `exempt` destinations: the rest
    /// of the cluster, which must see the pod's own address.
    public struct Masquerade: Sendable, Equatable {
        public var address: IPAddress
        public var subnet: IPNetwork
        public var exempt: [IPNetwork]
        public init(address: IPAddress, subnet: IPNetwork, exempt: [IPNetwork] = []) {
            self.address = address
            self.subnet = subnet
            self.exempt = exempt
        }

        /// Where the pod's traffic keeps its source: its subnet and the exempt networks of
        /// its family, a network inside another left out (the set refuses overlapping ranges).
        var keepsSource: [IPNetwork] {
            let networks = [subnet] + exempt.filter { $0.family == address.family }
            return networks.enumerated().filter { index, network in
                !networks.enumerated().contains { other, wider in
                    other != index && wider.prefixLength <= network.prefixLength && wider.contains(network.first)
                        && (wider.prefixLength < network.prefixLength || other < index)
                }
            }.map(\.element)
        }
    }

    /// Adds the pod's entries in one transaction, replacing any it already had (from an ADD
    /// that was killed midway). A host port that another attachment holds is refused.
    public static func add(_ attachment: Attachment, masquerade: [Masquerade] = [],
                           ports: [PortTarget] = [], hairpin: Bool = true) throws(FirewallError) {
        if ports.isEmpty {
            try commit(attachment, masquerade: masquerade, ports: ports, hairpin: hairpin)
        } else {
            try PortClaimLock.held { () throws(FirewallError) in
                try commit(attachment, masquerade: masquerade, ports: ports, hairpin: hairpin)
            }
        }
    }

    private static func commit(_ attachment: Attachment, masquerade: [Masquerade], ports: [PortTarget],
                               hairpin: Bool) throws(FirewallError) {
        let tables = try FirewallError.wrap { () throws(NetlinkError) in try NFTables(table: table) }
        let label = attachment.label
        var stale: [SetElements] = []
        if !ports.isEmpty {
            // Reading the maps first finds this attachment's stale entries and other pods' ports.
            for set in SetName.portMaps {
                let existing = try FirewallError.wrap { () throws(NetlinkError) in try tables.elements(of: set) } ?? []
                stale.append((set, existing.filter { $0.comment == label }))
                for element in existing where element.comment != label {
                    if let taken = ports.first(where: { Elements.conflict($0, set: set, key: element.key) }) {
                        throw .portTaken(taken.mapping, owner: element.comment ?? "another attachment")
                    }
                }
            }
        }
        let own = ownElements(label, masquerade: masquerade, ports: ports, hairpin: hairpin)
        func stage(_ tables: NFTables, replacing replaced: [SetElements]) throws(NetlinkError) {
            for (set, elements) in stale + replaced { tables.deleteElements(set, elements) }
            // Exclusive: an element already there with one of these keys fails the transaction
            // rather than being kept as it is, with its comment naming another attachment.
            for (set, elements) in own { tables.addElements(set, elements, exclusive: true) }
            for (set, targets) in Dictionary(grouping: ports, by: SetName.ports(for:)) {
                let elements = targets.map { Elements.portMap($0, comment: label) }
                tables.addElements(set, elements, exclusive: true)
            }
        }
        try FirewallError.wrap { () throws(NetlinkError) in
            // Most ADDs only add elements. Declaring the table's chains and rules again costs
            // the kernel a grace period (10 ms and more), so that is done only when a set is
            // missing: on a node's first pod, or after an upgrade that added sets.
            do throws(NetlinkError) {
                try stage(tables, replacing: [])
                try tables.commit()
            } catch where error.isNotFound {
                try declare(tables)
                try stage(tables, replacing: [])
                try tables.commit()
            } catch where error.alreadyExists {
                // An element keyed by one of the pod's addresses is there: this attachment's own,
                // from an ADD that was killed, or one whose DEL never finished, left by the pod
                // that held the address before. The lease makes the address this pod's, so its
                // entries replace that one. Host ports are not replaced: those stay refused.
                try stage(tables, replacing: sameKeys(as: own, in: tables))
                try tables.commit()
            }
        }
    }

    /// The pod's elements in the sets keyed by its own addresses.
    private static func ownElements(_ label: String, masquerade: [Masquerade], ports: [PortTarget],
                                    hairpin: Bool) -> [SetElements] {
        var own: [SetElements] = []
        for family in [IPAddress.Family.v4, .v6] {
            let masq = masquerade.filter { $0.address.family == family }
            own.append((SetName.masquerade(family), masq.map {
                NFTables.Element(key: $0.address.bytes, comment: label)
            }))
            own.append((SetName.local(family), masq.flatMap { Elements.podLocal($0, comment: label) }))
            if hairpin {
                own.append((SetName.hairpin(family), Elements.hairpin(ports.filter { $0.podAddress.family == family },
                                                                      comment: label)))
            }
        }
        return own.filter { !$0.elements.isEmpty }
    }

    /// The elements already in those sets that have a key of `own`'s.
    private static func sameKeys(as own: [SetElements],
                                 in tables: NFTables) throws(NetlinkError) -> [SetElements] {
        var found: [SetElements] = []
        for (set, elements) in own {
            let keys = Set(elements.map(\.key))
            found.append((set, (try tables.elements(of: set) ?? []).filter { keys.contains($0.key) }))
        }
        return found
    }

    /// Removes every element of `attachment`, in one transaction. No table: nothing to do.
    public static func remove(_ attachment: Attachment) throws(NetlinkError) {
        let label = attachment.label
        try removeElements { $0 == label }
    }

    /// Removes the elements of `network` whose attachment is not in `valid`.
    public static func collectGarbage(network: String, keeping valid: Set<Attachment>) throws(NetlinkError) {
        let keep = Set(valid.map(\.label))
        try removeElements { AttachmentLabel.network(of: $0, is: network) && !keep.contains($0) }
    }

    /// The attachments with entries in each set of the table, by set; nil when the table (or
    /// its first set) is missing. One dump per set, however many pods.
    public static func labels() throws(NetlinkError) -> [String: Set<String>]? {
        let tables = try NFTables(table: table)
        var labels: [String: Set<String>] = [:]
        for set in SetName.all {
            guard let elements = try tables.elements(of: set) else {
                if set == SetName.all.first { return nil }
                continue
            }
            labels[set] = Set(elements.compactMap(\.comment))
        }
        return labels
    }

    /// Whether `labels` (see `labels()`) hold every entry `add` gives the attachment.
    public static func isComplete(_ attachment: Attachment, masquerade: [Masquerade], ports: [PortTarget],
                                  in labels: [String: Set<String>]) -> Bool {
        let label = attachment.label
        return expectedSets(masquerade: Set(masquerade.map(\.address.family)), ports: ports).allSatisfy {
            labels[$0]?.contains(label) ?? false
        }
    }

    private static func expectedSets(masquerade families: Set<IPAddress.Family>, ports: [PortTarget]) -> [String] {
        families.map { SetName.masquerade($0) } + ports.map { SetName.ports(for: $0) }
    }

    /// For CHECK: the first set that should hold an entry of `attachment` and holds none.
    public static func missingEntry(_ attachment: Attachment, masquerade families: Set<IPAddress.Family>,
                                    ports: [PortTarget]) throws(NetlinkError) -> String? {
        let expected = expectedSets(masquerade: families, ports: ports)
        guard !expected.isEmpty else { return nil }
        let tables = try NFTables(table: table)
        let label = attachment.label
        for set in expected {
            let owned = (try tables.elements(of: set) ?? []).contains { $0.comment == label }
            if !owned { return set }
        }
        return nil
    }

    private static func removeElements(where matches: (String) -> Bool) throws(NetlinkError) {
        let tables = try NFTables(table: table)
        try tables.removeElements(of: SetName.all, commentedAs: matches)
    }

    // MARK: the table

    enum SetName {
        static func masquerade(_ family: IPAddress.Family) -> String { family == .v4 ? "masq4" : "masq6" }
        static func local(_ family: IPAddress.Family) -> String { family == .v4 ? "podlocal4" : "podlocal6" }
        static func hostPorts(_ family: IPAddress.Family) -> String { family == .v4 ? "hostports4" : "hostports6" }
        static func hostAddressPorts(_ family: IPAddress.Family) -> String {
            family == .v4 ? "hostaddrports4" : "hostaddrports6"
        }
        static func hairpin(_ family: IPAddress.Family) -> String { family == .v4 ? "hairpin4" : "hairpin6" }
        static func ports(for target: PortTarget) -> String {
            let family = target.podAddress.family
            return target.mapping.hostIP == nil ? hostPorts(family) : hostAddressPorts(family)
        }
        static let portMaps = ["hostports4", "hostports6", "hostaddrports4", "hostaddrports6"]
        static let all = ["masq4", "masq6", "podlocal4", "podlocal6", "hairpin4", "hairpin6"] + portMaps
    }

    enum Chain {
        static let prerouting = "prerouting"
        static let output = "output"
        static let postrouting = "postrouting"
    }

    private static func declare(_ tables: NFTables) throws(NetlinkError) {
        tables.addTable()
        let service = NFTables.DataType.inetProtocol + .inetService
        for family in [IPAddress.Family.v4, .v6] {
            let address: NFTables.DataType = family == .v4 ? .ipv4 : .ipv6
            tables.addSet(SetName.masquerade(family), key: address)
            // Pod address . pod subnet: traffic that stays in the pod's subnet is not masqueraded.
            tables.addSet(SetName.local(family), key: address + address, interval: true)
            // Client range . pod address: hairpin and localhost clients of a host port.
            tables.addSet(SetName.hairpin(family), key: address + address, interval: true)
            // Protocol . host port (on any local address), or host address . protocol . port,
            // to pod address . container port.
            tables.addSet(SetName.hostPorts(family), key: service, value: address + .inetService)
            tables.addSet(SetName.hostAddressPorts(family), key: address + service, value: address + .inetService)
        }
        tables.addChain(Chain.prerouting, type: "nat", hook: .prerouting, priority: .destinationNAT)
        tables.addChain(Chain.output, type: "nat", hook: .output, priority: .destinationNAT)
        tables.addChain(Chain.postrouting, type: "nat", hook: .postrouting, priority: .sourceNAT)
        for chain in [Chain.prerouting, Chain.output, Chain.postrouting] { tables.flushChain(chain) }
        for family in [IPAddress.Family.v4, .v6] {
            for rule in Rules.portForwarding(family) {
                tables.addRule(Chain.prerouting, rule)
                tables.addRule(Chain.output, rule)
            }
            tables.addRule(Chain.postrouting, Rules.hairpinMasquerade(family))
            for rule in Rules.masquerade(family) { tables.addRule(Chain.postrouting, rule) }
        }
    }
}

extension NFTables {
    /// Deletes, in one transaction, the elements of `sets` whose comment matches. No first set
    /// means no table, which is most nodes' case on DEL: nothing more is read. A later set
    /// that is missing (a table from before it was added) is passed over.
    func removeElements(of sets: [String], commentedAs matches: (String) -> Bool) throws(NetlinkError) {
        for set in sets {
            guard let elements = try elements(of: set) else {
                if set == sets.first { return }
                continue
            }
            deleteElements(set, elements.filter { $0.comment.map(matches) ?? false })
        }
        try commit()
    }
}

public enum FirewallError: Error, CustomStringConvertible {
    case netlink(NetlinkError)
    case portTaken(PortMapping, owner: String)
    case lock(SyscallError)

    public var description: String {
        switch self {
        case let .netlink(error): "\(error)"
        case let .portTaken(mapping, owner):
            "host port \(mapping) is already mapped, to attachment \"\(owner)\" (network, container ID, ifname)"
        case let .lock(error): "cannot take the host-port lock \(PortClaimLock.path): \(error)"
        }
    }

    static func wrap<T>(_ body: () throws(NetlinkError) -> T) throws(FirewallError) -> T {
        do { return try body() } catch { throw .netlink(error) }
    }
}
