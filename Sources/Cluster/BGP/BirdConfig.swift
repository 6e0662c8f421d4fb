import Addressing
import ClusterModel

/// BIRD 2's config for one node: the node's subnets announced, what peers announce taken
/// only where etcd says a live peer holds it, learned routes put into the kernel. Protocols
/// have stable names and a fixed order, so that a reload after a peer joins changes only the
/// lines about that peer, and BIRD keeps every other session up.
public struct BirdConfig: Equatable, Sendable {
    public var text: String
    /// The sessions the config opens, in its order.
    public var sessions: [Session]
    /// Peers the config could not open a session with, and why.
    public var problems: [String]

    public struct Session: Equatable, Sendable {
        /// The BIRD protocol's name: `router_…` for a router, `mesh_…` for a node.
        public var name: String
        public var neighbour: IPAddress
        public var asn: UInt32
        /// The node's own address the session starts from.
        public var local: IPAddress
    }

    /// Seconds: hold and keepalive as data-centre routers use them (FRR's `datacenter`
    /// defaults); the first connection at once, not 5 s after start; a session that failed is
    /// tried again after 1 s, then at most every 30 s, not BIRD's default of a minute first.
    static let timers = "hold time 9; keepalive time 3; connect delay time 0; connect retry time 5; "
        + "error wait time 1, 30;"

