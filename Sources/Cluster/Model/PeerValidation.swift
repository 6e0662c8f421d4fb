import Addressing
import Identity

/// A record that is not believed, and why.
public struct Rejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// The name in the record's key.
    public var name: String
    public var reason: Reason
    /// The particulars, for the log and `podwire-node nodes`.
    public var detail: String

    public enum Reason: String, Sendable, CaseIterable {
        /// Not a node record at all (not JSON, a field missing or malformed, a list too long).
        case unreadable
        /// The name inside differs from the name in its key.
        case nameMismatch = "name_mismatch"
        /// A subnet outside the cluster's networks, of another length, or two of a family.
        case subnet
        /// A subnet whose `subnets/` key is missing or names another node.
        case holder
        /// An underlay address no node may have, this node's own, or another peer's.
        case address
        /// A VTEP MAC that is multicast, zero, this node's own, or another peer's.
        case mac
    }

    public var description: String { "\(name): \(reason.rawValue): \(detail)" }
}

/// Judges every peer's record against the cluster config, the subnet keys and the other
/// records: a record is a claim, and a subnet is routed only when its key names the peer.
/// One bad record spoils that record alone.
public enum PeerValidation {
    public struct Verdict: Equatable, Sendable {
        /// The peers whose records hold, by name.
        public var peers: [NodeRecord] = []
        public var rejected: [Rejection] = []
    }

    /// Records as parsed, by name, kept while their bytes stay the same: a daemon judges every
    /// record on every change, and parsing is most of that.
    public struct Parsed: Sendable {
        var records: [String: (bytes: [UInt8], result: Result<NodeRecord, ClusterError>)] = [:]

        public init() {}

        mutating func record(_ name: String, _ bytes: [UInt8]) -> Result<NodeRecord, ClusterError> {
            if let known = records[name], known.bytes == bytes { return known.result }
            let result = Result { () throws(ClusterError) in try NodeRecord(json: bytes) }
            records[name] = (bytes, result)
            return result
        }

        mutating func forget(except names: some Collection<String>) {
            if records.count > names.count { records = records.filter { names.contains($0.key) } }
        }
    }

    /// The peers of `node` in `view` that may be routed to, and the rest with their reasons.
    public static func judge(_ view: ClusterView, config: ClusterConfig, node: NodeRecord) -> Verdict {
        var parsed = Parsed()
        return judge(view, config: config, node: node, parsed: &parsed)
    }

    public static func judge(_ view: ClusterView, config: ClusterConfig, node: NodeRecord,
                             parsed: inout Parsed) -> Verdict {
        var verdict = Verdict()
        var candidates: [NodeRecord] = []
        parsed.forget(except: view.records.keys)
        for (name, bytes) in view.records.sorted(by: { $0.key < $1.key }) where name != node.name {
            switch check(name: name, parsed: parsed.record(name, bytes), view: view, config: config, node: node) {
            case .success(let record): candidates.append(record)
            case .failure(let rejection): verdict.rejected.append(rejection)
            }
        }
        // Two peers claiming one underlay address or one MAC: the kernel would take one of each
        // pair and drop the other without a word. The live one, or the one whose MAC is derived
        // from its name, keeps it, then the one made first; the other is rejected.
        let byAddress = Dictionary(grouping: candidates.flatMap { record in record.addresses.map { ($0, record) } },
                                   by: \.0)
        let byMAC = Dictionary(grouping: candidates, by: \.vtepMAC)
        var losers: [String: Rejection] = [:]
        for (address, claims) in byAddress where claims.count > 1 {
            let keeper = claims.map(\.1).min { rank($0, view) < rank($1, view) }!
            for (_, record) in claims where record.name != keeper.name {
                losers[record.name] = Rejection(name: record.name, reason: .address,
                                                detail: "\(address) is also claimed by \(keeper.name)")
            }
        }
        for (mac, claims) in byMAC where claims.count > 1 {
            let keeper = claims.min { macRank($0, view) < macRank($1, view) }!
            for record in claims where record.name != keeper.name && losers[record.name] == nil {
                losers[record.name] = Rejection(name: record.name, reason: .mac,
                                                detail: "\(mac) is also claimed by \(keeper.name)")
            }
        }
        verdict.peers = candidates.filter { losers[$0.name] == nil }
        verdict.rejected += losers.values
        verdict.rejected.sort { $0.name < $1.name }
        return verdict
    }

    /// The order in which duplicate claims win: a live node first, then the record made
    /// first (a forged record comes after the node it copies), then the lower name.
    private static func rank(_ record: NodeRecord, _ view: ClusterView) -> (Int, Int64, String) {
        (view.alive[record.name] == nil ? 1 : 0, age(record, view), record.name)
    }

    private static func macRank(_ record: NodeRecord, _ view: ClusterView) -> (Int, Int, Int64, String) {
        (record.vtepMAC == VTEP.mac(node: record.name) ? 0 : 1, view.alive[record.name] == nil ? 1 : 0,
         age(record, view), record.name)
    }

    private static func age(_ record: NodeRecord, _ view: ClusterView) -> Int64 {
        let created = view.created[record.name] ?? 0
        return created > 0 ? created : .max
    }

    /// One record on its own, against the config, the subnet keys and this node.
    public static func check(name: String, bytes: [UInt8], view: ClusterView, config: ClusterConfig,
                             node: NodeRecord) -> Result<NodeRecord, Rejection> {
        check(name: name, parsed: Result { () throws(ClusterError) in try NodeRecord(json: bytes) }, view: view,
              config: config, node: node)
    }

    static func check(name: String, parsed: Result<NodeRecord, ClusterError>, view: ClusterView,
                      config: ClusterConfig, node: NodeRecord) -> Result<NodeRecord, Rejection> {
        func reject(_ reason: Rejection.Reason, _ detail: String) -> Result<NodeRecord, Rejection> {
            .failure(Rejection(name: name, reason: reason, detail: detail))
        }
        let record: NodeRecord
        switch parsed {
        case .success(let parsed): record = parsed
        case .failure(let error): return reject(.unreadable, "\(error)")
        }
        guard record.name == name else {
            return reject(.nameMismatch, "the record under \(name) says \"\(record.name)\"")
        }
        var families: Set<String> = []
        for address in record.addresses {
            if let problem = AddressRules.addressProblem(address) { return reject(.address, problem) }
            if node.addresses.contains(address) { return reject(.address, "\(address) is this node's own address") }
            guard families.insert(address.family.cniVersionDigit).inserted else {
                return reject(.address, "more than one IPv\(address.family.cniVersionDigit) address")
            }
        }
        if let problem = AddressRules.macProblem(record.vtepMAC) { return reject(.mac, problem) }
        if record.vtepMAC == node.vtepMAC { return reject(.mac, "\(record.vtepMAC) is this node's own VTEP MAC") }
        families = []
        for subnet in record.subnets {
            if let problem = config.subnetProblem(subnet) { return reject(.subnet, problem) }
            guard families.insert(subnet.family.cniVersionDigit).inserted else {
                return reject(.subnet, "more than one IPv\(subnet.family.cniVersionDigit) subnet")
            }
            switch view.holders[subnet] {
            case name?: continue
            case nil: return reject(.holder, "no subnet key holds \(subnet)")
            case let holder?: return reject(.holder, "\(subnet) is held by \(holder)")
            }
        }
        return .success(record)
    }
}
