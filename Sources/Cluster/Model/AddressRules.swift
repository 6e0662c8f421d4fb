import Addressing

/// Which addresses and networks may stand for a node or a cluster: what a record claims is
/// checked against these before a route is made from it.
public enum AddressRules {
    /// Ranges no pod network and no underlay address may touch: "this network", loopback,
    /// link-local, multicast and the reserved blocks, IPv4-mapped IPv6 and the unspecified address.
    static let special: [IPNetwork] = [
        "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/127", "::ffff:0:0/96", "fe80::/10", "ff00::/8",
    ].map { IPNetwork($0)! }

    /// Why `network` cannot be a cluster network; nil when it is a global or private unicast range.
    public static func networkProblem(_ network: IPNetwork) -> String? {
        if let range = special.first(where: { $0.family == network.family && $0.overlaps(network) }) {
            return "\(network) overlaps \(range), which is not for pods"
        }
        return nil
    }

    /// Why `address` cannot be a node's underlay address; nil when it is unicast and routable.
    public static func addressProblem(_ address: IPAddress) -> String? {
        if let range = special.first(where: { $0.contains(address) }) {
            return "\(address) lies in \(range)"
        }
        if address.family == .v4, address.bytes == [255, 255, 255, 255] { return "\(address) is broadcast" }
        return nil
    }

    /// Why `mac` cannot be a VTEP's MAC: a multicast (or broadcast) or all-zero address would
    /// become the VXLAN device's default entry or flood.
    public static func macProblem(_ mac: MACAddress) -> String? {
        if mac.isMulticast { return "\(mac) is a multicast MAC" }
        if mac.bytes.allSatisfy({ $0 == 0 }) { return "\(mac) is all zeros" }
        return nil
    }
}
