import AsyncHTTPClient
import ExtrasBase64
import JSON
import NIOCore
import NIOHTTP1
import NIOSSL

/// A key and its value as etcd keeps them, with the revisions that order changes.
public struct KeyValue: Equatable, Sendable {
    public var key: String
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    public var lease: Int64

    public var string: String { String(decoding: value, as: UTF8.self) }
}

/// A change seen by a watch.
public enum WatchEvent: Equatable, Sendable {
    case put(KeyValue)
    /// The key went (deleted, or its lease expired); `previous` is its last value when known.
    case delete(key: String, previous: KeyValue?, revision: Int64)
}

public enum EtcdError: Error, Equatable, CustomStringConvertible, Sendable {
    /// No endpoint answered.
    case unavailable(String)
    /// etcd refused the request: its gRPC code and message.
    case refused(code: Int, message: String)
    /// A watch asked for a revision etcd has compacted away: list again from `revision`.
    case compacted(revision: Int64)
    /// The reply was not what etcd's v3 JSON gateway sends.
    case malformed(String)

    public var description: String {
        switch self {
        case let .unavailable(why): "etcd is unavailable: \(why)"
        case let .refused(code, message): "etcd refused the request (code \(code)): \(message)"
        case let .compacted(revision): "etcd has compacted the history up to revision \(revision)"
        case let .malformed(why): "etcd sent an unexpected reply: \(why)"
        }
    }
}

/// Where etcd is and how to reach it: endpoints tried in turn, and TLS with a client
/// certificate when etcd asks for one.
public struct EtcdEndpoints: Sendable {
    public var urls: [String]
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    /// How long one request may take before the next endpoint is tried.
    public var requestTimeout: TimeAmount

    public init(_ urls: [String], caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
                requestTimeout: TimeAmount = .seconds(3)) {
        self.urls = urls.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.requestTimeout = requestTimeout
    }
}

/// etcd v3 through its JSON gateway (`/v3/…`), over AsyncHTTPClient: keys and values travel
/// base64-encoded and 64-bit numbers as strings. A request that cannot reach an endpoint is
/// tried on the next; the one that answered is tried first next time.
public final class EtcdClient: Sendable {
    private let http: HTTPClient
    private let endpoints: EtcdEndpoints
    private let preferred = Preferred()

    public init(_ endpoints: EtcdEndpoints) throws {
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
        try await range(["key": Self.encode(key)]).kvs.first
    }

    /// Every key under `prefix`, and the store's revision they were read at.
    public func list(prefix: String) async throws -> (kvs: [KeyValue], revision: Int64) {
        try await range(["key": Self.encode(prefix), "range_end": Self.encode(Self.rangeEnd(prefix))])
    }

    @discardableResult
    public func put(_ key: String, _ value: String, lease: Int64? = nil) async throws -> Int64 {
        var body: [String: JSONValue] = ["key": Self.encode(key), "value": Self.encode(value)]
        if let lease { body["lease"] = .string(String(lease)) }
        let reply = try await call("/v3/kv/put", body)
        return Self.revision(of: reply)
    }

