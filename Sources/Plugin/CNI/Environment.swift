/// The operations of the specification.
public enum Command: String, Sendable, CaseIterable {
    case add = "ADD", del = "DEL", check = "CHECK", version = "VERSION", status = "STATUS", gc = "GC"
}

/// `CNI_ARGS`: `K=V;K=V`. Keys podwire does not know are an error unless the runtime says
/// `IgnoreUnknown=1`, as the reference plugins do; Kubernetes' pod keys are always known.
public struct CNIArgs: Equatable, Sendable {
    public var values: [String: String]

    public static let knownKeys: Set<String> = [
        "IgnoreUnknown", "IP", "MAC",
        "K8S_POD_NAME", "K8S_POD_NAMESPACE", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID",
    ]

    public init(values: [String: String] = [:]) { self.values = values }

    public init(parsing text: String) throws(CNIError) {
        var values: [String: String] = [:]
        for pair in text.split(separator: ";", omittingEmptySubsequences: true) {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw CNIError.environment("CNI_ARGS: \"\(pair.prefix(64))\" is not KEY=VALUE")
            }
            values[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        let ignoreUnknown = ["1", "true", "True"].contains(values["IgnoreUnknown"] ?? "")
        if !ignoreUnknown {
            let unknown = values.keys.filter { !Self.knownKeys.contains($0) }.sorted()
            if !unknown.isEmpty {
                let keys = unknown.joined(separator: ", ")
                throw CNIError.environment("CNI_ARGS: unknown keys \(keys) (add IgnoreUnknown=1 to allow them)")
            }
        }
        self.values = values
    }

    public subscript(key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }
}

/// The `CNI_*` variables of one call, checked for what the command needs.
public struct CNIEnvironment: Sendable {
    public var command: Command
    public var containerID: String
    /// Empty when the runtime gave none (allowed for DEL, GC, STATUS).
    public var netns: String
    public var ifname: String
    public var args: CNIArgs
    public var path: [String]

    public init(command: Command, containerID: String = "", netns: String = "", ifname: String = "",
                args: CNIArgs = CNIArgs(), path: [String] = []) {
        self.command = command
        self.containerID = containerID
        self.netns = netns
        self.ifname = ifname
        self.args = args
        self.path = path
    }

    /// Reads the process environment's CNI variables. `CNI_COMMAND` itself is read by the
    /// dispatcher, which has to answer even when it is missing.
    public init(command: Command, variables env: [String: String]) throws(CNIError) {
        self.command = command
        containerID = env["CNI_CONTAINERID"] ?? ""
        netns = env["CNI_NETNS"] ?? ""
        ifname = env["CNI_IFNAME"] ?? ""
        path = (env["CNI_PATH"] ?? "").split(separator: ":").map(String.init)
        args = try CNIArgs(parsing: env["CNI_ARGS"] ?? "")

        let needsAttachment: Bool
        switch command {
        case .add, .check, .del: needsAttachment = true
        case .version, .status, .gc: needsAttachment = false
        }
        guard needsAttachment else { return }

        var missing: [String] = []
        if containerID.isEmpty { missing.append("CNI_CONTAINERID") }
        if netns.isEmpty && command != .del { missing.append("CNI_NETNS") }
        if ifname.isEmpty { missing.append("CNI_IFNAME") }
        if !missing.isEmpty {
            throw CNIError.environment("required environment variables missing: \(missing.joined(separator: ", "))")
        }
        guard Names.isSafeIdentifier(containerID) else {
            throw CNIError.environment("CNI_CONTAINERID has invalid characters or is too long: it must start with "
                                       + "a letter or digit and hold only letters, digits, _, . and - (at most 1024)")
        }
        if let problem = Names.interfaceNameProblem(ifname) {
            throw CNIError.environment("CNI_IFNAME \(problem)")
        }
        if netns.utf8.count > 4096 || netns.utf8.contains(0) {
            throw CNIError.environment("CNI_NETNS is not a usable path")
        }
    }
}
