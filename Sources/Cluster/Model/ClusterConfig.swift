import Addressing
import JSON

/// The cluster's own settings, one document for every node (`/podwire/config` in etcd): the
/// pod networks, how large a node's share of each is, and how nodes reach each other.
public struct ClusterConfig: Equatable, Sendable {
    /// The cluster CIDRs: at most one IPv4 and one IPv6 network.
    public var networks: [IPNetwork]
    /// The prefix length of a node's subnet, per family.
    public var subnetLength4: Int
    public var subnetLength6: Int
    public var backend: Backend
    /// The VXLAN network identifier and UDP port nodes that are not neighbours use.
    public var vni: UInt32
    public var port: UInt16
    /// The `bgp` backend's settings; nil for every other backend.
    public var bgp: BGPSettings?
    /// Whether pods' traffic leaving the cluster is masqueraded to the node's address, per
    /// family (Calico's natOutgoing). With `bgp`, routers may route pods' own addresses.
    public var natOutgoing4: Bool
    public var natOutgoing6: Bool

    public enum Backend: String, Sendable {
        /// A direct route to a peer on the same link, VXLAN to any other (flannel's DirectRouting).
        case auto
        /// Direct routes only: a peer that is not on-link is reported, not reached.
        case direct
        /// VXLAN to every peer.
        case vxlan
        /// Subnets announced over BGP by a routing daemon on each node (`bgp`); peers it does
        /// not reach are routed as `auto` routes them.
        case bgp
    }

    public init(networks: [IPNetwork], subnetLength4: Int = 24, subnetLength6: Int = 64, backend: Backend = .auto,
                vni: UInt32 = 4096, port: UInt16 = 4789, bgp: BGPSettings? = nil, natOutgoing4: Bool = true,
                natOutgoing6: Bool = true) {
        self.networks = networks
        self.subnetLength4 = subnetLength4
        self.subnetLength6 = subnetLength6
        self.backend = backend
        self.vni = vni
        self.port = port
        self.bgp = bgp
        self.natOutgoing4 = natOutgoing4
        self.natOutgoing6 = natOutgoing6
    }

    public func natOutgoing(_ family: IPAddress.Family) -> Bool { family == .v4 ? natOutgoing4 : natOutgoing6 }

    /// Whether nodes make the VXLAN device: some peer may be routed over it. With `bgp`, only
    /// for a mesh without routers, whose sessions join one link: peers off it go over VXLAN.
    /// With routers, a peer that BGP does not cover is routed directly if on-link, else not.
    public var usesVXLAN: Bool {
        switch backend {
        case .direct: false
        case .auto, .vxlan: true
        case .bgp: bgp?.peers.isEmpty ?? true
        }
    }

    public func subnetLength(_ family: IPAddress.Family) -> Int { family == .v4 ? subnetLength4 : subnetLength6 }

    public func network(_ family: IPAddress.Family) -> IPNetwork? { networks.first { $0.family == family } }

