import Addressing

/// How a node takes its place in the cluster, decided from one view of the store: it keeps
/// the subnets it holds that still fit the config, gets a free one for every family it lacks
/// (a family added to the config, or one whose key another node took), and lets go of the
/// rest. A record that cannot be read is written anew from the subnet keys naming the node.
public struct Registration: Equatable, Sendable {
    public var record: NodeRecord
    /// Subnet keys to create, each only if absent.
    public var claims: [IPNetwork]
    /// Subnet keys naming the node that it no longer holds.
    public var releases: [IPNetwork]
    /// The record's value as read (nil: none): the write goes through only if it is unchanged.
    public var previous: [UInt8]?

    public init(record: NodeRecord, claims: [IPNetwork], releases: [IPNetwork], previous: [UInt8]?) {
        self.record = record
        self.claims = claims
        self.releases = releases
        self.previous = previous
    }

    public static func plan(name: String, addresses: [IPAddress], vtepMAC: MACAddress, config: ClusterConfig,
                            view: ClusterView) throws(ClusterError) -> Registration {
        guard NodeRecord.isValidName(name) else { throw .invalid("\"\(name.prefix(64))\" is not a node name") }
        let previous = view.records[name]
        let recorded = previous.flatMap { try? NodeRecord(json: $0) }.flatMap { $0.name == name ? $0 : nil }
        // The record's subnets first, then any other key naming the node: one per family.
        var subnets: [IPNetwork] = [], claims: [IPNetwork] = []
        for subnet in (recorded?.subnets ?? []) + view.subnets(heldBy: name)
        where config.subnetProblem(subnet) == nil && !subnets.contains(where: { $0.family == subnet.family }) {
            switch view.holders[subnet] {
            case name?: subnets.append(subnet)
            case nil:
                subnets.append(subnet)
                claims.append(subnet)
            case _?: continue
            }
        }
        for network in config.networks where !subnets.contains(where: { $0.family == network.family }) {
            let taken = Array(view.holders.keys) + claims
            let subnet = try SubnetAllocator.firstFree(in: network, length: config.subnetLength(network.family),
                                                       taken: taken)
            subnets.append(subnet)
            claims.append(subnet)
        }
        subnets.sort { $0.family == .v4 && $1.family != .v4 }
        let releases = view.subnets(heldBy: name).filter { !subnets.contains($0) }
        let record = NodeRecord(name: name, addresses: addresses, vtepMAC: vtepMAC, subnets: subnets)
        return Registration(record: record, claims: claims, releases: releases, previous: previous)
    }

    /// Nothing to write: the record and its keys are as they should be.
    public var isCurrent: Bool {
        claims.isEmpty && releases.isEmpty && previous.flatMap { try? NodeRecord(json: $0) } == record
    }
}

/// What a new cluster config would do to the nodes already registered.
public enum ConfigChange {
    /// One line per node whose subnet the new config would make invalid (outside its network,
    /// another length) or that a new node's subnet could overlap; empty when the change is safe.
    public static func problems(_ config: ClusterConfig, view: ClusterView) -> [String] {
        var problems: [String] = []
        for (subnet, holder) in view.holders.sorted(by: { $0.key.first < $1.key.first }) {
            guard config.network(subnet.family) != nil else { continue }
            if let problem = config.subnetProblem(subnet) { problems.append("node \(holder): \(problem)") }
        }
        return problems
    }
}
