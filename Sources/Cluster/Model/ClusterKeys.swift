import Addressing

/// Where the cluster's state lives in the store, made and read back in one place:
///
///     /podwire/config               the ClusterConfig
///     /podwire/nodes/NAME           each NodeRecord; no lease: it stays until an operator removes it
///     /podwire/subnets/A.B.C.D-LEN  the name of the node holding the subnet, created only if absent
///     /podwire/alive/NAME           present while the node's daemon runs (a short lease)
///
/// IPv6 subnets spell `:` as `_` (`fd00__-64`): a colon reads badly in etcdctl's output.
public enum ClusterKeys {
    public static let root = "/podwire/"
    public static let config = root + "config"
    public static let nodes = root + "nodes/"
    public static let subnets = root + "subnets/"
    public static let alive = root + "alive/"

    public static func node(_ name: String) -> String { nodes + name }
    public static func alive(_ name: String) -> String { alive + name }

    /// One key per subnet, created only if absent: two nodes can never hold one subnet.
    public static func subnet(_ subnet: IPNetwork) -> String {
        subnets + String("\(subnet.first)-\(subnet.prefixLength)".map { $0 == ":" ? "_" : $0 })
    }

    /// The node a `nodes/` key names; nil for a key outside it or a name no node may have.
    public static func nodeName(_ key: String) -> String? { name(key, under: nodes) }

    /// The node an `alive/` key names.
    public static func aliveName(_ key: String) -> String? { name(key, under: alive) }

    /// The subnet a `subnets/` key names, exactly as `subnet(_:)` spells it; nil for any other key.
    public static func subnet(_ key: String) -> IPNetwork? {
        guard key.hasPrefix(subnets) else { return nil }
        let text = String(key.dropFirst(subnets.count).map { $0 == "_" ? ":" : $0 })
        guard let dash = text.lastIndex(of: "-"), let length = Int(text[text.index(after: dash)...]),
              let address = IPAddress(text[..<dash]), let subnet = IPNetwork(address: address, prefixLength: length),
              subnet.isNetworkAddress, Self.subnet(subnet) == key else { return nil }
        return subnet
    }

    private static func name(_ key: String, under prefix: String) -> String? {
        guard key.hasPrefix(prefix) else { return nil }
        let name = String(key.dropFirst(prefix.count))
        return NodeRecord.isValidName(name) ? name : nil
    }
}