    /// The config for `node`; `held` are the subnets of the peers etcd vouches for, `mesh` the
    /// peers on this node's link that the mesh joins (`DataPathPlan.meshPeers`); `onLink`
    /// tells whether an address is on one of this node's links: a router that is not gets no
    /// session, and is reported. `announce` false withdraws
    /// the node's subnets and keeps every session.
    public static func make(node: NodeRecord, config: ClusterConfig, settings: BGPSettings, held: [IPNetwork],
                            mesh: [NodeRecord], onLink: (IPAddress) -> Bool, logFile: String,
                            announce: Bool = true) -> BirdConfig {
        var lines = [
            "# podwire-node's BIRD config for \(node.name): written by podwire-node, not to be edited.",
            "router id \(routerID(node)); ",
            "log \"\(logFile)\" 1000000 \"\(logFile).1\" { info, remote, warning, error, auth, fatal, bug };",
        ]
        let restart = settings.gracefulRestart
        if restart > 0 { lines.append("graceful restart wait \(restart);") }
        lines += ["", "protocol device podwire_device {", "  scan time 10;", "}"]
        if settings.bfd { lines += ["", "protocol bfd podwire_bfd {", "}"] }
        for family in [IPAddress.Family.v4, .v6] {
            let digit = family.cniVersionDigit, channel = family == .v4 ? "ipv4" : "ipv6"
            guard let network = config.network(family) else { continue }
            let own = node.subnets.filter { $0.family == family }
            lines += ["", "protocol static podwire_subnets\(digit) {", "  \(channel);"]
            if announce { lines += own.map { "  route \($0) blackhole;" } }
            lines.append("}")
            // Only the subnets etcd says live peers hold: a route for anything else (a
            // default route, a longer prefix, this node's own subnet) is refused.
            let taken = held.filter { $0.family == family && network.contains($0.first) && !own.contains($0) }
            lines += ["", "filter podwire_import\(digit) {"]
            if !taken.isEmpty {
                lines.append("  if net ~ [ \(taken.map(\.description).joined(separator: ", ")) ] then accept;")
            }
            lines += ["  reject;", "}"]
            lines += ["", "protocol kernel podwire_kernel\(digit) {",
                      "  \(channel) { import none; export where source = RTS_BGP; };",
                      "  merge paths on;"]
            if restart > 0 { lines.append("  graceful restart on;") }
            lines.append("}")
        }
        lines += ["", "filter podwire_export {",
                  "  if proto = \"podwire_subnets4\" || proto = \"podwire_subnets6\" then accept;", "  reject;", "}"]
        var sessions: [Session] = [], problems: [String] = []
        let asn = settings.asn(of: node.name)
        var wanted: [(name: String, address: IPAddress, asn: UInt32, router: Bool)] = settings.peers(of: node.name)
            .map { ("router_" + protocolName(address: $0.address), $0.address, $0.asn, true) }
        for peer in mesh.sorted(by: { $0.name < $1.name }) {
            for address in peer.addresses {
                wanted.append(("mesh_" + protocolName(node: peer.name) + "_\(address.family.cniVersionDigit)", address,
                               settings.asn(of: peer.name), false))
            }
        }
        for peer in wanted where !sessions.contains(where: { $0.name == peer.name }) {
            guard let local = node.address(peer.address.family) else {
                problems.append("bgp peer \(peer.address): this node has no IPv\(peer.address.family.cniVersionDigit) "
                                + "underlay address")
                continue
            }
            guard config.network(peer.address.family) != nil else {
                problems.append("bgp peer \(peer.address): the cluster has no IPv"
                                + "\(peer.address.family.cniVersionDigit) network to announce")
                continue
            }
            // A learned route's next hop is used as it is, on the link: BIRD's table holds no
            // routes of the underlay to resolve one further away (a router of the data centre
            // is the node's neighbour, as a top-of-rack switch is).
            guard onLink(peer.address) else {
                problems.append("bgp peer \(peer.address): not on this node's link (only neighbours are peered with)")
                continue
            }
            let session = Session(name: peer.name, neighbour: peer.address, asn: peer.asn, local: local)
            sessions.append(session)
            let digit = peer.address.family.cniVersionDigit
            lines += ["", "protocol bgp \(session.name) {",
                      "  local \(local) as \(asn);",
                      "  neighbor \(peer.address) as \(peer.asn);",
                      "  direct;",
                      "  \(timers)"]
            lines.append(restart > 0 ? "  graceful restart on; graceful restart time \(restart);"
                                     : "  graceful restart off;")
            if settings.bfd { lines.append("  bfd on;") }
            // A router passes one node's routes to the next with the cluster's AS in their path,
            // which BGP's loop check would refuse; the import filter, which takes only subnets
            // etcd gives to live peers, keeps loops out instead.
            if peer.router { lines.append("  allow local as;") }
            lines += ["  \(peer.address.family == .v4 ? "ipv4" : "ipv6") {",
                      "    import filter podwire_import\(digit);", "    export filter podwire_export;",
                      // The subnets are blackholes in BIRD's table: over iBGP, as over eBGP,
                      // the next hop a peer gets must be this node.
                      "    next hop self;", "    gateway direct;",
                      "  };", "}"]
        }
        return BirdConfig(text: lines.joined(separator: "\n") + "\n", sessions: sessions, problems: problems)
    }

    /// BIRD wants an IPv4-shaped router ID: the node's IPv4 underlay address, or one derived
    /// from its name when it has none.
    static func routerID(_ node: NodeRecord) -> String {
        if let address = node.address(.v4) { return "\(address)" }
        let hash = fnv1a(node.name) | 1
        return "\(hash >> 24).\(hash >> 16 & 255).\(hash >> 8 & 255).\(hash & 255)"
    }

    /// An address in a BIRD protocol name (letters, digits and `_`): `.` and `:` become `_`,
    /// which keeps addresses apart (only IPv6 has `__`, or eight groups).
    static func protocolName(address: IPAddress) -> String {
        String(address.description.map { $0 == "." || $0 == ":" ? "_" : $0 })
    }

    /// A node's name in a BIRD protocol name (at most 64 bytes): a name changed to fit, whose
    /// `-` and `.` became `_` or that was cut short, carries a hash of itself, so two never meet.
    static func protocolName(node name: String) -> String {
        let kept = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        guard kept != name || kept.count > 40 else { return kept }
        let hex = String(fnv1a(name), radix: 16)
        return kept.prefix(40) + "_" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// FNV-1a, 32 bits: stable across builds and machines, as a config's names must be.
    static func fnv1a(_ text: String) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in text.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return hash
    }
}
