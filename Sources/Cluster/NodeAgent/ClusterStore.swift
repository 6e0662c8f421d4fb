import Addressing
import ClusterModel

/// Where the cluster's state comes from. etcd is the one built (`EtcdClusterStore`); tests
/// use one in memory. A Kubernetes source (each Node's `spec.podCIDRs`) would be another, and
/// nothing of the data path would change.
public protocol ClusterStore: Sendable {
    func config() async throws -> ClusterConfig
    /// Replaces the config only if it is still `previous` (nil: there was none).
    func setConfig(_ config: ClusterConfig, previous: ClusterConfig?) async throws -> Bool
    /// Everything under the root, raw, and the revision it was read at.
    func view() async throws -> ClusterView
    /// Changes to the node records and subnet keys after `revision`, in the batches the store
    /// sends them (liveness is read with each listing).
    func watch(from revision: Int64) -> AsyncThrowingStream<[ClusterView.Change], Error>
    /// Writes a registration in one transaction, only if the record is still as read and every
    /// claimed subnet key is still absent: false when another writer came first.
    func commit(_ registration: Registration) async throws -> Bool
    /// Forgets the node and returns every subnet naming it to the pool, whatever its record
    /// holds: an operator's decision only.
    func remove(name: String) async throws
    /// Says the node is alive for `ttl` seconds, with its addresses: the lease it is bound to,
    /// which `renew` extends. Throws `NameHeld` when a live daemon elsewhere has the name;
    /// `replacing`, the node's own addresses before its underlay changed, is not one.
    func announce(name: String, addresses: [IPAddress], replacing: [IPAddress]?, ttl: Int) async throws -> Int64
    /// The addresses a live daemon announced the name with; nil when none is alive.
    func announced(name: String) async throws -> String?
    func renew(lease: Int64) async throws -> Bool
}

extension ClusterStore {
    /// Makes the node known with subnets of its own, from one view: the ones it holds, or free
    /// ones; tried again when another node's registration came between the view and the write.
    /// The view is returned as the registration left it, for the daemon to start from. `read`,
    /// a view the caller has just listed, spares the first attempt a listing of its own.
    @discardableResult
    public func register(name: String, addresses: [IPAddress], vtepMAC: MACAddress, config: ClusterConfig,
                         read: ClusterView? = nil, attempts: Int = 64) async throws
        -> (record: NodeRecord, view: ClusterView) {
        var read = read
        for _ in 0..<attempts {
            var view: ClusterView
            if let listed = read {
                view = listed
                read = nil
            } else {
                view = try await self.view()
            }
            let plan = try Registration.plan(name: name, addresses: addresses, vtepMAC: vtepMAC, config: config,
                                             view: view)
            if !plan.isCurrent, try await !commit(plan) { continue }
            view.set(ClusterKeys.node(name), Array(plan.record.json.utf8))
            for subnet in plan.claims { view.set(ClusterKeys.subnet(subnet), Array(name.utf8)) }
            for subnet in plan.releases { view.set(ClusterKeys.subnet(subnet), nil) }
            return (plan.record, view)
        }
        throw ClusterStoreError.conflict("could not claim a subnet for \(name) in \(attempts) tries")
    }
}

public enum ClusterStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case noConfig
    case conflict(String)
    case notFound(String)
    /// A live daemon with other addresses announces this name.
    case nameHeld(name: String, addresses: String)

    public var description: String {
        switch self {
        case .noConfig: "the cluster has no config yet (podwire-node config set …)"
        case let .conflict(why): why
        case let .notFound(name): "no node \(name) is known"
        case let .nameHeld(name, addresses):
            "the name \(name) is held by a live daemon at \(addresses): give this node another --name"
        }
    }
}
