import ClusterModel
import JSON

/// The network config the node's runtime reads: podwire with the node's subnets, its pods
/// masqueraded towards everything but the cluster (a family whose `natOutgoing` is off towards
/// nothing), and the portmap capability.
public enum Conflist {
    public static func make(node: NodeRecord, config: ClusterConfig, bridge: String, mtu: Int,
                            dataDir: String? = nil) -> String {
        let ranges: [JSONValue] = node.subnets.map { .array([.object(["subnet": .string("\($0)")])]) }
        var ipam: [String: JSONValue] = ["type": .string("host-local"), "ranges": .array(ranges)]
        if let dataDir { ipam["dataDir"] = .string(dataDir) }
        // The plugin's ipMasq covers both families: a family kept unmasqueraded has every
        // destination exempt.
        let masquerade = config.networks.contains { config.natOutgoing($0.family) }
        let exempt = config.networks.map { "\($0)" } + config.networks.filter { !config.natOutgoing($0.family) }
            .map { $0.family == .v4 ? "0.0.0.0/0" : "::/0" }
        let plugin: JSONValue = .object([
            "type": .string("podwire"), "bridge": .string(bridge), "isGateway": .bool(true),
            "isDefaultGateway": .bool(true), "ipMasq": .bool(masquerade), "mtu": .number(Double(mtu)),
            "hairpinMode": .bool(true),
            "noMasqueradeDestinations": .array(exempt.map { .string($0) }),
            "capabilities": .object(["portMappings": .bool(true)]),
            "ipam": .object(ipam),
        ])
        let conflist: JSONValue = .object([
            "cniVersion": .string("1.0.0"), "name": .string("podwire"), "plugins": .array([plugin]),
        ])
        return String(decoding: JSONWriter.write(conflist), as: UTF8.self) + "\n"
    }
}
