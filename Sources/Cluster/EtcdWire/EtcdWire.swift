import ExtrasBase64
import JSON

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
    /// The client's own settings cannot work (a file missing, half a certificate pair).
    case settings(String)
    /// A watch got neither events nor answers from its member for longer than its bound.
    case stalled(String)

    public var description: String {
        switch self {
        case let .unavailable(why): "etcd is unavailable: \(why)"
        case let .refused(code, message): "etcd refused the request (code \(code)): \(message)"
        case let .compacted(revision): "etcd has compacted the history up to revision \(revision)"
        case let .malformed(why): "etcd sent an unexpected reply: \(why)"
        case let .settings(why): why
        case let .stalled(why): "the watch stalled: \(why)"
        }
    }
}

/// etcd's v3 JSON gateway as it is written on the wire: keys and values base64-encoded,
/// 64-bit numbers as strings, errors as objects. Apart from the client so that the fuzzer
/// reaches every reader of what etcd sends without linking the HTTP stack.
public enum EtcdWire {

    public static func encode(_ text: String) -> JSONValue { .string(Base64.encodeToString(bytes: Array(text.utf8))) }

    public static func decode(_ value: JSONValue?) -> [UInt8] {
        guard let text = value?.stringValue else { return [] }
        return (try? text.base64decoded()) ?? []
    }

    /// The first key after every key that starts with `prefix`.
    public static func rangeEnd(_ prefix: String) -> String {
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
    public static func int64(_ value: JSONValue?) -> Int64? {
        switch value {
        case .string(let text): Int64(text)
        case .number(let number): number.rounded() == number && abs(number) < 0x1p63 ? Int64(number) : nil
        default: nil
        }
    }

    public static func revision(of reply: JSONValue) -> Int64 {
        int64(reply["header"]?["revision"]) ?? 0
    }

    public static func object(_ bytes: some Collection<UInt8>) throws -> JSONValue {
        guard let value = try? JSONParser.parse(bytes), case .object = value else {
            throw EtcdError.malformed(String(decoding: bytes.prefix(200), as: UTF8.self))
        }
        return value
    }

    public static func error(_ object: JSONValue) -> EtcdError? {
        guard let message = object["message"]?.stringValue ?? object["error"]?.stringValue else { return nil }
        return .refused(code: Int(int64(object["code"]) ?? 0), message: message)
    }

    public static func keyValue(_ object: JSONValue) throws -> KeyValue {
        let key = decode(object["key"])
        guard !key.isEmpty else { throw EtcdError.malformed("a key-value pair without a key") }
        return KeyValue(key: String(decoding: key, as: UTF8.self), value: decode(object["value"]),
                        createRevision: int64(object["create_revision"]) ?? 0,
                        modRevision: int64(object["mod_revision"]) ?? 0, lease: int64(object["lease"]) ?? 0)
    }

    /// The events of one message of a watch's stream (none for a progress notification);
    /// a cancelled watch throws, `compacted` when its revision is gone.
    public static func watchResponse(_ object: JSONValue) throws -> [WatchEvent] {
        let result = object["result"] ?? object
        if result["canceled"] == .bool(true) {
            let compacted = int64(result["compact_revision"]) ?? 0
            if compacted > 0 { throw EtcdError.compacted(revision: compacted) }
            let reason = result["cancel_reason"]?.stringValue ?? "canceled"
            throw EtcdError.refused(code: 0, message: reason)
        }
        let headerRevision = revision(of: result)
        return try (result["events"]?.arrayValue ?? []).map { try watchEvent($0, revision: headerRevision) }
    }

    public static func watchEvent(_ event: JSONValue, revision: Int64) throws -> WatchEvent {
        guard let kv = event["kv"], case .object = kv else { throw EtcdError.malformed("a watch event without kv") }
        let current = try EtcdWire.keyValue(kv)
        if event["type"]?.stringValue == "DELETE" {
            let previous = try event["prev_kv"].map(EtcdWire.keyValue)
            return .delete(key: current.key, previous: previous, revision: current.modRevision)
        }
        return .put(current)
    }
}
