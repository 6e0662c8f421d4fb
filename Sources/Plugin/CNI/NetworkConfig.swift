import Addressing

/// The keys every plugin config has, read before anything plugin-specific so that even an
/// error about the rest can be printed in the version the config asked for.
public struct ConfigHeader: Sendable {
    public var cniVersion: String
    public var name: String
    public var type: String

    /// Reads the header, tolerating anything else in the document.
    public init(_ config: JSONNode) throws(CNIError) {
        cniVersion = try config.string("cniVersion") ?? ""
        name = try config.string("name") ?? ""
        type = try config.string("type") ?? ""
    }

    /// The network name becomes a directory name in the IPAM store, so it obeys libcni's rule.
    public func validatedNetworkName() throws(CNIError) -> String {
        guard Names.isSafeIdentifier(name, maxLength: 255) else {
            throw CNIError.config(name.isEmpty
                ? "network config has no name"
                : "network name \"\(name.prefix(64))\" is invalid: it must start with a letter or digit "
                    + "and hold only letters, digits, _, . and - (at most 255)")
        }
        return name
    }
}

/// `dns` in a config or result.
public struct DNS: Equatable, Sendable {
    public var nameservers: [String]?
    public var domain: String?
    public var search: [String]?
    public var options: [String]?

    public init(nameservers: [String]? = nil, domain: String? = nil, search: [String]? = nil,
                options: [String]? = nil) {
        self.nameservers = nameservers
        self.domain = domain
        self.search = search
        self.options = options
    }

    public init(_ node: JSONNode) throws(CNIError) {
        nameservers = try node.strings("nameservers")
        domain = try node.string("domain")
        search = try node.strings("search")
        options = try node.strings("options")
    }

    /// Only the keys that are set, as the reference prints `"dns": {}` when none is.
    public var json: JSONValue {
        var members: [String: JSONValue] = [:]
        members["nameservers"] = nameservers.map { .array($0.map(JSONValue.string)) }
        members["domain"] = domain.map(JSONValue.string)
        members["search"] = search.map { .array($0.map(JSONValue.string)) }
        members["options"] = options.map { .array($0.map(JSONValue.string)) }
        return .object(members)
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

