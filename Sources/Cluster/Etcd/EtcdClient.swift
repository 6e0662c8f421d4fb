#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import ExtrasBase64
@_exported import EtcdWire
import JSON
import NIOCore
import NIOHTTP1
import NIOSSL

/// Where etcd is and how to reach it: endpoints tried in turn, and TLS with a client
/// certificate when etcd asks for one.
public struct EtcdEndpoints: Sendable {
    public var urls: [String]
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    /// How long one request may take before the next endpoint is tried.
    public var requestTimeout: TimeAmount
    /// Whose client this is (the node's name): each client starts at its own member, so one
    /// member's trouble is not every node's.
    public var spreadBy: String
    /// How often a watch checks that its member still answers, and the watch is given up after
    /// `stallIntervals` of them without an answer.
    public var watchCheck: TimeAmount
    public var stallIntervals: Int

    public init(_ urls: [String], caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
                requestTimeout: TimeAmount = .seconds(3), spreadBy: String = "", watchCheck: TimeAmount = .seconds(3),
                stallIntervals: Int = 2) {
        self.urls = urls.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.requestTimeout = requestTimeout
        self.spreadBy = spreadBy
        self.watchCheck = watchCheck
        self.stallIntervals = stallIntervals
    }

    /// Settings that cannot work, refused before any connection: each message names the flag or path.
    public func validate() throws(EtcdError) {
        guard !urls.isEmpty else { throw .settings("no etcd endpoints given") }
        for url in urls where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw .settings("etcd endpoint \"\(url.prefix(100))\" is neither http:// nor https://")
        }
        let secure = urls.filter { $0.hasPrefix("https://") }.count
        if secure != 0 && secure != urls.count {
            throw .settings("etcd endpoints mix http:// and https://: give one scheme for all")
        }
        if (certificateFile == nil) != (keyFile == nil) {
            throw .settings(certificateFile == nil ? "--key \(keyFile!) needs --cert"
                            : "--cert \(certificateFile!) needs --key")
        }
        let files = [("--cacert", caFile), ("--cert", certificateFile), ("--key", keyFile)]
        if secure == 0, let flag = files.first(where: { $0.1 != nil }) {
            throw .settings("\(flag.0) is given but the etcd endpoints are http://: use https:// URLs")
        }
        for case let (flag, path?) in files {
            guard let file = fopen(path, "r") else {
                throw .settings("\(flag) \(path): \(String(cString: strerror(errno)))")
            }
            fclose(file)
        }
    }
}

/// etcd v3 through its JSON gateway (`/v3/…`), over AsyncHTTPClient: keys and values travel
/// base64-encoded and 64-bit numbers as strings. A request an endpoint does not answer, or
/// answers with "unavailable", a 5xx or a body that is not etcd's, is tried on the next; the
/// one that failed is skipped for a while (`Members`).
public final class EtcdClient: Sendable {
    private let http: HTTPClient
    public let endpoints: EtcdEndpoints
    private let members: Members

