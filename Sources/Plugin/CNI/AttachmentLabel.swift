import Addressing

/// An attachment (network, container ID, ifname) as one line of text: the alias of its host
/// end and the comment on its firewall entries, so that each traces back to its owner and
/// is collected per network. The kernel caps both (an alias at 255 bytes, an nftables
/// comment at 254): a field that would not fit is replaced by `#` and its digest, which no
/// valid network name or container ID can start with. Labels that fit are unchanged, so
/// entries written before long names were handled still match.
public enum AttachmentLabel {
    public static let limit = 254

    public static func make(network: String, containerID: String, ifname: String) -> String {
        let full = network + " " + containerID + " " + ifname
        if full.utf8.count <= limit { return full }
        let shortID = network + " " + digest(containerID) + " " + ifname
        if shortID.utf8.count <= limit { return shortID }
        return digest(network) + " " + digest(containerID) + " " + ifname
    }

    /// Whether a label names an attachment of `network`, in either spelling.
    public static func network(of label: String, is network: String) -> Bool {
        guard let space = label.utf8.firstIndex(of: UInt8(ascii: " ")) else { return false }
        let field = Substring(label.utf8[..<space])
        return field == network || field == digest(network)
    }

    static func digest(_ text: String) -> String { "#" + FNV1a.hex(text.utf8) }
}

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
