/// A 48-bit Ethernet address, written `aa:bb:cc:dd:ee:ff` in results and configs.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Accepts the colon form, in either case, as the reference's `net.ParseMAC` does for
    /// Ethernet addresses.
    @inlinable
    public init?(_ text: some StringProtocol) {
        self.init(parsing: String(text))
    }

    /// Six pairs of hex digits, colons between them (see `IPAddress.init(_:)` on why not generic).
    @usableFromInline
    init?(parsing text: String) {
        let characters = Array(text.utf8)
        guard characters.count == 17 else { return nil }
        var bytes: [UInt8] = []
        for pair in 0..<6 {
            let at = pair * 3
            guard pair == 5 || characters[at + 2] == UInt8(ascii: ":"),
                  let high = characters[at].hexDigitValue,
                      let low = characters[at + 1].hexDigitValue else { return nil }
            bytes.append(high << 4 | low)
        }
        self.bytes = bytes
    }

    /// A unicast, locally administered address made of random bytes, as the kernel makes one
    /// for a veth that is given none.
    public static func locallyAdministered(randomBytes bytes: [UInt8]) -> MACAddress? {
        guard bytes.count == 6 else { return nil }
        var bytes = bytes
        bytes[0] = bytes[0] & 0xfe | 0x02
        return MACAddress(bytes: bytes)
    }

    /// Multicast addresses cannot be an interface's own address; the kernel refuses them.
    public var isMulticast: Bool { bytes[0] & 1 == 1 }

    public var description: String { bytes.hexString(separator: UInt8(ascii: ":")) }
}
