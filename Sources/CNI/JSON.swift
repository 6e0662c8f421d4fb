import FoundationEssentials

/// The one place that configures JSON coding: sorted keys and unescaped slashes, so output
/// is stable for tests and readable (`10.0.0.2/24`, not `10.0.0.2\/24`).
public enum JSON {
    public static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every type encoded here is made of strings, numbers, arrays and optionals;
        // none of them can fail to encode.
        return Array(try! encoder.encode(value))
    }

    /// Decodes `what` (a name for messages: "network config", "prevResult") into `type`,
    /// turning the decoder's errors into CNI errors that name the offending key.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>,
                                            what: String) throws(CNIError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            throw describe(error, what: what)
        } catch let error as CNIError {
            throw error
        } catch {
            throw CNIError(CNIError.decodingFailure, "cannot decode \(what): \(error)")
        }
    }

    private static func describe(_ error: DecodingError, what: String) -> CNIError {
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".").replacing(".[", with: "[")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return CNIError(CNIError.decodingFailure,
                            "cannot decode \(what): \(path(context.codingPath)) must be \(describe(type))")
        case .valueNotFound(let type, let context):
            return CNIError(CNIError.invalidConfig,
                            "invalid \(what): \(path(context.codingPath)) must be \(describe(type)), not null")
        case .keyNotFound(let key, let context):
            return CNIError(CNIError.invalidConfig,
                            "invalid \(what): missing \(path(context.codingPath + [key]))")
        case .dataCorrupted(let context):
            // A custom init's validation failure carries its own message; a syntax error has
            // an empty path and the parser's text.
            if context.codingPath.isEmpty {
                return CNIError(CNIError.decodingFailure, "cannot decode \(what): not valid JSON")
            }
            return CNIError(CNIError.invalidConfig,
                            "invalid \(what): \(path(context.codingPath)): \(context.debugDescription)")
        @unknown default:
            return CNIError(CNIError.decodingFailure, "cannot decode \(what)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is UInt.Type, is Int32.Type, is UInt32.Type, is UInt16.Type, is UInt8.Type:
            return "a whole number in range"
        case is Double.Type: return "a number"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a \(name)"
        }
    }
}

/// Any JSON value, for the parts of a config podwire passes on without reading:
/// the `ipam` section given to a delegate, `prevResult` handed down a chain.
public enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            // Whole numbers print without a fraction, as they came in (mtu 1500, not 1500.0).
            if value.rounded() == value, abs(value) < 1e15 { try container.encode(Int64(value)) }
            else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}