    /// Puts every key only if none of them exists yet, in one transaction: true when it did.
    public func createIfAbsent(_ puts: [(key: String, value: String, lease: Int64?)]) async throws -> Bool {
        let compares = puts.map { put -> JSONValue in
            .object(["key": Self.encode(put.key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"])
        }
        let success = puts.map { put -> JSONValue in
            var request: [String: JSONValue] = ["key": Self.encode(put.key), "value": Self.encode(put.value)]
            if let lease = put.lease { request["lease"] = .string(String(lease)) }
            return .object(["request_put": .object(request)])
        }
        let reply = try await call("/v3/kv/txn", ["compare": .array(compares), "success": .array(success)])
        // etcd leaves out zero values: a transaction that did not succeed has no `succeeded`.
        return reply["succeeded"] == .bool(true)
    }

    /// Deletes the keys in one transaction; keys that are not there are no error.
    public func delete(_ keys: [String]) async throws {
        let requests = keys.map { JSONValue.object(["request_delete_range": .object(["key": Self.encode($0)])]) }
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
        guard let id = Self.int64(reply["ID"]) else { throw EtcdError.malformed("lease grant without an ID") }
        return id
    }

    /// Renews the lease; false when it has expired (etcd then answers with no TTL).
    public func keepAlive(_ lease: Int64) async throws -> Bool {
        let reply = try await call("/v3/lease/keepalive", ["ID": .string(String(lease))])
        return (Self.int64((reply["result"] ?? reply)["TTL"]) ?? 0) > 0
    }

    // MARK: watches

    /// The changes under `prefix` from `revision` on, as etcd streams them, until the stream
    /// ends or fails. Starting below the compacted revision throws `EtcdError.compacted`.
    public func watch(prefix: String, from revision: Int64) -> AsyncThrowingStream<WatchEvent, Error> {
        let body = JSONWriter.write(.object(["create_request": .object([
            "key": Self.encode(prefix), "range_end": Self.encode(Self.rangeEnd(prefix)),
            "start_revision": .string(String(revision)), "prev_kv": .bool(true),
        ])]))
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await self.stream("/v3/watch", body) { object in
                        let result = object["result"] ?? object
                        if result["canceled"] == .bool(true) {
                            let compacted = Self.int64(result["compact_revision"]) ?? 0
                            if compacted > 0 { throw EtcdError.compacted(revision: compacted) }
                            let reason = result["cancel_reason"]?.stringValue ?? "canceled"
                            throw EtcdError.refused(code: 0, message: reason)
                        }
                        let headerRevision = Self.revision(of: result)
                        for event in result["events"]?.arrayValue ?? [] {
                            continuation.yield(try Self.watchEvent(event, revision: headerRevision))
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

    // MARK: transport

    private func range(_ body: [String: JSONValue]) async throws -> (kvs: [KeyValue], revision: Int64) {
        let reply = try await call("/v3/kv/range", body)
        let kvs = try (reply["kvs"]?.arrayValue ?? []).map(Self.keyValue)
        return (kvs, Self.revision(of: reply))
    }

    /// One request; while etcd answers "unavailable" (gRPC code 14: a leader election, a
    /// member catching up), a few more times. Every request podwire makes can be repeated:
    /// a put or delete does the same again, and a create-if-absent that went through the
    /// first time fails its compare the second.
    private func call(_ path: String, _ body: [String: JSONValue]) async throws -> JSONValue {
        var attempt = 0
        while true {
            do {
                return try await callOnce(path, body)
            } catch EtcdError.refused(let code, _) where code == 14 && attempt < 10 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    /// One request, on the preferred endpoint and then on each other one.
    private func callOnce(_ path: String, _ body: [String: JSONValue]) async throws -> JSONValue {
        var lastError: Error = EtcdError.unavailable("no endpoints")
        for url in await preferred.order(endpoints.urls) {
            do {
                var request = HTTPClientRequest(url: url + path)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: JSONWriter.write(.object(body))))
                let response = try await http.execute(request, timeout: endpoints.requestTimeout)
                let bytes = try await response.body.collect(upTo: 16 << 20)
                let object = try Self.object(bytes.readableBytesView)
                await preferred.set(url)
                if let error = Self.error(object) { throw error }
                guard response.status == .ok else {
                    throw EtcdError.refused(code: Int(response.status.code), message: response.status.reasonPhrase)
                }
                return object
            } catch let error as EtcdError {
                throw error
            } catch {
                lastError = EtcdError.unavailable("\(url): \(error)")
            }
        }
        throw lastError
    }

    /// A streaming request (a watch): each line of the reply is one JSON object.
    private func stream(_ path: String, _ body: [UInt8], _ handle: (JSONValue) throws -> Void) async throws {
        var lastError: Error = EtcdError.unavailable("no endpoints")
        for url in await preferred.order(endpoints.urls) {
            var request = HTTPClientRequest(url: url + path)
            request.method = .POST
            request.body = .bytes(ByteBuffer(bytes: body))
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .hours(24 * 365))
            } catch {
                lastError = EtcdError.unavailable("\(url): \(error)")
                continue
            }
            await preferred.set(url)
            var pending: [UInt8] = []
            for try await chunk in response.body {
                pending.append(contentsOf: chunk.readableBytesView)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[..<newline]
                    defer { pending.removeSubrange(...newline) }
                    if line.isEmpty { continue }
                    let object = try Self.object(line)
                    if let error = Self.error(object) { throw error }
                    try handle(object)
                }
            }
            return
        }
        throw lastError
    }

    // MARK: encoding

    static func encode(_ text: String) -> JSONValue { .string(Base64.encodeToString(bytes: Array(text.utf8))) }

    static func decode(_ value: JSONValue?) -> [UInt8] {
        guard let text = value?.stringValue else { return [] }
        return (try? text.base64decoded()) ?? []
    }

    /// The first key after every key that starts with `prefix`.
    static func rangeEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.removeLast()
        }
        return "\0"
    }

    /// etcd's gateway writes 64-bit numbers as strings; smaller ones may come as numbers.
    static func int64(_ value: JSONValue?) -> Int64? {
        switch value {
        case .string(let text): Int64(text)
        case .number(let number): number.rounded() == number && abs(number) < 0x1p63 ? Int64(number) : nil
        default: nil
        }
    }

    static func revision(of reply: JSONValue) -> Int64 {
        int64(reply["header"]?["revision"]) ?? 0
    }

    static func object(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        guard let value = try? JSONParser.parse(bytes), case .object = value else {
            throw EtcdError.malformed(String(decoding: bytes.prefix(200), as: UTF8.self))
        }
        return value
    }

    static func error(_ object: JSONValue) -> EtcdError? {
        guard let message = object["message"]?.stringValue ?? object["error"]?.stringValue else { return nil }
        return .refused(code: Int(int64(object["code"]) ?? 0), message: message)
    }

    static func keyValue(_ object: JSONValue) throws -> KeyValue {
        let key = decode(object["key"])
        guard !key.isEmpty else { throw EtcdError.malformed("a key-value pair without a key") }
        return KeyValue(key: String(decoding: key, as: UTF8.self), value: decode(object["value"]),
                        createRevision: int64(object["create_revision"]) ?? 0,
                        modRevision: int64(object["mod_revision"]) ?? 0, lease: int64(object["lease"]) ?? 0)
    }

    static func watchEvent(_ event: JSONValue, revision: Int64) throws -> WatchEvent {
        guard let kv = event["kv"], case .object = kv else { throw EtcdError.malformed("a watch event without kv") }
        let current = try keyValue(kv)
        if event["type"]?.stringValue == "DELETE" {
            let previous = try event["prev_kv"].map(keyValue)
            return .delete(key: current.key, previous: previous, revision: current.modRevision)
        }
        return .put(current)
    }
}

/// The endpoint that answered last, tried first next time.
private actor Preferred {
    private var url: String?

    func order(_ urls: [String]) -> [String] {
        guard let url, let index = urls.firstIndex(of: url) else { return urls }
        return Array(urls[index...] + urls[..<index])
    }

    func set(_ url: String) { self.url = url }
}
