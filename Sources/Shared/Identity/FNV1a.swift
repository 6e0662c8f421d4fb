/// FNV-1a, 64 bits: stable across builds and machines, unlike Swift's Hasher. Names and
/// labels are derived from it; it is no defence against a chosen collision, which only the
/// node's own configuration could stage.
public enum FNV1a {
    public static func hash(_ parts: [String.UTF8View]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (index, part) in parts.enumerated() {
            if index > 0 { mix(&hash, 0) }
            for byte in part { mix(&hash, byte) }
        }
        return hash
    }

    /// 16 hex digits.
    public static func hex(_ parts: String.UTF8View...) -> String {
        withUnsafeBytes(of: hash(parts).bigEndian) { $0.hexString() }
    }

    private static func mix(_ hash: inout UInt64, _ byte: UInt8) {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01b3
    }
}
