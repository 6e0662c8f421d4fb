extension Sequence<UInt8> {
    /// The bytes as pairs of lowercase hex digits, `separator` between pairs: MAC addresses,
    /// names built from bytes. Inlinable so that each caller gets it specialised: this runs
    /// on every call, and the generic path costs more than the rest of naming a veth.
    @inlinable
    public func hexString(separator: UInt8? = nil) -> String {
        func digit(_ nibble: UInt8) -> UInt8 {
            nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
        }
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 3)
        for byte in self {
            if let separator, !text.isEmpty { text.append(separator) }
            text.append(digit(byte >> 4))
            text.append(digit(byte & 0xF))
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension UInt8 {
    /// The value of this byte read as one hex digit, in either case; nil for any other byte.
    /// What `hexString` writes, read back.
    @inlinable
    public var hexDigitValue: UInt8? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): self - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): self - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
