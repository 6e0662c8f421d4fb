#if canImport(Glibc)
import Glibc
#endif
import Addressing
import BGP
import ClusterModel
import Namespaces
import Netlink
import RouteNetlink
import Syscall

/// What the node agent asks of the kernel, behind a protocol so that its logic runs in unit
/// tests without root. Calls block; the agent makes them off Swift's cooperative pool.
public protocol DataPath: Sendable {
    /// Routes `node`'s pods to every one of `peers` (already judged sound) and removes the
    /// rest of podwire's entries. Throws only when nothing could be done (the kernel cannot
    /// be read); a refusal of one entry is in the outcome, against its peer. `refresh` asks
    /// that nothing learnt from the kernel in an earlier pass be reused.
    func apply(node: NodeRecord, peers: [NodeRecord], config: ClusterConfig, refresh: Bool) throws -> PassOutcome
    /// Stops announcing the node's subnets to its BGP peers, keeping the sessions: the node's
    /// record is gone, so its subnets are no longer its own.
    func withdraw()
}

extension DataPath {
    public func withdraw() {}
}

/// What one pass did.
public struct PassOutcome: Equatable, Sendable {
    public var added = 0
    public var removed = 0
    public var routes = 0
    /// What the kernel refused, by peer ("" for entries left from before), in its words.
    public var refusals: [String: [String]] = [:]
    /// What was put back because something else had removed it, by kind ("route",
    /// "neighbour", "forwarding", "vxlan device"): each entry named.
    public var repairs: [String: [String]] = [:]
    public var isQuiet: Bool { added == 0 && removed == 0 && repairs.isEmpty }

    public init(added: Int = 0, removed: Int = 0, routes: Int = 0, refusals: [String: [String]] = [:],
                repairs: [String: [String]] = [:]) {
        self.added = added
        self.removed = removed
        self.routes = routes
        self.refusals = refusals
        self.repairs = repairs
    }
}

/// The data path in this node's kernel, through the netlink core.
public final class KernelDataPath: DataPath, @unchecked Sendable {
    // One pass at a time runs on the agent's single pool thread: the socket is never shared.
    private let socket: RouteSocket
    /// What the VXLAN device is made from; nil when the cluster routes directly only.
    private let device: (node: NodeRecord, config: ClusterConfig, underlay: String)?
    /// The conflist the runtime reads, and what it holds: written again when it differs.
    private let conflist: (path: String, content: String)?
    /// What the node's pods need outside their netns, put back on every refresh.
    private let pods: PodState?
    private var vxlan: Int32?
    /// Which link leads to each peer's underlay address, as last looked up: a watch event
    /// about one peer then costs one lookup, not one per peer. Forgotten on every other
    /// trigger (a link event, the timer's listing, SIGHUP, a retry).
    private var onLink: [IPAddress: Int32?] = [:]
    /// The VXLAN device's entries after the last pass the kernel took in full: then they are
    /// the plan's. A watch event then costs no neighbour dump; every other trigger dumps.
    private var vxlanEntries: Reconciler.VXLANEntries?
    /// What the kernel took of the last pass's plan: an entry of it found missing later was
    /// removed by something else, and putting it back is a repair.
    /// nil before the first pass: what that pass writes (forwarding, the conflist) is set-up,
    /// not a repair.
    private var held: (routes: Set<RouteEntry>, entries: Set<Neighbour>)?
    /// The node's BIRD, with the `bgp` backend; and what its last config was made from, to
    /// make it again without the node's subnets.
    private let bird: Bird?
    private var birdInput: BirdInput?
    private typealias BirdInput = (node: NodeRecord, config: ClusterConfig, settings: BGPSettings,
                                   held: [IPNetwork], mesh: [NodeRecord], onLink: Set<IPAddress>)

    /// `vxlan`, the VXLAN device as `VXLANEndpoint.ensure` made it for `node`; nil when the
    /// cluster routes directly only. A refresh makes the device again if it went, and the
    /// conflist if it went or was changed.
    public init(socket: RouteSocket, node: NodeRecord, config: ClusterConfig, underlay: String, vxlan: Int32?,
                conflist: (path: String, content: String)? = nil, pods: PodState? = nil, bird: Bird? = nil) {
        self.socket = socket
        self.bird = bird
        self.device = vxlan == nil ? nil : (node, config, underlay)
        self.vxlan = vxlan
        self.conflist = conflist
        self.pods = pods
    }

