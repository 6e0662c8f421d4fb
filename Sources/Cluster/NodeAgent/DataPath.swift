import Addressing
import ClusterModel
import Netlink
import RouteNetlink

/// What the node agent asks of the kernel, behind a protocol so that its logic runs in unit
/// tests without root. Calls block; the agent makes them off Swift's cooperative pool.
public protocol DataPath: Sendable {
    /// Routes `node`'s pods to every one of `peers` (already judged sound) and removes the
    /// rest of podwire's entries. Throws only when nothing could be done (the kernel cannot
    /// be read); a refusal of one entry is in the outcome, against its peer. `refresh` asks
    /// that nothing learnt from the kernel in an earlier pass be reused.
    func apply(node: NodeRecord, peers: [NodeRecord], config: ClusterConfig, refresh: Bool) throws -> PassOutcome
}

/// What one pass did.
public struct PassOutcome: Equatable, Sendable {
    public var added = 0
    public var removed = 0
    public var routes = 0
    /// What the kernel refused, by peer ("" for entries left from before), in its words.
    public var refusals: [String: [String]] = [:]
    public var isQuiet: Bool { added == 0 && removed == 0 }

    public init(added: Int = 0, removed: Int = 0, routes: Int = 0, refusals: [String: [String]] = [:]) {
        self.added = added
        self.removed = removed
        self.routes = routes
        self.refusals = refusals
    }
}

/// The data path in this node's kernel, through the netlink core.
public final class KernelDataPath: DataPath, @unchecked Sendable {
    // One pass at a time runs on the agent's single pool thread: the socket is never shared.
    private let socket: RouteSocket
    private let vxlan: Int32?
    /// Which link leads to each peer's underlay address, as last looked up: a watch event
    /// about one peer then costs one lookup, not one per peer. Forgotten on every other
    /// trigger (a link event, the timer's listing, SIGHUP, a retry).
    private var onLink: [IPAddress: Int32?] = [:]
    /// The VXLAN device's entries after the last pass the kernel took in full: then they are
    /// the plan's. A watch event then costs no neighbour dump; every other trigger dumps.
    private var vxlanEntries: Reconciler.VXLANEntries?

    public init(socket: RouteSocket, vxlan: Int32?) {
        self.socket = socket
        self.vxlan = vxlan
    }

    public func apply(node: NodeRecord, peers: [NodeRecord], config: ClusterConfig,
                      refresh: Bool) throws -> PassOutcome {
        let reconciler = Reconciler(socket: socket)
        var lookupRefusals: [String: [String]] = [:]
        if refresh {
            onLink = [:]
            vxlanEntries = nil
        }
        // A peer whose address cannot be looked up is that peer's problem: it is planned as not
        // on-link, and the lookup's error is shown against it.
        let plan = DataPathPlan.make(node: node, peers: peers, config: config, onLink: { address in
            if let known = onLink[address] { return known }
            do {
                let link = try reconciler.onLink(address)
                onLink[address] = link
                return link
            } catch {
                let owner = peers.first { $0.addresses.contains(address) }?.name ?? ""
                lookupRefusals[owner, default: []].append("look up \(address): \(error)")
                return nil
            }
        }, vxlan: vxlan)
        let outcome: Reconciler.Outcome
        do {
            outcome = try reconciler.apply(plan, vxlan: vxlan, known: vxlanEntries)
        } catch {
            vxlanEntries = nil
            throw error
        }
        vxlanEntries = outcome.refusals.isEmpty && vxlan != nil
            ? Reconciler.VXLANEntries(neighbours: plan.neighbours, forwarding: plan.forwarding) : nil
        return PassOutcome(added: outcome.added, removed: outcome.removed, routes: plan.routes.count,
                           refusals: outcome.refusals.merging(lookupRefusals) { $0 + $1 })
    }
}
