import Addressing
import CNI
import Syscall

/// The host-local IPAM configuration, read from a whole network config as the reference
/// reads it: `ipam` plus the top-level `args` and `runtimeConfig`, and `CNI_ARGS`.
public struct HostLocalConfig: Sendable {
    public static let defaultDataDir = "/var/lib/cni/networks"

    public var network: String
    public var rangeSets: [RangeSet]
    public var routes: [CNIResult.Route]
    public var dataDir: String
    public var dns: DNS
    /// Addresses the runtime asked for; each must fall in one range set.
    public var requestedIPs: [IPAddress]

    public init(network: String, rangeSets: [RangeSet], routes: [CNIResult.Route] = [],
                dataDir: String = HostLocalConfig.defaultDataDir, dns: DNS = DNS(), requestedIPs: [IPAddress] = []) {
        self.network = network
        self.rangeSets = rangeSets
        self.routes = routes
        self.dataDir = dataDir
        self.dns = dns
        self.requestedIPs = requestedIPs
    }

    /// Parses and validates; touches nothing on the host except reading `resolvConf`.
    /// `header` is the config's already-read header, whose name is the store's directory.
    public init(netconf config: JSONNode, header: ConfigHeader, args: CNIArgs) throws(CNIError) {
        network = try header.validatedNetworkName()
        guard let ipam = try config.object("ipam") else { throw CNIError.config("network config has no ipam section") }
        let runtimeConfig = try config.object("runtimeConfig")

        var sets: [[JSONNode]] = try Self.rangeSets(ipam.list("ranges")) ?? []
        // The old single-subnet form: one range made of the `ipam` keys.
        if try ipam.field("subnet") != nil { sets.insert([ipam], at: 0) }
        if let override = try Self.rangeSets(runtimeConfig?.list("ipRanges")), !override.isEmpty { sets = override }
        guard !sets.isEmpty else { throw CNIError.config("ipam has no ranges and no subnet") }
        rangeSets = try sets.map { (set) throws(CNIError) in
            try RangeSet(set.map { (range) throws(CNIError) in try Self.range(range) })
        }
        for (i, a) in rangeSets.enumerated() {
            for (j, b) in rangeSets.enumerated() where j > i && a.overlaps(b) {
                throw CNIError.config("range set \(i) (\(a)) overlaps range set \(j) (\(b))")
            }
        }

        routes = try (ipam.list("routes") ?? []).map { (route) throws(CNIError) in try CNIResult.Route(route) }
        dataDir = try LeaseStoreLocation.dataDir(ipam)
        dns = try ipam.string("resolvConf").map { (path) throws(CNIError) in try ResolvConf.read(path) } ?? DNS()

        var requested: [IPAddress] = []
        func request(_ text: String, from source: String) throws(CNIError) {
            let trimmed = text.trimmingWhitespaceAndNewlines
            guard let address = parseRequestedIP(trimmed) else {
                throw CNIError.config("\(source): \"\(trimmed.prefix(64))\" is not an IP address")
            }
            requested.append(address)
        }
        for item in (args.values["IP"] ?? "").split(separator: ",") where !item.isEmpty {
            try request(String(item), from: "CNI_ARGS IP")
        }
        for item in try config.object("args")?.object("cni")?.strings("ips") ?? [] {
            try request(item, from: "args.cni.ips")
        }
        for item in try runtimeConfig?.strings("ips") ?? [] { try request(item, from: "runtimeConfig.ips") }
        // Checked here, with the rest of the config, before an ADD touches the host.
        var setsAsked: Set<Int> = []
        for address in requested {
            guard let set = rangeSets.firstIndex(where: { $0.range(containing: address) != nil }) else {
                throw CNIError.config("requested IP address \(address) is not in any configured range")
            }
            if address == rangeSets[set].range(containing: address)?.gateway {
                throw CNIError.config("requested IP address \(address) is the gateway of its range")
            }
            guard setsAsked.insert(set).inserted else {
                throw CNIError.config("requested IP address \(address) is a second one in range set "
                                      + "\(rangeSets[set]): each range set gives one address")
            }
        }
        requestedIPs = requested
    }

    public var location: LeaseStoreLocation { LeaseStoreLocation(dataDir: dataDir, network: network) }

    /// The configuration a plugin call carries.
    public init(_ call: Call) throws(CNIError) {
        try self.init(netconf: call.document, header: call.header, args: call.environment.args)
    }

    /// `ranges` and `ipRanges`: a list of range sets, each a list of ranges.
    private static func rangeSets(_ sets: [JSONNode]?) throws(CNIError) -> [[JSONNode]]? {
        try sets?.map { (set) throws(CNIError) in try set.list() }
    }

    private static func range(_ node: JSONNode) throws(CNIError) -> AddressRange {
        let subnet = try node.required("subnet").string()
        guard let network = IPNetwork(subnet) else {
            throw node.invalid("subnet \"\(subnet.prefix(64))\" is not an address/prefix")
        }
        func address(_ key: String) throws(CNIError) -> IPAddress? {
            guard let text = try node.string(key), !text.isEmpty else { return nil }
            guard let address = IPAddress(text), address.family == network.family else {
                let family = network.family == .v4 ? "IPv4" : "IPv6"
                throw node.invalid("\(key) \"\(text.prefix(64))\" is not an \(family) address")
            }
            return address
        }
        return try AddressRange(subnet: network, rangeStart: try address("rangeStart"),
                                rangeEnd: try address("rangeEnd"), gateway: try address("gateway"))
    }
}
