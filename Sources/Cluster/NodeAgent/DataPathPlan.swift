import Addressing
import ClusterModel
import RouteNetlink

/// What this node's kernel should hold so that its pods reach every peer's pods: a route per
/// peer subnet, tagged with podwire's protocol number, and for peers reached over VXLAN the
/// neighbour and forwarding entries that make the route work without learning.
public struct DataPathPlan: Equatable, Sendable {
    public var routes: [RouteEntry] = []
    public var neighbours: [Neighbour] = []
    public var forwarding: [Neighbour] = []
    /// How each peer is reached, for the CLI and the logs.
    public var paths: [String: Path] = [:]
    /// The peers on this node's link that the `bgp` backend's mesh opens sessions with.
    public var meshPeers: [NodeRecord] = []
    /// Whose each route and entry is: a refusal is that peer's problem, and no one else's.
    public var routeOwners: [RouteEntry: String] = [:]
    public var entryOwners: [Neighbour: String] = [:]

    public enum Path: String, Sendable {
        case direct, vxlan
        /// The routing daemon's BGP sessions carry the peer's subnets: podwire adds no route.
        case bgp
        /// Direct routes only were asked for, and the peer is not on-link.
        case unreachable
    }

    /// The plan for `node` among `peers`. `onLink` tells whether an underlay address is a
    /// neighbour of this node (a connected route without a gateway covers it); `underlay` is
    /// the index of the link that leads to it, and `vxlan` the index of the VXLAN device.
    public static func make(node: NodeRecord, peers: [NodeRecord], config: ClusterConfig,
                            onLink: (IPAddress) throws -> Int32?, vxlan: Int32?) rethrows -> DataPathPlan {
        var plan = DataPathPlan()
        let underlayFamily: IPAddress.Family = node.address(.v4) != nil ? .v4 : .v6
        for peer in peers.sorted(by: { $0.name < $1.name }) where peer.name != node.name {
            let peerUnderlay = peer.address(underlayFamily)
            let link = try peerUnderlay.flatMap(onLink)
            if let bgp = config.backend == .bgp ? config.bgp : nil {
                if bgp.mesh, link != nil { plan.meshPeers.append(peer) }
                if bgp.covers(node.name, peer.name, onLink: link != nil) {
                    plan.paths[peer.name] = .bgp
                    continue
                }
            }
            let direct = config.backend != .vxlan && link != nil
            if direct, let link {
                plan.paths[peer.name] = .direct
                for subnet in peer.subnets {
                    // A route to the peer's subnet of each family through its underlay address of
                    // that family; a family it has no underlay address in goes over VXLAN.
                    if let gateway = peer.address(subnet.family) {
                        let route = RouteEntry(destination: subnet, gateway: gateway, linkIndex: link,
                                               protocolNumber: RouteProtocol.podwire)
                        plan.routes.append(route)
                        plan.routeOwners[route] = peer.name
                    } else if let vxlan, let underlay = peerUnderlay {
                        plan.addVXLAN(peer: peer, subnet: subnet, underlay: underlay, device: vxlan)
                    }
                }
            } else if config.backend == .direct || vxlan == nil || peerUnderlay == nil {
                plan.paths[peer.name] = .unreachable
            } else if let vxlan, let underlay = peerUnderlay {
                plan.paths[peer.name] = .vxlan
                for subnet in peer.subnets {
                    plan.addVXLAN(peer: peer, subnet: subnet, underlay: underlay, device: vxlan)
                }
            }
        }
        return plan
    }

    /// The VTEP address of a node for one family: its subnet's first address, as flannel uses.
    public static func vtepAddress(of subnet: IPNetwork) -> IPAddress { subnet.first }

    private mutating func addVXLAN(peer: NodeRecord, subnet: IPNetwork, underlay: IPAddress, device: Int32) {
        let vtep = Self.vtepAddress(of: subnet)
        let route = RouteEntry(destination: subnet, gateway: vtep, linkIndex: device,
                               protocolNumber: RouteProtocol.podwire, onLink: true)
        routes.append(route)
        routeOwners[route] = peer.name
        let neighbour = Neighbour(.neighbour, link: device, address: vtep, mac: peer.vtepMAC)
        neighbours.append(neighbour)
        entryOwners[neighbour] = peer.name
        let entry = Neighbour(.forwarding, link: device, address: underlay, mac: peer.vtepMAC)
        if !forwarding.contains(entry) { forwarding.append(entry) }
        entryOwners[entry] = peer.name
    }

    /// The bytes VXLAN adds to each packet: outer IP, UDP, VXLAN and inner Ethernet headers.
    public static func vxlanOverhead(underlay family: IPAddress.Family) -> Int { family == .v4 ? 50 : 70 }
}

/// What to add and what to remove so that what is there becomes what is wanted.
public struct Changes<Item: Hashable & Sendable>: Equatable, Sendable {
    public var add: [Item]
    public var remove: [Item]

    public init(wanted: [Item], present: [Item]) {
        let presentSet = Set(present), wantedSet = Set(wanted)
        add = wanted.filter { !presentSet.contains($0) }
        remove = present.filter { !wantedSet.contains($0) }
    }

    public var isEmpty: Bool { add.isEmpty && remove.isEmpty }
}
