#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address, held as a number so that ranges can be walked by arithmetic.
///
/// Text goes through `inet_pton`/`inet_ntop`, so the forms accepted and printed are the
/// kernel's and the reference plugins' (`10.0.0.2`, `fd00::2`), never a hand-rolled variant.
public enum IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt128)

    public enum Family: Sendable, Equatable {
        case v4, v6
        public var bitWidth: Int { self == .v4 ? 32 : 128 }
        /// The digit the CNI 0.3.x/0.4.0 results use in `ips[].version`.
        public var cniVersionDigit: String { self == .v4 ? "4" : "6" }
    }

    public var family: Family {
        switch self {
        case .v4: return .v4
        case .v6: return .v6
        }
    }

    // The generic entry points of this module only forward to a String parser: unspecialised
    // StringProtocol code across a module boundary resolves its associated types at run time,
    // a demangling and a conformance scan on first use, which cost a start-up-bound plugin
    // more than the parsing itself.
    @inlinable
    public init?(_ text: some StringProtocol) {
        self.init(parsing: String(text))
    }

    @usableFromInline
    init?(parsing text: String) {
        if text.utf8.contains(UInt8(ascii: ":")) {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, text, &raw) == 1 else { return nil }
            let bytes = withUnsafeBytes(of: raw) { Array($0) }
            self.init(bytes: bytes)
        } else {
            var raw = in_addr()
            guard inet_pton(AF_INET, text, &raw) == 1 else { return nil }
            self = .v4(UInt32(bigEndian: raw.s_addr))
        }
    }

    /// From network-order bytes: 4 for IPv4, 16 for IPv6.
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4:
            self = .v4(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        case 16:
            self = .v6(bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) })
        default:
            return nil
        }
    }

    /// Network-order bytes, as netlink and the kernel want them.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let value):
            return (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
        case .v6(let value):
            return (0..<16).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
        }
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = self.family == .v4 ? AF_INET : AF_INET6
        bytes.withUnsafeBytes { raw in
            _ = inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The address `offset` steps away in the same family, or nil past either end.
    public func advanced(by offset: Int) -> IPAddress? {
        switch self {
        case .v4(let value):
            let (result, overflow) = offset >= 0
                ? value.addingReportingOverflow(UInt32(truncatingIfNeeded: offset))
                : value.subtractingReportingOverflow(UInt32(truncatingIfNeeded: offset.magnitude))
            return overflow || offset.magnitude > UInt32.max ? nil : .v4(result)
        case .v6(let value):
            let (result, overflow) = offset >= 0
                ? value.addingReportingOverflow(UInt128(offset))
                : value.subtractingReportingOverflow(UInt128(offset.magnitude))
            return overflow ? nil : .v6(result)
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case let (.v4(a), .v4(b)): return a < b
        case let (.v6(a), .v6(b)): return a < b
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        }
    }
}
