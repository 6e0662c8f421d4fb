/// The one error type of a CNI call: what the runtime reads as `{"code", "msg", "details"}`.
///
/// `code` is an `Int` rather than an enum so that a delegate's error, with whatever code it
/// chose, passes through to the runtime unchanged.
public struct CNIError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int
    public var msg: String
    public var details: String

    public init(_ code: Int, _ msg: String, details: String = "") {
        self.code = code
        self.msg = msg
        self.details = details
    }

    public var description: String { details.isEmpty ? msg : "\(msg): \(details)" }

    // The codes the specification reserves (0–99), under names that say when to use them.
    public static let incompatibleVersion = 1
    public static let unsupportedField = 2
    public static let unknownContainer = 3
    public static let invalidEnvironment = 4
    public static let ioFailure = 5
    public static let decodingFailure = 6
    public static let invalidConfig = 7
    public static let tryAgainLater = 11
    public static let notReadyForAdd = 50
    public static let notReadyExistingAffected = 51
    /// Anything else that failed; the reference plugins use the same number.
    public static let generic = 999

    public static func config(_ msg: String, details: String = "") -> CNIError {
        CNIError(invalidConfig, msg, details: details)
    }

    public static func environment(_ msg: String) -> CNIError {
        CNIError(invalidEnvironment, msg)
    }

    /// Wraps a lower layer's error (netlink, file system) with what podwire was doing.
    public static func failed(_ what: String, _ underlying: any Error) -> CNIError {
        if let cni = underlying as? CNIError {
            return CNIError(cni.code, "\(what): \(cni.msg)", details: cni.details)
        }
        return CNIError(generic, "\(what): \(underlying)")
    }
}

extension CNIError {
    /// The error JSON of the specification, in the version the config asked for.
    public func encoded(cniVersion: String) -> [UInt8] {
        var members: [String: JSONValue] = ["cniVersion": .string(cniVersion), "code": .number(Double(code)),
                                            "msg": .string(msg)]
        if !details.isEmpty { members["details"] = .string(details) }
        return JSONWriter.write(.object(members))
    }
}
