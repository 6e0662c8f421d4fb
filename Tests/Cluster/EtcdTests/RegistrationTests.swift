import Addressing
import ClusterModel
import Etcd
import Identity
import NodeAgent
import Testing

/// Nodes registering against a real etcd: subnets are never shared, and a node keeps its own.
@Suite("node registration", .enabled(if: EtcdServer.available, "needs /usr/bin/etcd (scripts/install-deps.sh)"))
struct RegistrationTests {
    let config = ClusterConfig(networks: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!])

    func store(_ server: EtcdServer) async throws -> EtcdClusterStore {
        let client = try EtcdClient(EtcdEndpoints([server.clientURL]))
        for _ in 0..<100 where (try? await client.list(prefix: "/")) == nil {
            try await Task.sleep(for: .milliseconds(100))
        }
        return EtcdClusterStore(client: client)
    }

    @Test func twentyNodesJoiningAtOnceGetTwentySubnets() async throws {
        let server = try EtcdServer()
        let store = try await store(server)
        defer { Task { try? await store.client.shutdown() } }
        let records = try await withThrowingTaskGroup(of: NodeRecord.self) { group in
            for n in 1...20 {
                group.addTask {
                    try await store.register(name: "node\(n)", addresses: [IPAddress("192.168.1.\(n)")!],
                                             vtepMAC: VTEP.mac(node: "node\(n)"), config: config).record
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let v4 = records.compactMap { $0.subnet(.v4) }, v6 = records.compactMap { $0.subnet(.v6) }
        #expect(Set(v4).count == 20 && Set(v6).count == 20, "\(records.map(\.subnets))")
        let listed = try await store.view().records
        #expect(Set(listed.keys).count == 20)
        let holders = try await store.client.list(prefix: ClusterKeys.subnets).kvs
        #expect(holders.count == 40)
    }

    @Test func aNodeKeepsItsSubnetsAndRemovalFreesThem() async throws {
        let server = try EtcdServer()
        let store = try await store(server)
        defer { Task { try? await store.client.shutdown() } }
        let mac = VTEP.mac(node: "a")
        let first = try await store.register(name: "a", addresses: [IPAddress("192.168.1.1")!], vtepMAC: mac,
                                             config: config).record
        let other = try await store.register(name: "b", addresses: [IPAddress("192.168.1.2")!], vtepMAC: mac,
                                             config: config).record
        // Restarted, with a new underlay address: same subnets, the record follows the address.
        let again = try await store.register(name: "a", addresses: [IPAddress("192.168.1.9")!], vtepMAC: mac,
                                             config: config).record
        #expect(again.subnets == first.subnets && again.addresses == [IPAddress("192.168.1.9")!])
        // Its subnet key deleted by hand: put back, for the same node.
        try await store.client.delete([ClusterKeys.subnet(first.subnets[0])])
        _ = try await store.register(name: "a", addresses: again.addresses, vtepMAC: mac, config: config).record
        #expect(try await store.client.get(ClusterKeys.subnet(first.subnets[0]))?.string == "a")

        try await store.remove(name: "a")
        #expect(try await store.client.get(ClusterKeys.node("a")) == nil)
        #expect(try await store.client.get(ClusterKeys.subnet(first.subnets[0])) == nil)
        await #expect(throws: ClusterStoreError.notFound("a")) { try await store.remove(name: "a") }
        // The freed subnet is the first free one again.
        let next = try await store.register(name: "c", addresses: [IPAddress("192.168.1.3")!], vtepMAC: mac,
                                            config: config).record
        #expect(next.subnets == first.subnets && other.subnets != first.subnets)
    }

    @Test func livenessLapsesButTheRecordStays() async throws {
        let server = try EtcdServer()
        let store = try await store(server)
        defer { Task { try? await store.client.shutdown() } }
        _ = try await store.register(name: "a", addresses: [IPAddress("192.168.1.1")!],
                                     vtepMAC: VTEP.mac(node: "a"), config: config).record
        let here = [IPAddress("192.168.1.1")!]
        let lease = try await store.announce(name: "a", addresses: here, replacing: nil, ttl: 5)
        #expect(try await store.renew(lease: lease))
        #expect(try await store.view().alive == ["a": "192.168.1.1"])
        // The same name from another machine is refused while the first lives, and told where it is.
        await #expect(throws: ClusterStoreError.nameHeld(name: "a", addresses: "192.168.1.1")) {
            _ = try await store.announce(name: "a", addresses: [IPAddress("192.168.1.2")!], replacing: nil, ttl: 1)
        }
        // The same machine again (a daemon restarted after SIGKILL) takes its name back.
        _ = try await store.announce(name: "a", addresses: here, replacing: nil, ttl: 1)
        // So does the same daemon once its underlay was renumbered, and back.
        let renumbered = [IPAddress("192.168.1.3")!]
        _ = try await store.announce(name: "a", addresses: renumbered, replacing: here, ttl: 1)
        #expect(try await store.view().alive == ["a": "192.168.1.3"])
        _ = try await store.announce(name: "a", addresses: here, replacing: renumbered, ttl: 1)
        try await Task.sleep(for: .seconds(4))
        #expect(try await store.view().alive.isEmpty)
        #expect(try await store.view().records.keys.sorted() == ["a"])
    }

    @Test func removeFreesEveryKeyNamingTheNodeWhateverItsRecord() async throws {
        let server = try EtcdServer()
        let store = try await store(server)
        defer { Task { try? await store.client.shutdown() } }
        let a = try await store.register(name: "a", addresses: [IPAddress("192.168.1.1")!],
                                         vtepMAC: VTEP.mac(node: "a"), config: config).record
        try await store.client.put(ClusterKeys.node("a"), "not a record")
        try await store.remove(name: "a")
        for subnet in a.subnets { #expect(try await store.client.get(ClusterKeys.subnet(subnet)) == nil) }
        // A record deleted by hand leaves its keys as orphans; remove frees them too.
        let b = try await store.register(name: "b", addresses: [IPAddress("192.168.1.2")!],
                                         vtepMAC: VTEP.mac(node: "b"), config: config).record
        try await store.client.delete([ClusterKeys.node("b")])
        #expect(try await store.view().orphans.map(\.holder) == ["b", "b"])
        try await store.remove(name: "b")
        for subnet in b.subnets { #expect(try await store.client.get(ClusterKeys.subnet(subnet)) == nil) }
    }

    @Test func aCorruptOwnRecordIsWrittenAgainFromItsSubnetKeys() async throws {
        let server = try EtcdServer()
        let store = try await store(server)
        defer { Task { try? await store.client.shutdown() } }
        let here = [IPAddress("192.168.1.1")!]
        let a = try await store.register(name: "a", addresses: here, vtepMAC: VTEP.mac(node: "a"),
                                         config: config).record
        try await store.client.put(ClusterKeys.node("a"), #"{"name":"zz"}"#)
        let again = try await store.register(name: "a", addresses: here, vtepMAC: VTEP.mac(node: "a"),
                                             config: config).record
        #expect(again.subnets == a.subnets)
        #expect(try NodeRecord(json: try await store.client.get(ClusterKeys.node("a"))!.value) == a)
    }
}
