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

extension CNIResult {
    /// The result JSON for `version`: fields the version does not have are left out, and
    /// empty lists are omitted as the reference plugins omit them.
    public func encoded(as version: CNIVersion) -> [UInt8] {
        JSONWriter.write(json(as: version))
    }

    public func json(as version: CNIVersion) -> JSONValue {
        let extended = version.hasExtendedFields
        var members: [String: JSONValue] = ["cniVersion": .string(version.rawValue), "dns": dns.json]
        if !interfaces.isEmpty {
            members["interfaces"] = .array(interfaces.map { interface in
                var fields: [String: JSONValue] = ["name": .string(interface.name)]
                fields["mac"] = interface.mac.map(JSONValue.string)
                fields["sandbox"] = interface.sandbox.map(JSONValue.string)
                if extended {
                    fields["mtu"] = interface.mtu.map { .number(Double($0)) }
                    fields["socketPath"] = interface.socketPath.map(JSONValue.string)
                    fields["pciID"] = interface.pciID.map(JSONValue.string)
                }
                return .object(fields)
            })
        }
        if !ips.isEmpty {
            members["ips"] = .array(ips.map { ip in
                var fields: [String: JSONValue] = ["address": .string(ip.address.description)]
                if version.ipsCarryVersion { fields["version"] = .string(ip.address.family.cniVersionDigit) }
                fields["gateway"] = ip.gateway.map { .string($0.description) }
                fields["interface"] = ip.interface.map { .number(Double($0)) }
                return .object(fields)
            })
        }
        if !routes.isEmpty {
            members["routes"] = .array(routes.map { extended ? $0.json : Route(dst: $0.dst, gw: $0.gw).json })
        }
        return .object(members)
    }

    /// Reads a result of any supported version (a delegate's output). Older versions' fields
    /// are a subset, plus `ips[].version`, which is implied by the address.
    public init(decoding bytes: some Collection<UInt8>, what: String) throws(CNIError) {
        try self.init(try JSONNode.document(bytes, what: what))
    }

    /// Reads a result already parsed as part of a larger document (`prevResult`).
    public init(_ node: JSONNode) throws(CNIError) {
        if let version = try node.string("cniVersion"), !version.isEmpty { _ = try CNIVersion.parse(version) }
        let interfaces = try (node.list("interfaces") ?? []).map { (entry) throws(CNIError) in
            Interface(name: try entry.required("name").string(), mac: try entry.string("mac"),
                      mtu: try entry.int("mtu"), sandbox: try entry.string("sandbox"),
                      socketPath: try entry.string("socketPath"),
                      pciID: try entry.string("pciID"))
        }
        var ips: [IPConfig] = []
        for entry in try node.list("ips") ?? [] {
            let addressNode = try entry.required("address")
            let text = try addressNode.string()
            guard let address = IPNetwork(text) else {
                throw CNIError(CNIError.decodingFailure,
                               "invalid \(node.what): \(addressNode.path) \"\(text.prefix(64))\" "
                                   + "is not an address/prefix")
            }
            var gateway: IPAddress?
            if let gatewayNode = try entry.field("gateway") {
                let text = try gatewayNode.string()
                guard let parsed = IPAddress(text), parsed.family == address.family else {
                    throw CNIError(CNIError.decodingFailure,
                                   "invalid \(node.what): \(gatewayNode.path) \"\(text.prefix(64))\" "
                                       + "is not an address of the same family")
                }
                gateway = parsed
            }
            let slot = try entry.int("interface")
            if let slot, !interfaces.indices.contains(slot) {
                throw CNIError(CNIError.decodingFailure,
                               "invalid \(node.what): \(entry.path).interface \(slot) is not an index into interfaces")
            }
            ips.append(IPConfig(address: address, gateway: gateway, interface: slot))
        }
        let routes = try (node.list("routes") ?? []).map { (entry) throws(CNIError) in try Route(entry) }
        self.init(interfaces: interfaces, ips: ips, routes: routes,
                  dns: try node.object("dns").map { (dns) throws(CNIError) in try DNS(dns) } ?? DNS())
    }
}

extension JSONNode {
    /// A chained plugin's `prevResult`, read as a result in its own right.
    public func prevResult() throws(CNIError) -> CNIResult? {
        guard let node = try object("prevResult") else { return nil }
        return try CNIResult(JSONNode(node.value, what: "prevResult"))
    }
}

/// A route as configs and results write it: `{"dst": "0.0.0.0/0", "gw": "10.0.0.1", …}`.
extension CNIResult.Route {
    public init(_ node: JSONNode) throws(CNIError) {
        let dstText = try node.required("dst").string()
        guard let dst = IPNetwork(dstText) else {
            throw node.invalid("dst \"\(dstText.prefix(64))\" is not an address/prefix")
        }
        var gw: IPAddress?
        if let gwText = try node.string("gw"), !gwText.isEmpty {
            guard let parsed = IPAddress(gwText), parsed.family == dst.family else {
                throw node.invalid("gw \"\(gwText.prefix(64))\" is not an address of the same family as dst")
            }
            gw = parsed
        }
        self.init(dst: dst, gw: gw, mtu: try node.int("mtu"), advmss: try node.int("advmss"),
                  priority: try node.int("priority"), table: try node.int("table"), scope: try node.int("scope"))
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = ["dst": .string(dst.description)]
        members["gw"] = gw.map { .string($0.description) }
        let numbers = [("mtu", mtu), ("advmss", advmss), ("priority", priority), ("table", table), ("scope", scope)]
        for (key, value) in numbers {
            members[key] = value.map { .number(Double($0)) }
        }
        return .object(members)
    }
}