    public func apply(node: NodeRecord, peers: [NodeRecord], config: ClusterConfig,
                      refresh: Bool) throws -> PassOutcome {
        let reconciler = Reconciler(socket: socket)
        var otherRefusals: [String: [String]] = [:]
        var repairs: [String: [String]] = [:]
        if refresh {
            onLink = [:]
            vxlanEntries = nil
            // Pods' traffic to peers is forwarded, whatever turned forwarding off since.
            for family in Set(config.networks.map(\.family)) {
                let path = Sysctl.forwarding(ipv6: family == .v6)
                do {
                    if try Sysctl.ensure(path, is: "1"), held != nil { repairs["sysctl", default: []].append(path) }
                } catch {
                    otherRefusals["", default: []].append("set \(path) to 1: \(error)")
                }
            }
            if let conflist {
                do {
                    if try Syscall.replaceFile(conflist.path, with: conflist.content), held != nil {
                        repairs["conflist", default: []].append(conflist.path)
                    }
                } catch {
                    otherRefusals["", default: []].append("write \(conflist.path): \(error)")
                }
            }
            if let device {
                guard let underlay = try socket.link(named: device.underlay) else {
                    throw NetlinkError("find the underlay \(device.underlay)", errno: ENODEV)
                }
                let made = try VXLANEndpoint.ensure(socket: socket, node: device.node, config: device.config,
                                                    underlay: underlay)
                if let problem = made.repaired { repairs["vxlan device", default: []].append(problem) }
                vxlan = made.index
                do {
                    if try Untracked.ensure(port: device.config.port) {
                        repairs["nftables", default: []].append("inet \(Untracked.table)")
                    }
                } catch {
                    otherRefusals["", default: []].append("declare nftables table inet \(Untracked.table): \(error)")
                }
            }
            if let pods {
                let restored = pods.restore()
                repairs.merge(restored.repairs) { $0 + $1 }
                if !restored.problems.isEmpty { otherRefusals["", default: []] += restored.problems }
            }
        }
        // A peer whose address cannot be looked up is that peer's problem: it is planned as not
        // on-link, and the lookup's error is shown against it.
        func lookUp(_ address: IPAddress) -> Int32? {
            if let known = onLink[address] { return known }
            do {
                let link = try reconciler.onLink(address)
                onLink[address] = link
                return link
            } catch {
                let owner = peers.first { $0.addresses.contains(address) }?.name ?? ""
                otherRefusals[owner, default: []].append("look up \(address): \(error)")
                return nil
            }
        }
        let plan = DataPathPlan.make(node: node, peers: peers, config: config, onLink: lookUp, vxlan: vxlan)
        let outcome: Reconciler.Outcome
        do {
            outcome = try reconciler.apply(plan, vxlan: vxlan, known: vxlanEntries)
        } catch {
            vxlanEntries = nil
            throw error
        }
        if let held {
            for route in outcome.routesAdded where held.routes.contains(route) {
                repairs["route", default: []].append("\(route.destination)")
            }
            for entry in outcome.entriesAdded where held.entries.contains(entry) {
                repairs[entry.kind == .neighbour ? "neighbour" : "forwarding", default: []]
                    .append("\(entry.address) \(entry.mac)")
            }
        }
        if let bird, let settings = config.bgp {
            let neighbours = (settings.peers(of: node.name).map(\.address) + plan.meshPeers.flatMap(\.addresses))
                .filter { lookUp($0) != nil }
            let input: BirdInput = (node, config, settings,
                                    peers.filter { plan.paths[$0.name] == .bgp }.flatMap(\.subnets), plan.meshPeers,
                                    Set(neighbours))
            birdInput = input
            let (done, problems) = Self.configure(bird, input, announce: true)
            if !problems.isEmpty { otherRefusals["", default: []] += problems }
            // BIRD started on the first pass is set-up; on a later one, it had gone.
            if done == .started, held != nil { repairs["bgp daemon", default: []].append(bird.socketPath) }
        }
        vxlanEntries = outcome.refusals.isEmpty && vxlan != nil
            ? Reconciler.VXLANEntries(neighbours: plan.neighbours, forwarding: plan.forwarding) : nil
        held = (Set(plan.routes).subtracting(outcome.refused),
                Set(plan.neighbours + plan.forwarding).subtracting(outcome.refusedEntries))
        return PassOutcome(added: outcome.added, removed: outcome.removed, routes: plan.routes.count,
                           refusals: outcome.refusals.merging(otherRefusals) { $0 + $1 }, repairs: repairs)
    }

    public func withdraw() {
        guard let bird, let birdInput else { return }
        _ = Self.configure(bird, birdInput, announce: false)
    }

    /// BIRD's config made from `input` and applied: what BIRD did, and the problems met.
    private static func configure(_ bird: Bird, _ input: BirdInput, announce: Bool) -> (Bird.Outcome?, [String]) {
        let config = BirdConfig.make(node: input.node, config: input.config, settings: input.settings,
                                     held: input.held, mesh: input.mesh, onLink: input.onLink.contains,
                                     logFile: bird.logPath, announce: announce)
        do {
            return (try bird.apply(config.text, recover: input.settings.gracefulRestart > 0), config.problems)
        } catch {
            return (nil, config.problems + ["bgp: \(error)"])
        }
    }
}
