import Addressing
import JSON

/// How nodes announce their subnets over BGP when the cluster's backend is `bgp`: the cluster's
/// AS number (a node may have its own), the routers each node peers with, whether nodes on one
/// link also peer with each other, graceful restart and BFD. A routing daemon on the node
/// speaks BGP; podwire-node writes its config.
public struct BGPSettings: Equatable, Sendable {
    public var asn: UInt32
    /// A node's own AS number, by node name, in place of the cluster's.
    public var nodeASN: [String: UInt32]
    public var peers: [Peer]
    /// Nodes on one link peer with each other (iBGP, or eBGP between nodes of other AS numbers).
    public var mesh: Bool
    /// Seconds a peer keeps a restarting node's routes; 0 turns graceful restart off.
    public var gracefulRestart: Int
    public var bfd: Bool

    /// A router to peer with: every node's when `node` is nil, else only that node's.
    public struct Peer: Equatable, Hashable, Sendable {
        public var address: IPAddress
        public var asn: UInt32
        public var node: String?

        public init(address: IPAddress, asn: UInt32, node: String? = nil) {
            self.address = address
            self.asn = asn
            self.node = node
        }
    }

    public init(asn: UInt32, nodeASN: [String: UInt32] = [:], peers: [Peer] = [], mesh: Bool = false,
                gracefulRestart: Int = 120, bfd: Bool = false) {
        self.asn = asn
        self.nodeASN = nodeASN
        self.peers = peers
        self.mesh = mesh
        self.gracefulRestart = gracefulRestart
        self.bfd = bfd
    }

    public func asn(of node: String) -> UInt32 { nodeASN[node] ?? asn }

    /// The routers `node` peers with, cluster-wide ones first, in the config's order.
    public func peers(of node: String) -> [Peer] {
        peers.filter { $0.node == nil } + peers.filter { $0.node == node }
    }


    /// Whether BGP carries `peer`'s subnets to `node`: both peer with routers, or the mesh
    /// joins them on one link. Any other peer is routed by podwire itself, directly or over
    /// VXLAN, as the `auto` backend does.
    public func covers(_ node: String, _ peer: String, onLink: Bool) -> Bool {
        (!peers(of: node).isEmpty && !peers(of: peer).isEmpty) || (mesh && onLink)
    }

    static let keys = ["asn", "bfd", "gracefulRestart", "mesh", "nodeASN", "peers"]
    /// 0 and 65535 and 4294967295 are reserved (RFC 7607, RFC 7300); 23456 is AS_TRANS.
    static func asnProblem(_ number: Double) -> Bool {
        number.rounded() != number || number < 1 || number > 4_294_967_294 || number == 65535 || number == 23456
    }

    /// Reads and checks the config's `bgp` object; every problem is named.
    public init(json value: JSONValue) throws(ClusterError) {
        guard case .object(let members) = value else { throw .invalid("cluster config: bgp must be an object") }
        if let unknown = members.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw .invalid("cluster config: bgp: unknown key \"\(unknown.prefix(64))\" (known: "
                           + Self.keys.joined(separator: ", ") + ")")
        }
        func asn(_ value: JSONValue?, _ what: String) throws(ClusterError) -> UInt32 {
            guard case .number(let number)? = value, !Self.asnProblem(number) else {
                throw .invalid("cluster config: \(what) must be an AS number from 1 to 4294967294 "
                               + "(not 23456 or 65535)")
            }
            return UInt32(number)
        }
        func flag(_ key: String) throws(ClusterError) -> Bool? {
            guard let value = members[key] else { return nil }
            guard case .bool(let flag) = value else {
                throw .invalid("cluster config: bgp.\(key) must be true or false")
            }
            return flag
        }
        var nodeASN: [String: UInt32] = [:]
        if let value = members["nodeASN"] {
            guard case .object(let entries) = value else {
                throw .invalid("cluster config: bgp.nodeASN must be an object of node names and AS numbers")
            }
            for (node, number) in entries {
                guard NodeRecord.isValidName(node) else {
                    throw .invalid("cluster config: bgp.nodeASN: \"\(node.prefix(64))\" is not a node name")
                }
                nodeASN[node] = try asn(number, "bgp.nodeASN.\(node)")
            }
        }
        var peers: [Peer] = []
        if let value = members["peers"] {
            guard let items = value.arrayValue else { throw .invalid("cluster config: bgp.peers must be a list") }
            for (index, item) in items.enumerated() {
                let what = "bgp.peers[\(index)]"
                guard case .object(let fields) = item else {
                    throw .invalid("cluster config: \(what) must be an object")
                }
                if let unknown = fields.keys.sorted().first(where: { !["address", "asn", "node"].contains($0) }) {
                    throw .invalid("cluster config: \(what): unknown key \"\(unknown.prefix(64))\" "
                                   + "(known: address, asn, node)")
                }
                guard let text = fields["address"]?.stringValue, let address = IPAddress(text) else {
                    throw .invalid("cluster config: \(what).address must be an IP address")
                }
                if let problem = AddressRules.addressProblem(address) {
                    throw .invalid("cluster config: \(what).address: \(problem)")
                }
                var node: String?
                if let value = fields["node"] {
                    guard let name = value.stringValue, NodeRecord.isValidName(name) else {
                        throw .invalid("cluster config: \(what).node must be a node name")
                    }
                    node = name
                }
                let peer = Peer(address: address, asn: try asn(fields["asn"], "\(what).asn"), node: node)
                guard !peers.contains(where: { $0.address == address && $0.node == node }) else {
                    throw .invalid("cluster config: \(what): \(address) is listed twice")
                }
                peers.append(peer)
            }
        }
        let restart: Int
        switch members["gracefulRestart"] {
        case nil: restart = 120
        case .number(let seconds)? where seconds.rounded() == seconds && seconds >= 0 && seconds <= 4095:
            restart = Int(seconds)
        default: throw .invalid("cluster config: bgp.gracefulRestart must be seconds from 0 (off) to 4095")
        }
        let mesh = try flag("mesh") ?? false
        guard !peers.isEmpty || mesh else {
            throw .invalid("cluster config: bgp needs peers, or mesh: true, or both")
        }
        self.init(asn: try asn(members["asn"], "bgp.asn"), nodeASN: nodeASN, peers: peers, mesh: mesh,
                  gracefulRestart: restart, bfd: try flag("bfd") ?? false)
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = [
            "asn": .number(Double(asn)), "mesh": .bool(mesh), "gracefulRestart": .number(Double(gracefulRestart)),
            "bfd": .bool(bfd),
            "peers": .array(peers.map { peer in
                var fields: [String: JSONValue] = ["address": .string("\(peer.address)"),
                                                   "asn": .number(Double(peer.asn))]
                if let node = peer.node { fields["node"] = .string(node) }
                return .object(fields)
            }),
        ]
        if !nodeASN.isEmpty { members["nodeASN"] = .object(nodeASN.mapValues { .number(Double($0)) }) }
        return .object(members)
    }
}