    public init(_ endpoints: EtcdEndpoints) throws {
        try endpoints.validate()
        members = Members(endpoints.urls, spreadBy: endpoints.spreadBy)
        var configuration = HTTPClient.Configuration()
        if endpoints.urls.contains(where: { $0.hasPrefix("https:") }) {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let ca = endpoints.caFile { tls.trustRoots = .file(ca) }
            if let certificate = endpoints.certificateFile, let key = endpoints.keyFile {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            configuration.tlsConfiguration = tls
        }
        configuration.timeout = .init(connect: .seconds(2))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.endpoints = endpoints
    }

    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: keys

    public func get(_ key: String) async throws -> KeyValue? {
        try await range(["key": EtcdWire.encode(key)]).kvs.first
    }

    /// Every key under `prefix`, and the store's revision they were read at.
    public func list(prefix: String) async throws -> (kvs: [KeyValue], revision: Int64) {
        try await range(["key": EtcdWire.encode(prefix), "range_end": EtcdWire.encode(EtcdWire.rangeEnd(prefix))])
    }

    @discardableResult
    public func put(_ key: String, _ value: String, lease: Int64? = nil) async throws -> Int64 {
        var body: [String: JSONValue] = ["key": EtcdWire.encode(key), "value": EtcdWire.encode(value)]
        if let lease { body["lease"] = .string(String(lease)) }
        let reply = try await call("/v3/kv/put", body)
        return EtcdWire.revision(of: reply)
    }

    /// Puts every key only if none of them exists yet, in one transaction: true when it did.
    public func createIfAbsent(_ puts: [(key: String, value: String, lease: Int64?)]) async throws -> Bool {
        let compares = puts.map { put -> JSONValue in
            .object(["key": EtcdWire.encode(put.key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"])
        }
        let success = puts.map { put -> JSONValue in
            var request: [String: JSONValue] = ["key": EtcdWire.encode(put.key), "value": EtcdWire.encode(put.value)]
            if let lease = put.lease { request["lease"] = .string(String(lease)) }
            return .object(["request_put": .object(request)])
        }
        let reply = try await call("/v3/kv/txn", ["compare": .array(compares), "success": .array(success)])
        // etcd leaves out zero values: a transaction that did not succeed has no `succeeded`.
        return reply["succeeded"] == .bool(true)
    }

    /// What a transaction checks before it writes.
    public enum Compare: Sendable {
        /// The key does not exist.
        case absent(String)
        /// The key holds exactly these bytes.
        case value(String, [UInt8])
    }

    /// Puts and deletes in one transaction, only if every compare holds: true when it did.
    public func transaction(if compares: [Compare], put puts: [(key: String, value: String)],
                            delete deletes: [String] = []) async throws -> Bool {
        let checks = compares.map { compare -> JSONValue in
            switch compare {
            case let .absent(key):
                .object(["key": EtcdWire.encode(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"])
            case let .value(key, bytes):
                .object(["key": EtcdWire.encode(key), "target": "VALUE", "result": "EQUAL",
                         "value": .string(Base64.encodeToString(bytes: bytes))])
            }
        }
        let requests = puts.map { JSONValue.object(["request_put": .object([
            "key": EtcdWire.encode($0.key), "value": EtcdWire.encode($0.value)])]) }
            + deletes.map { JSONValue.object(["request_delete_range": .object(["key": EtcdWire.encode($0)])]) }
        let reply = try await call("/v3/kv/txn", ["compare": .array(checks), "success": .array(requests)])
        return reply["succeeded"] == .bool(true)
    }

    /// Deletes the keys in one transaction; keys that are not there are no error.
    public func delete(_ keys: [String]) async throws {
        let requests = keys.map { JSONValue.object(["request_delete_range": .object(["key": EtcdWire.encode($0)])]) }
        _ = try await call("/v3/kv/txn", ["success": .array(requests)])
    }

    /// Discards the history before `revision` (watches from earlier are refused after it).
    /// podwire never compacts; the tests do, to reach the path of a compacted watch.
    public func compact(revision: Int64) async throws {
        _ = try await call("/v3/kv/compaction", ["revision": .string(String(revision)), "physical": .bool(true)])
    }

    // MARK: leases

    public func grantLease(ttl seconds: Int) async throws -> Int64 {
        let reply = try await call("/v3/lease/grant", ["TTL": .string(String(seconds))])
        guard let id = EtcdWire.int64(reply["ID"]) else { throw EtcdError.malformed("lease grant without an ID") }
        return id
    }

    /// Renews the lease; false when it has expired (etcd then answers with no TTL).
    public func keepAlive(_ lease: Int64) async throws -> Bool {
        let reply = try await call("/v3/lease/keepalive", ["ID": .string(String(lease))])
        return (EtcdWire.int64((reply["result"] ?? reply)["TTL"]) ?? 0) > 0
    }

    // MARK: watches

    /// The changes under `prefix` from `revision` on, in the batches etcd sends them, until the
    /// stream fails. Starting below the compacted revision throws `EtcdError.compacted`. The
    /// watch asks for progress notifications and for a member with a leader, and while it runs
    /// its member is asked a linearizable read every `watchCheck`: a member that stops
    /// answering (hung, paused, cut off) ends the watch with `EtcdError.stalled` within
    /// `stallIntervals` checks, and the next watch goes to another member.
    public func watch(prefix: String, from revision: Int64) -> AsyncThrowingStream<[WatchEvent], Error> {
        watch(from: prefix, to: EtcdWire.rangeEnd(prefix), revision: revision)
    }

    /// The changes to the keys from `first` up to (not including) `end`, as `watch(prefix:from:)`.
    public func watch(from first: String, to end: String, revision: Int64) -> AsyncThrowingStream<[WatchEvent], Error> {
        let body = JSONWriter.write(.object(["create_request": .object([
            "key": EtcdWire.encode(first), "range_end": EtcdWire.encode(end),
            "start_revision": .string(String(revision)), "prev_kv": .bool(true), "progress_notify": .bool(true),
        ])]))
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await self.stream("/v3/watch", body) { object in
                        let events = try EtcdWire.watchResponse(object)
                        if !events.isEmpty { continuation.yield(events) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The body of a plain GET on this client's connections (a daemon's status page).
    public func getText(_ url: String) async throws -> String {
        let response = try await http.execute(HTTPClientRequest(url: url), timeout: endpoints.requestTimeout)
        return String(buffer: try await response.body.collect(upTo: 1 << 20))
    }

    // MARK: transport

    private func range(_ body: [String: JSONValue]) async throws -> (kvs: [KeyValue], revision: Int64) {
        let reply = try await call("/v3/kv/range", body)
        let kvs = try (reply["kvs"]?.arrayValue ?? []).map(EtcdWire.keyValue)
        return (kvs, EtcdWire.revision(of: reply))
    }

    /// One request, on each member in `Members`' order until one answers; when none does, a
    /// few more rounds with a short backoff (a leader election takes about a second). Every
    /// request podwire makes can be repeated: a put or delete does the same again, and a
    /// guarded transaction that went through the first time fails its compare the second.
    private func call(_ path: String, _ body: [String: JSONValue]) async throws -> JSONValue {
        var backoff = Backoff(base: .milliseconds(100), cap: .seconds(1))
        var round = 0
        while true {
            do {
                return try await callRound(path, body)
            } catch let error as EtcdError {
                guard case .unavailable = error, round < 3 else { throw error }
                round += 1
                try await Task.sleep(for: backoff.next())
            }
        }
    }

    private func callRound(_ path: String, _ body: [String: JSONValue]) async throws -> JSONValue {
        var failures: [String] = []
        for url in await members.order() {
            do {
                let object = try await post(url, path, body, timeout: endpoints.requestTimeout)
                await members.answered(url)
                return object
            } catch let error as MemberTrouble {
                await members.failed(url)
                failures.append("\(url): \(error.why)")
            }
        }
        throw EtcdError.unavailable(failures.joined(separator: "; "))
    }

    /// What makes a member not worth asking now: it did not answer, or answered as one without
    /// a leader, with a server error, or with something that is not etcd's JSON.
    private struct MemberTrouble: Error {
        let why: String
    }

    /// One request to one member; `MemberTrouble` when another member should be asked.
    private func post(_ url: String, _ path: String, _ body: [String: JSONValue],
                      timeout: TimeAmount) async throws -> JSONValue {
        var request = HTTPClientRequest(url: url + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: JSONWriter.write(.object(body))))
        let response: HTTPClientResponse, bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            bytes = try await response.body.collect(upTo: 16 << 20)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw MemberTrouble(why: "\(error)")
        }
        guard let object = try? EtcdWire.object(bytes.readableBytesView) else {
            throw MemberTrouble(why: "HTTP \(response.status.code), not etcd's JSON")
        }
        if let error = EtcdWire.error(object) {
            if error.isMemberTrouble || response.status.code >= 500 { throw MemberTrouble(why: "\(error)") }
            throw error
        }
        guard response.status == .ok else {
            throw MemberTrouble(why: "HTTP \(response.status.code) \(response.status.reasonPhrase)")
        }
        return object
    }

    /// A streaming request (a watch): each line of the reply is one JSON object. It runs on
    /// the first member in order that accepts it, beside a check that the member still answers,
    /// from the request on: a paused member never sends the reply's headers either.
    private func stream(_ path: String, _ body: [UInt8], _ handle: @escaping @Sendable (JSONValue) throws -> Void)
        async throws {
        var failures: [String] = []
        for url in await members.order() {
            var request = HTTPClientRequest(url: url + path)
            request.method = .POST
            // etcd's WithRequireLeader: a member that loses its leader cancels the watch.
            request.headers.add(name: "Grpc-Metadata-hasleader", value: "true")
            request.body = .bytes(ByteBuffer(bytes: body))
            let watch = request
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let response: HTTPClientResponse
                        do {
                            response = try await self.http.execute(watch, timeout: .hours(24 * 365))
                        } catch is CancellationError {
                            throw CancellationError()
                        } catch {
                            throw MemberTrouble(why: "\(error)")
                        }
                        guard response.status == .ok else { throw MemberTrouble(why: "HTTP \(response.status.code)") }
                        await self.members.answered(url)
                        var pending: [UInt8] = []
                        for try await chunk in response.body {
                            pending.append(contentsOf: chunk.readableBytesView)
                            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                                let line = pending[..<newline]
                                defer { pending.removeSubrange(...newline) }
                                if line.isEmpty { continue }
                                let object = try EtcdWire.object(line)
                                if let error = EtcdWire.error(object) { throw error }
                                try handle(object)
                            }
                        }
                        throw EtcdError.unavailable("\(url): the watch stream ended")
                    }
                    group.addTask { try await self.checkWhileWatching(url) }
                    try await group.next()
                    group.cancelAll()
                }
            } catch let trouble as MemberTrouble {
                await members.failed(url)
                failures.append("\(url): \(trouble.why)")
                continue
            } catch let error as EtcdError {
                if case .stalled = error { await members.failed(url) }
                throw error
            }
            return
        }
        throw EtcdError.unavailable(failures.joined(separator: "; "))
    }

    /// Asks the watch's member for a read every `watchCheck`; throws `stalled`
    /// when none has been answered for `stallIntervals` checks. A watch on a paused member
    /// sends nothing and never fails by itself; this is what notices.
    private func checkWhileWatching(_ url: String) async throws {
        let interval = endpoints.watchCheck
        var lastAnswer = NIODeadline.now()
        let bound = interval * Int64(endpoints.stallIntervals)
        while true {
            try await Task.sleep(for: .nanoseconds(interval.nanoseconds))
            do {
                // Serializable: the member answers from its own store, without a round of its
                // cluster; one without a leader is caught by the watch's own require-leader.
                let probe: [String: JSONValue] = ["key": EtcdWire.encode("/podwire/config"), "count_only": .bool(true),
                                                  "serializable": .bool(true)]
                _ = try await post(url, "/v3/kv/range", probe, timeout: interval)
                lastAnswer = .now()
            } catch is MemberTrouble {
                if NIODeadline.now() - lastAnswer >= bound {
                    throw EtcdError.stalled("\(url) has not answered for \(bound.nanoseconds / 1_000_000) ms")
                }
            }
        }
    }

}

/// The order in which a client asks the members: it starts at a member chosen by its
/// `spreadBy` (so nodes spread over the members, as clientv3's balancer does), stays with the
/// one that answered last, and puts a member that failed at the end for `cooldown`.
actor Members {
    private let urls: [String]
    private var current: Int
    private var failedAt: [String: NIODeadline] = [:]
    let cooldown: TimeAmount

    init(_ urls: [String], spreadBy seed: String, cooldown: TimeAmount = .seconds(10)) {
        self.urls = urls
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in seed.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01b3 }
        current = urls.isEmpty ? 0 : Int(hash % UInt64(urls.count))
        self.cooldown = cooldown
    }

    func order() -> [String] {
        let rotated = Array(urls[current...] + urls[..<current])
        let now = NIODeadline.now()
        let cooling = { (url: String) in self.failedAt[url].map { now - $0 < self.cooldown } ?? false }
        return rotated.filter { !cooling($0) } + rotated.filter(cooling)
    }

    func answered(_ url: String) {
        failedAt[url] = nil
        if let index = urls.firstIndex(of: url) { current = index }
    }

    func failed(_ url: String) { failedAt[url] = .now() }
}

extension EtcdError {
    /// etcd's "unavailable" (gRPC 14: no leader, a member catching up) and "deadline exceeded"
    /// (4): another member may answer.
    var isMemberTrouble: Bool {
        if case let .refused(code, _) = self { return code == 14 || code == 4 }
        return false
    }
}

/// Exponential backoff with jitter and a cap, as clientv3 retries: many nodes retrying
/// the same outage spread their attempts instead of hammering etcd in step.
public struct Backoff: Sendable {
    public let base: Duration
    public let cap: Duration
    private var attempt = 0

    public init(base: Duration = .milliseconds(200), cap: Duration = .seconds(10)) {
        self.base = base
        self.cap = cap
    }

    /// The ceiling of the next wait: base × 2^attempt, at most `cap`.
    public var ceiling: Duration { min(cap, base * (1 << min(attempt, 30))) }

    /// A random wait between half the ceiling and the ceiling, then doubles the ceiling.
    public mutating func next() -> Duration {
        let top = ceiling
        attempt += 1
        return top / 2 + top / 2 * Double.random(in: 0...1)
    }

    public mutating func reset() { attempt = 0 }
}
