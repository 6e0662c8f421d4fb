#if canImport(Glibc)
import Glibc
#endif

/// A refused or failed netlink request: what was asked, the errno, and the kernel's own
/// explanation when it gave one (the extended ack's NLMSGERR_ATTR_MSG).
public struct NetlinkError: Error, Equatable, Sendable, CustomStringConvertible {
    public var operation: String
    /// A positive errno.
    public var errno: Int32
    public var kernelMessage: String?

    public init(_ operation: String, errno: Int32, kernelMessage: String? = nil) {
        self.operation = operation
        self.errno = abs(errno)
        self.kernelMessage = kernelMessage.flatMap { $0.isEmpty ? nil : $0 }
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return kernelMessage.map { "\(operation): \(reason): \($0)" } ?? "\(operation): \(reason)"
    }

    public var isNotFound: Bool { errno == ENOENT || errno == ENODEV }
    public var alreadyExists: Bool { errno == EEXIST }
    /// The kernel lacks the feature (a config option it was built without).
    public var isUnsupported: Bool { errno == EOPNOTSUPP }
}
