extension Sequence<UInt8> {
    /// Each byte as two lowercase hex digits: MAC addresses, names built from bytes.
    public var hexPairs: [String] {
        map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }
    }
}
