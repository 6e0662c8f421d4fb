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
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let address = IPAddress(parts[0]),
              !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy(\.isASCIIDigitCharacter),
              let length = Int(parts[1])
        else { return nil }
        self.init(address: address, prefixLength: length)
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

extension Character {
    var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}
