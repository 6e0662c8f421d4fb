/// An address with a prefix length, as written in CIDR: `10.22.0.5/24`.
///
/// The address keeps its host bits, because that is how an interface address is written;
/// `network` gives the masked prefix when a subnet is meant.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(address: IPAddress, prefixLength: Int) {
        guard (0...address.family.bitWidth).contains(prefixLength) else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses `ADDRESS/LENGTH`; the length must be plain decimal digits in range.
    @inlinable
    public init?(_ text: some StringProtocol) {
        self.init(parsing: String(text))
    }

    @usableFromInline
    init?(parsing text: String) {
        let bytes = text.utf8
        guard let slash = bytes.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        let digits = bytes[bytes.index(after: slash)...]
        guard !digits.isEmpty, digits.count <= 3,
              digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let address = IPAddress(parsing: String(text[..<slash]))
        else { return nil }
        self.init(address: address, prefixLength: digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) })
    }

    public var description: String { "\(address)/\(prefixLength)" }
    public var family: IPAddress.Family { address.family }

    /// The prefix with host bits cleared.
    public var network: IPNetwork { IPNetwork(unchecked: first, prefixLength) }

    /// Whether the address has no host bits set (a proper subnet, not an interface address).
    public var isNetworkAddress: Bool { address == first }

    /// The first and last address the prefix covers.
    public var first: IPAddress {
        switch address {
        case .v4(let value): return .v4(value & mask32)
        case .v6(let value): return .v6(value & mask128)
        }
    }

    public var last: IPAddress {
        switch address {
        case .v4(let value): return .v4(value | ~mask32)
        case .v6(let value): return .v6(value | ~mask128)
        }
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        candidate.family == family && candidate >= first && candidate <= last
    }

    public func overlaps(_ other: IPNetwork) -> Bool {
        family == other.family && first <= other.last && other.first <= last
    }

    private init(unchecked address: IPAddress, _ prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    private var mask32: UInt32 {
        prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength)
    }

    private var mask128: UInt128 {
        prefixLength == 0 ? 0 : UInt128.max << UInt128(128 - prefixLength)
    }
}
