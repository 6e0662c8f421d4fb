import Addressing

/// What an ADD produced, independent of the version it is printed in.
public struct CNIResult: Equatable, Sendable {
    public struct Interface: Equatable, Sendable {
        public var name: String
        public var mac: String?
        public var mtu: Int?
        public var sandbox: String?
        public var socketPath: String?
        public var pciID: String?

        public init(name: String, mac: String? = nil, mtu: Int? = nil, sandbox: String? = nil,
                    socketPath: String? = nil, pciID: String? = nil) {
            self.name = name
            self.mac = mac
            self.mtu = mtu
            self.sandbox = sandbox
            self.socketPath = socketPath
            self.pciID = pciID
        }
    }

    public struct IPConfig: Equatable, Sendable {
        public var address: IPNetwork
        public var gateway: IPAddress?
        /// Index into `interfaces`.
        public var interface: Int?

        public init(address: IPNetwork, gateway: IPAddress? = nil, interface: Int? = nil) {
            self.address = address
            self.gateway = gateway
            self.interface = interface
        }
    }

    public struct Route: Equatable, Sendable {
        public var dst: IPNetwork
        public var gw: IPAddress?
        public var mtu: Int?
        public var advmss: Int?
        public var priority: Int?
        public var table: Int?
        public var scope: Int?

        public init(dst: IPNetwork, gw: IPAddress? = nil, mtu: Int? = nil, advmss: Int? = nil,
                    priority: Int? = nil, table: Int? = nil, scope: Int? = nil) {
            self.dst = dst
            self.gw = gw
            self.mtu = mtu
            self.advmss = advmss
            self.priority = priority
            self.table = table
            self.scope = scope
        }
    }

    public var interfaces: [Interface]
    public var ips: [IPConfig]
    public var routes: [Route]
    public var dns: DNS

    public init(interfaces: [Interface] = [], ips: [IPConfig] = [], routes: [Route] = [], dns: DNS = DNS()) {
        self.interfaces = interfaces
        self.ips = ips
        self.routes = routes
        self.dns = dns
    }
}

// MARK: - Wire format

/// The result as it travels: one Codable shape that reads every supported version (the
/// fields of older versions are a subset, plus `ips[].version`) and writes any of them.
struct ResultWire: Codable {
    struct Interface: Codable {
        var name: String
        var mac: String?
        var mtu: Int?
        var sandbox: String?
        var socketPath: String?
        var pciID: String?
    }

    struct IP: Codable {
        var version: String?
        var address: String
        var gateway: String?
        var interface: Int?
    }

    var cniVersion: String?
    var interfaces: [Interface]?
    var ips: [IP]?
    var routes: [CNIResult.Route]?
    var dns: DNS?
}

extension CNIResult {
    /// The result JSON for `version`: fields the version does not have are left out, and
    /// empty lists are omitted as the reference plugins omit them.
    public func encoded(as version: CNIVersion) -> [UInt8] {
        let extended = version.hasExtendedFields
        let wire = ResultWire(
            cniVersion: version.rawValue,
            interfaces: interfaces.isEmpty ? nil : interfaces.map {
                ResultWire.Interface(name: $0.name, mac: $0.mac, mtu: extended ? $0.mtu : nil, sandbox: $0.sandbox,
                                     socketPath: extended ? $0.socketPath : nil, pciID: extended ? $0.pciID : nil)
            },
            ips: ips.isEmpty ? nil : ips.map {
                ResultWire.IP(version: version.ipsCarryVersion ? $0.address.family.cniVersionDigit : nil,
                              address: $0.address.description, gateway: $0.gateway?.description, interface: $0.interface)
            },
            routes: routes.isEmpty ? nil : routes.map {
                extended ? $0 : CNIResult.Route(dst: $0.dst, gw: $0.gw)
            },
            dns: dns)
        return JSON.encode(wire)
    }