    /// Reads and checks the document; every problem is named.
    public init(json bytes: some Collection<UInt8>) throws(ClusterError) {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw .invalid("cluster config: \(error)")
        }
        guard case .object(let members) = document else { throw .invalid("cluster config: must be an object") }
        if let unknown = members.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw .invalid("cluster config: unknown key \"\(unknown.prefix(64))\" (known: "
                           + Self.keys.joined(separator: ", ") + ")")
        }
        func string(_ key: String) throws(ClusterError) -> String? {
            guard let value = document[key] else { return nil }
            guard let text = value.stringValue else { throw .invalid("cluster config: \(key) must be a string") }
            return text
        }
        func integer(_ key: String, in range: ClosedRange<Int>) throws(ClusterError) -> Int? {
            guard let value = document[key] else { return nil }
            // Compared as doubles first: a number such as 1e300 has no Int.
            guard case .number(let number) = value, number.rounded() == number,
                  number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
                throw .invalid("cluster config: \(key) must be a whole number from \(range.lowerBound) to "
                               + "\(range.upperBound)")
            }
            return Int(number)
        }
        var networks: [IPNetwork] = []
        for key in ["network4", "network6"] {
            guard let text = try string(key) else { continue }
            guard let network = IPNetwork(text), network.isNetworkAddress,
                  network.family == (key == "network4" ? .v4 : .v6) else {
                throw .invalid("cluster config: \(key) \"\(text.prefix(64))\" is not an "
                               + "\(key == "network4" ? "IPv4" : "IPv6") network address/prefix")
            }
            if let problem = AddressRules.networkProblem(network) {
                throw .invalid("cluster config: \(key) \(problem)")
            }
            networks.append(network)
        }
        guard !networks.isEmpty else { throw .invalid("cluster config: network4 or network6 is needed") }
        let backendText = try string("backend") ?? "auto"
        guard let backend = Backend(rawValue: backendText) else {
            throw .invalid("cluster config: backend \"\(backendText.prefix(32))\" is not auto, direct, vxlan or bgp")
        }
        var bgp: BGPSettings?
        if let value = document["bgp"] { bgp = try BGPSettings(json: value) }
        if backend == .bgp, bgp == nil { throw .invalid("cluster config: backend bgp needs a bgp object") }
        if backend != .bgp, bgp != nil { throw .invalid("cluster config: bgp is set, but backend is not bgp") }
        func flag(_ key: String) throws(ClusterError) -> Bool {
            guard let value = document[key] else { return true }
            guard case .bool(let flag) = value else { throw .invalid("cluster config: \(key) must be true or false") }
            return flag
        }
        self.init(networks: networks,
                  subnetLength4: try integer("subnetLength4", in: 8...30) ?? 24,
                  subnetLength6: try integer("subnetLength6", in: 48...120) ?? 64,
                  backend: backend,
                  vni: UInt32(try integer("vni", in: 1...16_777_215) ?? 4096),
                  port: UInt16(try integer("port", in: 1...65535) ?? 4789),
                  bgp: bgp, natOutgoing4: try flag("natOutgoing4"), natOutgoing6: try flag("natOutgoing6"))
        for network in networks where subnetLength(network.family) < network.prefixLength {
            throw .invalid("cluster config: subnetLength\(network.family.cniVersionDigit) "
                           + "\(subnetLength(network.family)) is shorter than \(network)'s prefix")
        }
    }

    static let keys = ["backend", "bgp", "natOutgoing4", "natOutgoing6", "network4", "network6", "port",
                       "subnetLength4", "subnetLength6", "vni"]

    /// Why `subnet` cannot be a node's: nil when it lies inside the cluster network of its
    /// family and has that family's configured length.
    public func subnetProblem(_ subnet: IPNetwork) -> String? {
        guard let network = network(subnet.family) else {
            return "\(subnet): the cluster has no IPv\(subnet.family.cniVersionDigit) network"
        }
        guard subnet.isNetworkAddress, network.contains(subnet.first), network.contains(subnet.last) else {
            return "\(subnet) is not inside the cluster network \(network)"
        }
        guard subnet.prefixLength == subnetLength(subnet.family) else {
            return "\(subnet) is not a /\(subnetLength(subnet.family)), the cluster's subnet length"
        }
        return nil
    }

    public var json: String {
        var members: [String: JSONValue] = [
            "subnetLength4": .number(Double(subnetLength4)), "subnetLength6": .number(Double(subnetLength6)),
            "backend": .string(backend.rawValue), "vni": .number(Double(vni)), "port": .number(Double(port)),
        ]
        for network in networks { members["network\(network.family.cniVersionDigit)"] = .string("\(network)") }
        if let bgp { members["bgp"] = bgp.json }
        if !natOutgoing4 { members["natOutgoing4"] = .bool(false) }
        if !natOutgoing6 { members["natOutgoing6"] = .bool(false) }
        return String(decoding: JSONWriter.write(.object(members)), as: UTF8.self)
    }
}

/// What is wrong with the cluster's state or with a request about it.
public enum ClusterError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    /// Every subnet of the network is held by some node.
    case exhausted(IPNetwork)

    public var description: String {
        switch self {
        case let .invalid(why): why
        case let .exhausted(network): "every subnet of \(network) is held by a node"
        }
    }
}
