import Addressing

/// One entry of the `portMappings` capability: traffic to the node's `hostPort` (on
/// `hostIP`, or on any local address) goes to the pod's `containerPort`.
public struct PortMapping: Sendable, Equatable, CustomStringConvertible {
    public enum Proto: String, Sendable, CaseIterable {
        case tcp, udp, sctp
        var number: UInt8 {
            switch self {
            case .tcp: IPProtocol.tcp.rawValue
            case .udp: IPProtocol.udp.rawValue
            case .sctp: IPProtocol.sctp.rawValue
            }
        }
    }

    public var hostPort: UInt16
    public var containerPort: UInt16
    public var proto: Proto
    /// nil: every local address of the node.
    public var hostIP: IPAddress?

    public init(hostPort: UInt16, containerPort: UInt16, proto: Proto, hostIP: IPAddress?) {
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.proto = proto
        self.hostIP = hostIP
    }

    public var description: String { "\(hostIP.map { "\($0)" } ?? "*"):\(hostPort)/\(proto.rawValue)" }

    /// Whether it applies to pod addresses of `family`.
    public func serves(_ family: IPAddress.Family) -> Bool { hostIP.map { $0.family == family } ?? true }
}

/// A mapping bound to one of the pod's addresses.
public struct PortTarget: Sendable, Equatable {
    public var mapping: PortMapping
    public var podAddress: IPAddress
    /// The pod's subnet: clients in it reach the mapping through the node (hairpin), and
    /// are masqueraded so that replies come back the same way.
    public var subnet: IPNetwork

    public init(mapping: PortMapping, podAddress: IPAddress, subnet: IPNetwork) {
        self.mapping = mapping
        self.podAddress = podAddress
        self.subnet = subnet
    }
}
