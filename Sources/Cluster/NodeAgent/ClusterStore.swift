import Addressing
import ClusterModel

/// Where the cluster's state comes from. etcd is the one built (`EtcdClusterStore`); a
/// Kubernetes source (each Node's `spec.podCIDRs`, read and watched through the API server)
/// would be another, and nothing of the data path would change.
public protocol ClusterStore: Sendable {
    func config() async throws -> ClusterConfig
    /// Every node, and the store's revision they were read at (a watch goes on from it).
    func nodes() async throws -> (records: [NodeRecord], revision: Int64)
    /// Makes the node known with subnets of its own: the ones it already holds, or free ones.
    func register(name: String, addresses: [IPAddress], vtepMAC: MACAddress,
                  config: ClusterConfig) async throws -> NodeRecord
    /// Forgets the node and returns its subnets to the pool: an operator's decision only.
    func remove(name: String) async throws
    /// Node records added, changed and removed after `revision`.
    func watchNodes(from revision: Int64) -> AsyncThrowingStream<NodeChange, Error>
    /// Says the node is alive for `ttl` seconds: the lease it is bound to, which `renew` extends.
    func announce(name: String, ttl: Int) async throws -> Int64
    func renew(lease: Int64) async throws -> Bool
    /// The names of nodes whose liveness has not lapsed.
    func alive() async throws -> Set<String>
}

public enum NodeChange: Equatable, Sendable {
    case updated(NodeRecord)
    case removed(String)
}

public enum ClusterStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case noConfig
    case conflict(String)
    case notFound(String)

    public var description: String {
        switch self {
        case .noConfig: "the cluster has no config yet (podwire-node config set …)"
        case let .conflict(why): why
        case let .notFound(name): "no node \(name) is known"
        }
    }
}
