import CNetlink

/// A failed netlink operation: what was asked, and libnl's error code and text.
public struct NetlinkError: Error, Equatable, Sendable, CustomStringConvertible {
    public var operation: String
    /// libnl's positive `NLE_*` code.
    public var code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = abs(code)
    }

    public var description: String {
        "\(operation): \(String(cString: nl_geterror(code)))"
    }

    public var isNotFound: Bool { code == NLE_OBJ_NOTFOUND || code == NLE_NODEV }
    public var alreadyExists: Bool { code == NLE_EXIST }
    /// The kernel lacks the feature (a config option it was built without).
    public var isUnsupported: Bool { code == NLE_OPNOTSUPP }

    /// Calls a libnl function that returns 0 or a negative `NLE_*` code.
    static func check(_ operation: @autoclosure () -> String, _ result: Int32) throws(NetlinkError) {
        if result < 0 { throw NetlinkError(operation(), code: result) }
    }
}
