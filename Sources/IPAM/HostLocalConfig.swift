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
    public init(netconf bytes: [UInt8], header: ConfigHeader, args: CNIArgs) throws(CNIError) {
        network = try header.validatedNetworkName()
        let wire = try JSON.decode(Wire.self, from: bytes, what: "network config")
        guard let ipam = wire.ipam else { throw CNIError.config("network config has no ipam section") }

        var sets: [[Wire.Range]] = ipam.ranges ?? []
        if let subnet = ipam.subnet {
            sets.insert([Wire.Range(subnet: subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd,
                                    gateway: ipam.gateway)], at: 0)
        }
        if let override = wire.runtimeConfig?.ipRanges, !override.isEmpty { sets = override }
        guard !sets.isEmpty else { throw CNIError.config("ipam has no ranges and no subnet") }
        rangeSets = try sets.enumerated().map { (index, set) throws(CNIError) in
            try RangeSet(set.enumerated().map { (rangeIndex, range) throws(CNIError) in
                try range.validated(at: "ipam.ranges[\(index)][\(rangeIndex)]")
            })
        }
        for (i, a) in rangeSets.enumerated() {
            for (j, b) in rangeSets.enumerated() where j > i && a.overlaps(b) {
                throw CNIError.config("range set \(i) (\(a)) overlaps range set \(j) (\(b))")
            }
        }

        routes = ipam.routes ?? []
        dataDir = ipam.dataDir.flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultDataDir
        guard dataDir.hasPrefix("/"), !dataDir.utf8.contains(0) else {
            throw CNIError.config("ipam.dataDir \"\(dataDir.prefix(64))\" must be an absolute path")
        }
        dns = try ipam.resolvConf.map { (path) throws(CNIError) in try ResolvConf.read(path) } ?? DNS()

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
        for item in wire.args?.cni?.ips ?? [] { try request(item, from: "args.cni.ips") }
        for item in wire.runtimeConfig?.ips ?? [] { try request(item, from: "runtimeConfig.ips") }
        requestedIPs = requested
    }

    struct Wire: Decodable {
        struct Range: Decodable {
            var subnet: String
            var rangeStart: String?
            var rangeEnd: String?
            var gateway: String?

            func validated(at place: String) throws(CNIError) -> AddressRange {
                guard let network = IPNetwork(subnet) else {
                    throw CNIError.config("\(place).subnet \"\(subnet.prefix(64))\" is not an address/prefix")
                }
                func address(_ text: String?, _ key: String) throws(CNIError) -> IPAddress? {
                    guard let text, !text.isEmpty else { return nil }
                    guard let address = IPAddress(text), address.family == network.family else {
                        throw CNIError.config("\(place).\(key) \"\(text.prefix(64))\" is not an \(network.family == .v4 ? "IPv4" : "IPv6") address")
                    }
                    return address
                }
                return try AddressRange(subnet: network, rangeStart: try address(rangeStart, "rangeStart"),
                                        rangeEnd: try address(rangeEnd, "rangeEnd"), gateway: try address(gateway, "gateway"))
            }
        }

        struct IPAM: Decodable {
            var ranges: [[Range]]?
            var subnet: String?
            var rangeStart: String?
            var rangeEnd: String?
            var gateway: String?
            var routes: [CNIResult.Route]?
            var dataDir: String?
            var resolvConf: String?
        }

        struct Args: Decodable {
            struct CNI: Decodable { var ips: [String]? }
            var cni: CNI?
        }

        struct RuntimeConfig: Decodable {
            var ips: [String]?
            var ipRanges: [[Range]]?
        }

        var ipam: IPAM?
        var args: Args?
        var runtimeConfig: RuntimeConfig?
    }
}

// In an extension, so that the memberwise initialiser stays: the old single-subnet form
// makes a range from the `ipam` keys.
extension HostLocalConfig.Wire.Range {
    /// Go's key matching: `ipRanges` may come from a runtime's untagged Go struct.
    init(from decoder: any Decoder) throws {
        let keys = try GoKeys(decoder)
        subnet = try keys.decode(String.self, "subnet")
        rangeStart = try keys.decodeIfPresent(String.self, "rangeStart")
        rangeEnd = try keys.decodeIfPresent(String.self, "rangeEnd")
        gateway = try keys.decodeIfPresent(String.self, "gateway")
    }
}
