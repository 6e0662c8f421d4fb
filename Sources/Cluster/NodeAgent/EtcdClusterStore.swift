import Addressing
import ClusterModel
import Etcd

/// The cluster's state in etcd, under the keys `ClusterKeys` makes.
public struct EtcdClusterStore: ClusterStore {
    public let client: EtcdClient
    /// How many times a registration tries again after another node took its pick.
    public var attempts = 64

    public init(client: EtcdClient) {
        self.client = client
    }

    public func config() async throws -> ClusterConfig {
        guard let value = try await client.get(ClusterKeys.config) else { throw ClusterStoreError.noConfig }
        return try ClusterConfig(json: value.value)
    }

    public func setConfig(_ config: ClusterConfig) async throws {
        try await client.put(ClusterKeys.config, config.json)
    }

    public func nodes() async throws -> (records: [NodeRecord], revision: Int64) {
        let listed = try await client.list(prefix: ClusterKeys.nodes)
        // A record that cannot be read is skipped, not fatal: one bad write must not stop
        // every node from reaching every other.
        return (listed.kvs.compactMap { try? NodeRecord(json: $0.value) }, listed.revision)
    }

    public func register(name: String, addresses: [IPAddress], vtepMAC: MACAddress,
                         config: ClusterConfig) async throws -> NodeRecord {
        guard NodeRecord.isValidName(name) else {
            throw ClusterError.invalid("\"\(name.prefix(64))\" is not a node name")
        }
        for _ in 0..<attempts {
            if let existing = try await client.get(ClusterKeys.node(name)) {
                return try await keep(try NodeRecord(json: existing.value), addresses: addresses, vtepMAC: vtepMAC,
                                      config: config)
            }
            let taken = try await takenSubnets()
            var subnets: [IPNetwork] = []
            for network in config.networks {
                subnets.append(try SubnetAllocator.firstFree(in: network, length: config.subnetLength(network.family),
                                                             taken: Set(taken.keys)))
            }
            let record = NodeRecord(name: name, addresses: addresses, vtepMAC: vtepMAC, subnets: subnets)
            // The record and every subnet key in one transaction, each only if absent: two
            // nodes never hold one subnet, and a node never holds two of a family.
            let puts = [(key: ClusterKeys.node(name), value: record.json, lease: Int64?.none)]
                + subnets.map { (key: ClusterKeys.subnet($0), value: name, lease: Int64?.none) }
            if try await client.createIfAbsent(puts) { return record }
        }
        throw ClusterStoreError.conflict("could not claim a subnet for \(name) in \(attempts) tries")
    }

    /// A node that is known keeps its subnets; its subnet keys are put back if an operator
    /// deleted them, and its addresses and MAC follow the machine.
    private func keep(_ record: NodeRecord, addresses: [IPAddress], vtepMAC: MACAddress,
                      config: ClusterConfig) async throws -> NodeRecord {
        for subnet in record.subnets {
            if let holder = try await client.get(ClusterKeys.subnet(subnet)) {
                guard holder.string == record.name else {
                    throw ClusterStoreError.conflict("\(subnet) of node \(record.name) is held by \(holder.string)")
                }
            } else if try await !client.createIfAbsent([(ClusterKeys.subnet(subnet), record.name, nil)]) {
                throw ClusterStoreError.conflict("\(subnet) of node \(record.name) was just taken by another node")
            }
        }
        var updated = record
        updated.addresses = addresses
        updated.vtepMAC = vtepMAC
        if updated != record { try await client.put(ClusterKeys.node(record.name), updated.json) }
        return updated
    }

    private func takenSubnets() async throws -> [IPNetwork: String] {
        var taken: [IPNetwork: String] = [:]
        for kv in try await client.list(prefix: ClusterKeys.subnets).kvs {
            guard let subnet = ClusterKeys.subnet(kv.key) else { continue }
            taken[subnet] = kv.string
        }
        return taken
    }

    public func remove(name: String) async throws {
        guard let value = try await client.get(ClusterKeys.node(name)) else { throw ClusterStoreError.notFound(name) }
        var keys = [ClusterKeys.node(name), ClusterKeys.alive(name)]
        if let record = try? NodeRecord(json: value.value) { keys += record.subnets.map(ClusterKeys.subnet) }
        try await client.delete(keys)
    }

    public func watchNodes(from revision: Int64) -> AsyncThrowingStream<NodeChange, Error> {
        let events = client.watch(prefix: ClusterKeys.nodes, from: revision)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await event in events {
                        switch event {
                        case let .put(kv):
                            if let record = try? NodeRecord(json: kv.value) { continuation.yield(.updated(record)) }
                        case let .delete(key, _, _):
                            if let name = ClusterKeys.nodeName(key) { continuation.yield(.removed(name)) }
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public func announce(name: String, ttl: Int) async throws -> Int64 {
        let lease = try await client.grantLease(ttl: ttl)
        try await client.put(ClusterKeys.alive(name), "", lease: lease)
        return lease
    }

    public func renew(lease: Int64) async throws -> Bool {
        try await client.keepAlive(lease)
    }

    public func alive() async throws -> Set<String> {
        return Set(try await client.list(prefix: ClusterKeys.alive).kvs.compactMap { ClusterKeys.aliveName($0.key) })
    }
}
