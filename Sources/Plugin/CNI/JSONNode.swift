@_exported import JSON

/// A value inside a CNI document (a network config, a result), with where it sits, so that
/// every complaint names the key: "ipam.ranges[0][0].subnet must be a string".
///
/// Keys match the way Go's encoding/json matches them, since every reference plugin reads
/// its config that way and runtimes rely on it: an exact match first, else one that differs
/// only in ASCII case. containerd's go-cni, for one, sends port mappings from an untagged
/// struct as `{"HostPort":8080,"ContainerPort":80,…}`.
///
/// A key that is present with `null` reads as absent, as it does in Go.
public struct JSONNode: Sendable {
    public let value: JSONValue
    /// "network config", "prevResult": what the document is, for messages.
    public let what: String
    /// Where the value sits: empty for the document itself.
    public let path: String

    public init(_ value: JSONValue, what: String, path: String = "") {
        self.value = value
        self.what = what
        self.path = path
    }

    /// Parses a whole document, which must be an object.
    public static func document(_ bytes: some Collection<UInt8>, what: String) throws(CNIError) -> JSONNode {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw CNIError(CNIError.decodingFailure, "cannot decode \(what): not valid JSON: \(error)")
        }
        let node = JSONNode(value, what: what)
        _ = try node.members()
        return node
    }

    // MARK: Fields of an object

    /// The field's node, or nil when it is absent or null.
    public func field(_ key: String) throws(CNIError) -> JSONNode? {
        let members = try members()
        let found = members[key] ?? members.first(where: { Self.sameIgnoringASCIICase($0.key, key) })?.value
        guard let found, found != .null else { return nil }
        return JSONNode(found, what: what, path: path.isEmpty ? key : path + "." + key)
    }

    public func string(_ key: String) throws(CNIError) -> String? { try field(key)?.string() }
    public func bool(_ key: String) throws(CNIError) -> Bool? { try field(key)?.bool() }
    public func int(_ key: String) throws(CNIError) -> Int? { try field(key)?.int() }
    public func uint64(_ key: String) throws(CNIError) -> UInt64? { try field(key)?.uint64() }
    public func list(_ key: String) throws(CNIError) -> [JSONNode]? { try field(key)?.list() }
    public func strings(_ key: String) throws(CNIError) -> [String]? {
        try field(key)?.list().map { (element) throws(CNIError) in try element.string() }
    }
    /// An object field, checked to be one.
    public func object(_ key: String) throws(CNIError) -> JSONNode? {
        guard let node = try field(key) else { return nil }
        _ = try node.members()
        return node
    }

    /// A field that must be there.
    public func required(_ key: String) throws(CNIError) -> JSONNode {
        guard let node = try field(key) else {
            throw CNIError.config("invalid \(what): missing \(path.isEmpty ? key : path + "." + key)")
        }
        return node
    }

    // MARK: The value itself

    public func string() throws(CNIError) -> String {
        guard case .string(let text) = value else { throw mismatch("a string") }
        return text
    }

    public func bool() throws(CNIError) -> Bool {
        guard case .bool(let flag) = value else { throw mismatch("true or false") }
        return flag
    }

    public func int() throws(CNIError) -> Int {
        guard case .number(let number) = value, number.rounded() == number,
              number >= -9.0e15, number <= 9.0e15 else { throw mismatch("a whole number in range") }
        return Int(number)
    }

    public func uint64() throws(CNIError) -> UInt64 {
        guard case .number(let number) = value, number.rounded() == number,
              number >= 0, number < 18_446_744_073_709_551_616.0 else { throw mismatch("a whole number in range") }
        return UInt64(number)
    }

    public func list() throws(CNIError) -> [JSONNode] {
        guard case .array(let elements) = value else { throw mismatch("a list") }
        return elements.enumerated().map { JSONNode($1, what: what, path: path + "[\($0)]") }
    }

    public func members() throws(CNIError) -> [String: JSONValue] {
        guard case .object(let members) = value else { throw mismatch("an object") }
        return members
    }

    /// A complaint about this value's content, in the same form as the type checks'.
    public func invalid(_ problem: String) -> CNIError {
        CNIError.config("invalid \(what): \(path.isEmpty ? "top level" : path) \(problem)")
    }

    private func mismatch(_ expected: String) -> CNIError {
        // "must be a whole number in range, not a number" would say nothing more.
        let found = if case .number = value, expected.hasSuffix("number in range") { "" } else { ", not \(value.kind)" }
        return CNIError(CNIError.decodingFailure,
                        "cannot decode \(what): \(path.isEmpty ? "top level" : path) must be \(expected)\(found)")
    }

    private static func sameIgnoringASCIICase(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { x, y in
            x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= UInt8(ascii: "a") && (x | 0x20) <= UInt8(ascii: "z"))
        }
    }
}
