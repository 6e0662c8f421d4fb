import ClusterModel
import Foundation
import JSON

/// The network config the node's runtime reads: podwire with the node's subnets, its pods
/// masqueraded towards everything but the cluster, and the portmap capability.
public enum Conflist {
    public static func make(node: NodeRecord, config: ClusterConfig, bridge: String, mtu: Int,
                            dataDir: String? = nil) -> String {
        let ranges: [JSONValue] = node.subnets.map { .array([.object(["subnet": .string("\($0)")])]) }
        var ipam: [String: JSONValue] = ["type": .string("host-local"), "ranges": .array(ranges)]
        if let dataDir { ipam["dataDir"] = .string(dataDir) }
        let plugin: JSONValue = .object([
            "type": .string("podwire"), "bridge": .string(bridge), "isGateway": .bool(true),
            "isDefaultGateway": .bool(true), "ipMasq": .bool(true), "mtu": .number(Double(mtu)),
            "hairpinMode": .bool(true),
            "noMasqueradeDestinations": .array(config.networks.map { .string("\($0)") }),
            "capabilities": .object(["portMappings": .bool(true)]),
            "ipam": .object(ipam),
        ])
        let conflist: JSONValue = .object([
            "cniVersion": .string("1.0.0"), "name": .string("podwire"), "plugins": .array([plugin]),
        ])
        return String(decoding: JSONWriter.write(conflist), as: UTF8.self) + "\n"
    }

    /// Written to a temporary file beside `path` and renamed over it, so a runtime never reads
    /// half of it; unchanged content is not written again.
    public static func write(_ content: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        if let current = try? String(contentsOf: url, encoding: .utf8), current == content { return }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        try Data(content.utf8).write(to: temporary)
        guard rename(temporary.path, url.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }
}
