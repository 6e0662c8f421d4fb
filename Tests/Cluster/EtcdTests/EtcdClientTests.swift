import Etcd
import Foundation
import Testing

/// The client against a real etcd (Debian's etcd-server), each test with one of its own on
/// loopback ports nothing else uses.
@Suite("etcd client", .enabled(if: EtcdServer.available, "needs /usr/bin/etcd (scripts/install-deps.sh)"))
struct EtcdClientTests {
    /// A client of `server`, once etcd answers.
    func connect(_ server: EtcdServer, extra: [String] = [], certificates: Bool = true) async throws -> EtcdClient {
        let tls = certificates ? server.tls : nil
        let client = try EtcdClient(EtcdEndpoints(extra + [server.clientURL], caFile: server.tls?.ca,
                                                  certificateFile: tls?.clientCertificate, keyFile: tls?.clientKey))
        for _ in 0..<100 {
            if (try? await client.list(prefix: "/probe")) != nil { return client }
            try await Task.sleep(for: .milliseconds(100))
        }
        let error = (try? await client.list(prefix: "/probe")) == nil ? "no answer" : "answered late"
        try await client.shutdown()
        throw EtcdError.unavailable("etcd at \(server.clientURL): \(error)")
    }

    @Test func keysAndTransactions() async throws {
        let server = try EtcdServer()
        let client = try await connect(server)
        defer { Task { try? await client.shutdown() } }
        try await client.put("/t/a", "1")
        try await client.put("/t/b", "2")
        try await client.put("/u", "3")
        #expect(try await client.get("/t/a")?.string == "1")
        #expect(try await client.get("/t/none") == nil)
        let listed = try await client.list(prefix: "/t/")
        #expect(listed.kvs.map(\.key) == ["/t/a", "/t/b"] && listed.revision > 0)

        #expect(try await client.createIfAbsent([("/t/c", "x", nil), ("/t/d", "y", nil)]))
        #expect(try await !client.createIfAbsent([("/t/e", "x", nil), ("/t/c", "z", nil)]))
        #expect(try await client.get("/t/c")?.string == "x")
        #expect(try await client.get("/t/e") == nil)

        try await client.delete(["/t/a", "/t/none"])
        #expect(try await client.get("/t/a") == nil)
        try await client.delete(["/t/b", "/t/c", "/t/d"])
        #expect(try await client.list(prefix: "/t/").kvs.isEmpty)
        #expect(try await client.get("/u")?.string == "3")
    }

    @Test func leases() async throws {
        let server = try EtcdServer()
        let client = try await connect(server)
        defer { Task { try? await client.shutdown() } }
        let lease = try await client.grantLease(ttl: 2)
        try await client.put("/alive/n1", "", lease: lease)
        #expect(try await client.keepAlive(lease))
        #expect(try await client.get("/alive/n1")?.lease == lease)

        let short = try await client.grantLease(ttl: 1)
        try await client.put("/alive/n2", "", lease: short)
        try await Task.sleep(for: .seconds(3))
        #expect(try await client.get("/alive/n2") == nil)
        #expect(try await !client.keepAlive(short))
    }

    @Test func watchesAndCompaction() async throws {
        let server = try EtcdServer()
        let client = try await connect(server)
        defer { Task { try? await client.shutdown() } }
        let start = try await client.put("/w/a", "1")
        try await client.put("/w/b", "2")
        try await client.delete(["/w/a"])
        var events: [WatchEvent] = []
        for try await event in client.watch(prefix: "/w/", from: start) {
            events.append(event)
            if events.count == 3 { break }
        }
        guard events.count == 3, case .put(let first) = events[0], case .put(let second) = events[1],
              case .delete(let key, let previous, _) = events[2] else {
            Issue.record("unexpected events: \(events)")
            return
        }
        #expect(first.key == "/w/a" && second.string == "2" && key == "/w/a" && previous?.string == "1")

        let latest = try await client.put("/w/c", "3")
        try await client.compact(revision: latest)
        await #expect(throws: EtcdError.compacted(revision: latest)) {
            for try await _ in client.watch(prefix: "/w/", from: start) {}
        }
    }

    @Test func failsOverToAnEndpointThatAnswers() async throws {
        let server = try EtcdServer()
        let dead = "http://127.0.0.1:\(try EtcdServer.freePort())"
        let client = try await connect(server, extra: [dead])
        defer { Task { try? await client.shutdown() } }
        try await client.put("/f", "1")
        #expect(try await client.get("/f")?.string == "1")

        let nobody = try EtcdClient(EtcdEndpoints([dead], requestTimeout: .seconds(1)))
        defer { Task { try? await nobody.shutdown() } }
        await #expect(throws: EtcdError.self) { try await nobody.get("/f") }
    }

    @Test func mutualTLS() async throws {
        let server = try EtcdServer(tls: true)
        let client = try await connect(server)
        defer { Task { try? await client.shutdown() } }
        try await client.put("/tls", "yes")
        #expect(try await client.get("/tls")?.string == "yes")

        // Without the client certificate etcd refuses the connection.
        let anonymous = try EtcdClient(EtcdEndpoints([server.clientURL], caFile: server.tls?.ca))
        defer { Task { try? await anonymous.shutdown() } }
        await #expect(throws: EtcdError.self) { try await anonymous.get("/tls") }
    }
}
