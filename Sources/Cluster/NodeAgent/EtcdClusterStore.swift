import Addressing
import ClusterModel
import Etcd

/// The cluster's state in etcd, under the keys `ClusterKeys` makes.
public struct EtcdClusterStore: ClusterStore {
    public let client: EtcdClient

    public init(client: EtcdClient) {
        self.client = client
    }

    public func config() async throws -> ClusterConfig {
        guard let value = try await client.get(ClusterKeys.config) else { throw ClusterStoreError.noConfig }
        return try ClusterConfig(json: value.value)
    }

    public func setConfig(_ config: ClusterConfig, previous: ClusterConfig?) async throws -> Bool {
        let guardClause: EtcdClient.Compare
        if let previous, let stored = try await client.get(ClusterKeys.config),
           (try? ClusterConfig(json: stored.value)) == previous {
            guardClause = .value(ClusterKeys.config, stored.value)
        } else if previous == nil {
            guardClause = .absent(ClusterKeys.config)
        } else {
            return false
        }
        return try await client.transaction(if: [guardClause], put: [(ClusterKeys.config, config.json)])
    }

    public func view() async throws -> ClusterView {
        let listed = try await client.list(prefix: ClusterKeys.root)
        var view = ClusterView()
        for kv in listed.kvs { view.set(kv.key, kv.value, created: kv.createRevision) }
        view.revision = listed.revision
        return view
    }

    public func watch(from revision: Int64) -> AsyncThrowingStream<[ClusterView.Change], Error> {
        // The records and subnet keys, which sort next to each other: liveness keys change at
        // every start and stop of a daemon and decide nothing a pass makes, so they are read
        // with each listing only, and no daemon wakes for another's announcement.
        let events = client.watch(from: ClusterKeys.nodes, to: EtcdWire.rangeEnd(ClusterKeys.subnets),
                                  revision: revision)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await batch in events {
                        continuation.yield(batch.map { event in
                            switch event {
                            case let .put(kv): .put(key: kv.key, value: kv.value, created: kv.createRevision)
                            case let .delete(key, _, _): .delete(key: key)
                            }
                        })
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public func commit(_ registration: Registration) async throws -> Bool {
        let name = registration.record.name
        let recordGuard: EtcdClient.Compare = registration.previous.map { .value(ClusterKeys.node(name), $0) }
            ?? .absent(ClusterKeys.node(name))
        return try await client.transaction(
            if: [recordGuard] + registration.claims.map { .absent(ClusterKeys.subnet($0)) },
            put: [(ClusterKeys.node(name), registration.record.json)]
                + registration.claims.map { (ClusterKeys.subnet($0), name) },
            delete: registration.releases.map(ClusterKeys.subnet))
    }

    public func remove(name: String) async throws {
        let view = try await view()
        let held = view.subnets(heldBy: name)
        guard view.records[name] != nil || !held.isEmpty else { throw ClusterStoreError.notFound(name) }
        try await client.delete([ClusterKeys.node(name), ClusterKeys.alive(name)] + held.map(ClusterKeys.subnet))
    }

    public func announce(name: String, addresses: [IPAddress], replacing: [IPAddress]?,
                         ttl: Int) async throws -> Int64 {
        let ours = Liveness.value(addresses), earlier = replacing.map(Liveness.value)
        if let held = try await client.get(ClusterKeys.alive(name)), held.string != ours, held.string != earlier {
            throw ClusterStoreError.nameHeld(name: name, addresses: held.string)
        }
        let lease = try await client.grantLease(ttl: ttl)
        try await client.put(ClusterKeys.alive(name), ours, lease: lease)
        return lease
    }

    public func announced(name: String) async throws -> String? {
        try await client.get(ClusterKeys.alive(name))?.string
    }

    public func renew(lease: Int64) async throws -> Bool {
        try await client.keepAlive(lease)
    }
}

/// What a node's `alive/` key holds: the addresses its daemon runs at, so that a second
/// daemon started with the same name elsewhere is refused and told where the first one is.
public enum Liveness {
    public static func value(_ addresses: [IPAddress]) -> String {
        addresses.map(\.description).joined(separator: ",")
    }
}
