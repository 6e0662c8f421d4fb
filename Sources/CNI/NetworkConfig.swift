import Addressing

/// The keys every plugin config has, read before anything plugin-specific so that even an
/// error about the rest can be printed in the version the config asked for.
public struct ConfigHeader: Decodable, Sendable {
    public var cniVersion: String
    public var name: String
    public var type: String

    private enum CodingKeys: String, CodingKey { case cniVersion, name, type }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        cniVersion = try container.decodeIfPresent(String.self, forKey: .cniVersion) ?? ""
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        type = try container.decodeIfPresent(String.self, forKey: .type) ?? ""
    }

    /// Reads the header, tolerating anything else in the document.
    public static func peek(_ bytes: [UInt8]) throws(CNIError) -> ConfigHeader {
        try JSON.decode(ConfigHeader.self, from: bytes, what: "network config")
    }

    /// The network name becomes a directory name in the IPAM store, so it obeys libcni's rule.
    public func validatedNetworkName() throws(CNIError) -> String {
        guard Names.isSafeIdentifier(name, maxLength: 255) else {
            throw CNIError.config(name.isEmpty
                ? "network config has no name"
                : "network name \"\(name.prefix(64))\" is invalid: it must start with a letter or digit and hold only letters, digits, _, . and - (at most 255)")
        }
        return name
    }
}

/// `dns` in a config or result.
public struct DNS: Codable, Equatable, Sendable {
    public var nameservers: [String]?
    public var domain: String?
    public var search: [String]?
    public var options: [String]?

    public init(nameservers: [String]? = nil, domain: String? = nil, search: [String]? = nil, options: [String]? = nil) {
        self.nameservers = nameservers
        self.domain = domain
        self.search = search
        self.options = options
    }

    public var isEmpty: Bool {
        (nameservers ?? []).isEmpty && (domain ?? "").isEmpty && (search ?? []).isEmpty && (options ?? []).isEmpty
    }
}

/// A requested address from `runtimeConfig.ips`, `args.cni.ips` or `CNI_ARGS IP=`: either
/// a bare address or `address/prefix` (the prefix is then ignored, as the reference does).
public func parseRequestedIP(_ text: String) -> IPAddress? {
    if let address = IPAddress(text) { return address }
    return IPNetwork(text)?.address
}

