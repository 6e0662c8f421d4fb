/// A 48-bit Ethernet address, written `aa:bb:cc:dd:ee:ff` in results and configs.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Accepts the colon form, in either case, as the reference's `net.ParseMAC` does for
    /// Ethernet addresses.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// Multicast addresses cannot be an interface's own address; the kernel refuses them.
    public var isMulticast: Bool { bytes[0] & 1 == 1 }

    public var description: String { bytes.hexString(separator: UInt8(ascii: ":")) }
}
