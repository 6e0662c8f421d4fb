@testable import Etcd
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
        for try await batch in client.watch(prefix: "/w/", from: start) {
            events += batch
            if events.count >= 3 { break }
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

    @Test func aMemberAnsweringBadlyIsSkipped() async throws {
        let server = try EtcdServer()
        let noLeader = try FakeMember(status: 503, body: #"{"error":"etcdserver: no leader","code":14}"#)
        let garbage = try FakeMember(status: 200, body: "<html>a proxy's page</html>")
        let client = try await connect(server, extra: [noLeader.url, garbage.url])
        defer { Task { try? await client.shutdown() } }
        for n in 0..<5 { try await client.put("/bad/\(n)", "x") }
        #expect(try await client.list(prefix: "/bad/").kvs.count == 5)
        // With only bad members, the error says what each answered.
        let stuck = try EtcdClient(EtcdEndpoints([noLeader.url, garbage.url]))
        defer { Task { try? await stuck.shutdown() } }
        await #expect { try await stuck.get("/x") } throws: { error in
            "\(error)".contains("no leader") && "\(error)".contains("not etcd's JSON")
        }
    }

    @Test func aPausedMemberEndsTheWatchWithinItsBound() async throws {
        let server = try EtcdServer()
        try await connect(server).shutdown()
        let client = try EtcdClient(EtcdEndpoints([server.clientURL], watchCheck: .milliseconds(300),
                                                  stallIntervals: 3))
        defer { Task { try? await client.shutdown() } }
        let revision = try await client.put("/p/a", "1")
        var stream = client.watch(prefix: "/p/", from: revision).makeAsyncIterator()
        _ = try await stream.next()
        kill(server.process.processIdentifier, SIGSTOP)
        defer { kill(server.process.processIdentifier, SIGCONT) }
        let start = ContinuousClock.now
        await #expect { _ = try await stream.next() } throws: { error in
            if case EtcdError.stalled = error { true } else { false }
        }
        let waited = start.duration(to: .now)
        // Not before its bound; and it does end (a shared machine may stretch the checks).
        #expect(waited >= .milliseconds(800) && waited < .seconds(15), "\(waited)")
        // A watch started while its member is paused gets no answer to its request either:
        // the same bound holds, not a wait for headers that never come.
        let again = ContinuousClock.now
        var late = client.watch(prefix: "/p/", from: revision).makeAsyncIterator()
        await #expect { _ = try await late.next() } throws: { error in
            if case EtcdError.stalled = error { true } else { false }
        }
        #expect(again.duration(to: .now) < .seconds(15), "\(again.duration(to: .now))")
    }

    @Test func refusesSettingsThatCannotWork() {
        let cases: [(EtcdEndpoints, String)] = [
            (EtcdEndpoints(["https://a:2379"], certificateFile: "/etc/hostname"), "--cert /etc/hostname needs --key"),
            (EtcdEndpoints(["https://a:2379"], keyFile: "/etc/hostname"), "--key /etc/hostname needs --cert"),
            (EtcdEndpoints(["http://a:2379"], caFile: "/etc/hostname"), "--cacert is given but"),
            (EtcdEndpoints(["http://a:2379", "https://b:2379"]), "mix http:// and https://"),
            (EtcdEndpoints(["https://a:2379"], caFile: "/nonexistent/ca.pem"), "--cacert /nonexistent/ca.pem: No such"),
            (EtcdEndpoints(["a:2379"]), "neither http:// nor https://"),
        ]
        for (endpoints, message) in cases {
            #expect { try endpoints.validate() } throws: { "\($0)".contains(message) }
        }
    }
}

/// An HTTP server on loopback that answers every request with one status and body, as a
/// member without a leader or a proxy in front of a dead one does.
final class FakeMember {
    let process = Process()
    let url: String
    /// The server's script, in the temporary directory: its path in the command line ties the
    /// process to the test run that started it (scripts/test.sh stops what a crash left).
    let scriptFile = FileManager.default.temporaryDirectory.appendingPathComponent("fake-member-\(UUID()).py")

    init(status: Int, body: String) throws {
        let port = try EtcdServer.freePort()
        url = "http://127.0.0.1:\(port)"
        let script = """
            import http.server, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    body = sys.argv[3].encode()
                    self.send_response(int(sys.argv[2])); self.send_header('Content-Length', str(len(body)))
                    self.end_headers(); self.wfile.write(body)
                def log_message(self, *a): pass
            http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
            """
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        process.arguments = [scriptFile.path, String(port), String(status), body]
        try process.run()
        for _ in 0..<50 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(fd)
            if connected { return }
            usleep(100_000)
        }
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        try? FileManager.default.removeItem(at: scriptFile)
    }
}

@Suite struct EtcdClientSettingsTests {
    @Test func membersSpreadAndSkipOneThatFailed() async {
        let urls = ["http://a", "http://b", "http://c"]
        var firsts: Set<String> = []
        for n in 0..<30 { firsts.insert(await Members(urls, spreadBy: "node\(n)").order()[0]) }
        #expect(firsts.count == 3)
        let members = Members(urls, spreadBy: "node1")
        let first = await members.order()[0]
        await members.failed(first)
        #expect(await members.order().last == first)
        await members.answered(first)
        #expect(await members.order().first == first)
    }

    @Test func backoffGrowsWithJitterUpToItsCap() {
        var backoff = Backoff(base: .milliseconds(100), cap: .seconds(1))
        var waits: [Duration] = []
        for _ in 0..<8 { waits.append(backoff.next()) }
        #expect(waits[0] >= .milliseconds(50) && waits[0] <= .milliseconds(100))
        #expect(waits[3] >= .milliseconds(400) && waits[3] <= .milliseconds(800))
        #expect(waits.allSatisfy { $0 <= .seconds(1) } && waits[7] >= .milliseconds(500))
        backoff.reset()
        #expect(backoff.ceiling == .milliseconds(100))
    }
}