    /// Reads a result of any supported version (a `prevResult`, or a delegate's output).
    public init(decoding bytes: some Collection<UInt8>, what: String) throws(CNIError) {
        let wire = try JSON.decode(ResultWire.self, from: bytes, what: what)
        try self.init(wire: wire, what: what)
    }

    /// Reads a result already parsed as part of a larger document (`prevResult`).
    public init(_ value: JSONValue, what: String) throws(CNIError) {
        try self.init(decoding: JSON.encode(value), what: what)
    }

    init(wire: ResultWire, what: String) throws(CNIError) {
        if let version = wire.cniVersion, !version.isEmpty { _ = try CNIVersion.parse(version) }
        let interfaces = (wire.interfaces ?? []).map {
            Interface(name: $0.name, mac: $0.mac, mtu: $0.mtu, sandbox: $0.sandbox,
                      socketPath: $0.socketPath, pciID: $0.pciID)
        }
        var ips: [IPConfig] = []
        for (index, ip) in (wire.ips ?? []).enumerated() {
            guard let address = IPNetwork(ip.address) else {
                throw CNIError(CNIError.decodingFailure, "invalid \(what): ips[\(index)].address \"\(ip.address.prefix(64))\" is not an address/prefix")
            }
            var gateway: IPAddress?
            if let text = ip.gateway {
                guard let parsed = IPAddress(text), parsed.family == address.family else {
                    throw CNIError(CNIError.decodingFailure, "invalid \(what): ips[\(index)].gateway \"\(text.prefix(64))\" is not an address of the same family")
                }
                gateway = parsed
            }
            if let slot = ip.interface, !interfaces.indices.contains(slot) {
                throw CNIError(CNIError.decodingFailure, "invalid \(what): ips[\(index)].interface \(slot) is not an index into interfaces")
            }
            ips.append(IPConfig(address: address, gateway: gateway, interface: ip.interface))
        }
        self.init(interfaces: interfaces, ips: ips, routes: wire.routes ?? [], dns: wire.dns ?? DNS())
    }
}

/// A route as configs and results write it: `{"dst": "0.0.0.0/0", "gw": "10.0.0.1", …}`.
extension CNIResult.Route: Codable {
    private enum CodingKeys: String, CodingKey { case dst, gw, mtu, advmss, priority, table, scope }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let dstText = try container.decode(String.self, forKey: .dst)
        guard let dst = IPNetwork(dstText) else {
            throw DecodingError.dataCorruptedError(forKey: .dst, in: container,
                debugDescription: "\"\(dstText.prefix(64))\" is not an address/prefix")
        }
        var gw: IPAddress?
        if let gwText = try container.decodeIfPresent(String.self, forKey: .gw), !gwText.isEmpty {
            guard let parsed = IPAddress(gwText), parsed.family == dst.family else {
                throw DecodingError.dataCorruptedError(forKey: .gw, in: container,
                    debugDescription: "\"\(gwText.prefix(64))\" is not an address of the same family as dst")
            }
            gw = parsed
        }
        self.init(dst: dst, gw: gw,
                  mtu: try container.decodeIfPresent(Int.self, forKey: .mtu),
                  advmss: try container.decodeIfPresent(Int.self, forKey: .advmss),
                  priority: try container.decodeIfPresent(Int.self, forKey: .priority),
                  table: try container.decodeIfPresent(Int.self, forKey: .table),
                  scope: try container.decodeIfPresent(Int.self, forKey: .scope))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dst.description, forKey: .dst)
        try container.encodeIfPresent(gw?.description, forKey: .gw)
        try container.encodeIfPresent(mtu, forKey: .mtu)
        try container.encodeIfPresent(advmss, forKey: .advmss)
        try container.encodeIfPresent(priority, forKey: .priority)
        try container.encodeIfPresent(table, forKey: .table)
        try container.encodeIfPresent(scope, forKey: .scope)
    }
}
