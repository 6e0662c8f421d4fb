#if canImport(Glibc)
import Glibc
#endif
import Addressing
import ClusterModel
import Netlink
import RouteNetlink

/// Makes the kernel hold what a `DataPathPlan` says, starting from what it holds now: the
/// routes tagged with podwire's protocol number, and the VXLAN device's neighbour and
/// forwarding entries. Whatever is there and not planned goes, so a peer that left while
/// the agent was down leaves nothing behind.
public struct Reconciler {
    public let socket: RouteSocket

    public init(socket: RouteSocket) {
        self.socket = socket
    }

    /// What one pass changed, and what the kernel refused, by the peer it was for ("" for an
    /// entry of no peer's, left from before), in the kernel's words.
    public struct Outcome: Equatable, Sendable {
        public var added = 0
        public var removed = 0
        public var refusals: [String: [String]] = [:]
        /// What went in, and what the kernel refused to take.
        public var routesAdded: [RouteEntry] = []
        public var entriesAdded: [Neighbour] = []
        public var refused: Set<RouteEntry> = []
        public var refusedEntries: Set<Neighbour> = []
    }

    /// What the kernel holds that the plan does not, and what it lacks: drift, for the CLI.
    public struct Drift: Equatable, Sendable {
        public var routes: Changes<RouteEntry>
        public var neighbours: Changes<Neighbour>
        public var forwarding: Changes<Neighbour>
        public var isEmpty: Bool { routes.isEmpty && neighbours.isEmpty && forwarding.isEmpty }
    }

    /// The VXLAN device's neighbour and forwarding entries.
    public struct VXLANEntries: Equatable, Sendable {
        public var neighbours: [Neighbour]
        public var forwarding: [Neighbour]
    }

    /// `known`, when given, stands for the VXLAN device's entries instead of a dump: the
    /// kernel's neighbour dump walks the entries of every namespace on the machine.
    public func drift(from plan: DataPathPlan, vxlan: Int32?,
                      known: VXLANEntries? = nil) throws(NetlinkError) -> Drift {
        let present = try socket.routes(family: .v4) + socket.routes(family: .v6)
        let ours = present.filter { $0.protocolNumber == RouteProtocol.podwire }
        var entries = VXLANEntries(neighbours: [], forwarding: [])
        if let known {
            entries = known
        } else if let vxlan {
            entries = VXLANEntries(neighbours: try socket.neighbours(.neighbour, link: vxlan),
                                   forwarding: try socket.neighbours(.forwarding, link: vxlan))
        }
        return Drift(routes: Changes(wanted: plan.routes, present: ours),
                     neighbours: Changes(wanted: plan.neighbours, present: entries.neighbours),
                     forwarding: Changes(wanted: plan.forwarding, present: entries.forwarding))
    }

    /// Makes every change the plan asks for, each on its own: one the kernel refuses is noted
    /// against its peer, and the rest of the plan still goes in.
    public func apply(_ plan: DataPathPlan, vxlan: Int32?, known: VXLANEntries? = nil) throws(NetlinkError) -> Outcome {
        let drift = try drift(from: plan, vxlan: vxlan, known: known)
        let routes = drift.routes, neighbours = drift.neighbours, forwarding = drift.forwarding
        var outcome = Outcome()
        func attempt(_ what: String, _ owner: String?, added: Bool, _ body: () throws(NetlinkError) -> Void) -> Bool {
            do {
                try body()
                if added { outcome.added += 1 } else { outcome.removed += 1 }
                return true
            } catch {
                outcome.refusals[owner ?? "", default: []].append("\(what): \(error)")
                return false
            }
        }
        // Neighbours first: a route through a VTEP works from the moment it is added.
        for entry in neighbours.add + forwarding.add {
            let owner = plan.entryOwners[entry]
            if attempt("add \(entry.kind) \(entry.address)", owner, added: true, { () throws(NetlinkError) in
                try socket.replaceNeighbour(entry)
            }) {
                outcome.entriesAdded.append(entry)
            } else {
                outcome.refusedEntries.insert(entry)
            }
        }
        for route in routes.remove {
            _ = attempt("delete route \(route.destination)", nil, added: false) { () throws(NetlinkError) in
                try socket.deleteRoute(route)
            }
        }
        for entry in neighbours.remove + forwarding.remove {
            _ = attempt("delete \(entry.kind) \(entry.address)", nil, added: false) { () throws(NetlinkError) in
                try socket.deleteNeighbour(entry)
            }
        }
        for route in routes.add {
            if attempt("add route \(route.destination)", plan.routeOwners[route], added: true, {
                () throws(NetlinkError) in try socket.addRoute(route)
            }) {
                outcome.routesAdded.append(route)
            } else {
                outcome.refused.insert(route)
            }
        }
        return outcome
    }

