import Addressing
import CNI
import Firewall

/// The `portMappings` capability as the runtime passes it, in `runtimeConfig`, with the
/// reference portmap plugin's reading of each field.
enum PortMappingsConfig {
    /// `runtimeConfig.portMappings`, if the runtime sent it.
    static func mappings(_ entries: [JSONNode]?) throws(CNIError) -> [PortMapping] {
        try (entries ?? []).map { entry throws(CNIError) in try mapping(entry) }
    }

    private static func mapping(_ entry: JSONNode) throws(CNIError) -> PortMapping {
        func port(_ value: Int?, _ name: String) throws(CNIError) -> UInt16 {
            guard let value, (1...65535).contains(value) else {
                let shown = value.map(String.init) ?? "(missing)"
                throw CNIError.config("portMappings: \(name) \(shown) is not a port number (1-65535)")
            }
            return UInt16(value)
        }
        let text = (try entry.string("protocol") ?? "tcp").lowercased()
        guard let proto = PortMapping.Proto(rawValue: text.isEmpty ? "tcp" : text) else {
            throw CNIError.config("portMappings: protocol \"\(text.prefix(16))\" is not tcp, udp or sctp")
        }
        var hostIP: IPAddress?
        if let text = try entry.string("hostIP"), !text.isEmpty, text != "0.0.0.0", text != "::" {
            guard let address = IPAddress(text) else {
                throw CNIError.config("portMappings: hostIP \"\(text.prefix(45))\" is not an IP address")
            }
            hostIP = address
        }
        return PortMapping(hostPort: try port(entry.int("hostPort"), "hostPort"),
                           containerPort: try port(entry.int("containerPort"), "containerPort"),
                           proto: proto, hostIP: hostIP)
    }

    /// Each mapping bound to every pod address of a family it serves.
    static func targets(_ mappings: [PortMapping], for ips: [CNIResult.IPConfig]) -> [PortTarget] {
        mappings.flatMap { mapping in
            ips.filter { mapping.serves($0.address.family) }.map {
                PortTarget(mapping: mapping, podAddress: $0.address.address, subnet: $0.address.network)
            }
        }
    }
}

extension FirewallError {
    /// A taken host port is the caller's to resolve; anything else is the kernel failing.
    func cniError(_ what: String) -> CNIError {
        switch self {
        case .portTaken: CNIError(CNIError.generic, description)
        case .netlink: CNIError.failed(what, self)
        case .lock: CNIError(CNIError.ioFailure, "\(what): \(description)")
        }
    }
}
