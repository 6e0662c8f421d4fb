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