    /// The link leading to `address` when it is on that link (the route to it has no
    /// gateway): how `DataPathPlan.make` tells a direct peer from one behind a router.
    public func onLink(_ address: IPAddress) throws(NetlinkError) -> Int32? {
        guard let route = try socket.route(to: address), route.gateway == nil else { return nil }
        return route.linkIndex
    }
}

/// The node's VXLAN device: made once with the cluster's VNI and port over the underlay
/// link, carrying the node's VTEP MAC and VTEP addresses (its subnets' first addresses).
public struct VXLANEndpoint {
    public static let name = "podwire.vx"

    /// What is wrong with the device as it is (missing, other settings, an address missing or
    /// extra, down), against what `node` needs; nil when it is as wanted.
    public static func problem(socket: RouteSocket, node: NodeRecord, config: ClusterConfig,
                               underlay: Link) throws(NetlinkError) -> String? {
        guard let device = try socket.link(named: name) else { return "\(name) missing" }
        if try !matches(device, node: node, config: config, underlay: underlay) { return "\(name) made otherwise" }
        let changes = try addressChanges(socket: socket, device: device, node: node)
        if let address = changes.add.first { return "\(name) lacks its address \(address)" }
        if let address = changes.remove.first { return "\(name) has an extra address \(address)" }
        return device.isUp ? nil : "\(name) down"
    }

    /// The device's index, made or brought in line with what `node` needs, and what was wrong
    /// with it before (nil: nothing).
    public static func ensure(socket: RouteSocket, node: NodeRecord, config: ClusterConfig,
                              underlay: Link) throws(NetlinkError) -> (index: Int32, repaired: String?) {
        let local = node.address(.v4) ?? node.address(.v6)
        guard let local else { throw NetlinkError("create \(name): the node has no underlay address", errno: EINVAL) }
        let mtu = underlay.mtu - DataPathPlan.vxlanOverhead(underlay: local.family)
        var device = try socket.link(named: name)
        var repaired: String? = device == nil ? "\(name) missing" : nil
        if let existing = device, try !matches(existing, node: node, config: config, underlay: underlay) {
            // Made for another config, address or link (or by hand): made again rather than patched.
            try socket.deleteLink(named: name)
            device = nil
            repaired = "\(name) made otherwise"
        }
        if device == nil {
            try socket.addVXLAN(VXLANDevice(name: name, vni: config.vni, local: local, underlayIndex: underlay.index,
                                            port: config.port, mtu: mtu, mac: node.vtepMAC))
            device = try socket.link(named: name)
        }
        guard let device else { throw NetlinkError("create \(name)", errno: ENODEV) }
        let changes = try addressChanges(socket: socket, device: device, node: node)
        for address in changes.remove { try socket.deleteAddress(address, link: device.index) }
        for address in changes.add { try socket.addAddress(address, link: device.index) }
        if repaired == nil, let address = changes.add.first { repaired = "\(name) lacked its address \(address)" }
        if !device.isUp {
            try socket.setUp(link: device.index)
            repaired = repaired ?? "\(name) was down"
        }
        return (device.index, repaired)
    }

    private static func matches(_ device: Link, node: NodeRecord, config: ClusterConfig,
                                underlay: Link) throws(NetlinkError) -> Bool {
        guard let local = node.address(.v4) ?? node.address(.v6) else { return false }
        let mtu = underlay.mtu - DataPathPlan.vxlanOverhead(underlay: local.family)
        let wanted = Link.VXLANSettings(vni: config.vni, port: config.port, local: local,
                                        underlayIndex: underlay.index)
        return device.kind == "vxlan" && device.mac == node.vtepMAC && device.mtu == mtu && device.vxlan == wanted
    }

    /// The VTEP addresses (each subnet's first, as a host address) the device lacks or has extra.
    private static func addressChanges(socket: RouteSocket, device: Link,
                                       node: NodeRecord) throws(NetlinkError) -> Changes<IPNetwork> {
        let present = try socket.addresses(link: device.index)
        let addresses = node.subnets.map { subnet in
            IPNetwork(address: DataPathPlan.vtepAddress(of: subnet), prefixLength: subnet.family.bitWidth)!
        }
        return Changes(wanted: addresses, present: present.filter { $0.prefixLength == $0.family.bitWidth })
    }
}
