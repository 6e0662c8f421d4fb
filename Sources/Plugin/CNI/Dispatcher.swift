import Identity
/// One CNI call, as a plugin sees it.
public struct Call: Sendable {
    public var environment: CNIEnvironment
    /// stdin exactly as the runtime sent it: delegates receive these same bytes.
    public var config: [UInt8]
    /// The same config, parsed once for every part of the plugin that reads it.
    public var document: JSONNode
    public var header: ConfigHeader
    public var version: CNIVersion
    /// The process environment, passed on to delegates.
    public var variables: [String: String]

    public init(environment: CNIEnvironment, config: [UInt8], document: JSONNode, header: ConfigHeader,
                version: CNIVersion, variables: [String: String] = [:]) {
        self.environment = environment
        self.config = config
        self.document = document
        self.header = header
        self.version = version
        self.variables = variables
    }

    /// The attachment this call is about: the network's name (checked), the container ID and
    /// the interface name from the environment.
    public func attachment() throws(CNIError) -> Attachment {
        Attachment(network: try header.validatedNetworkName(), containerID: environment.containerID,
                   ifname: environment.ifname)
    }

    /// A call on `config` as it stands, for callers that have only the bytes.
    public init(environment: CNIEnvironment, config: [UInt8], version: CNIVersion,
                variables: [String: String] = [:]) throws(CNIError) {
        let document = try JSONNode.document(config, what: "network config")
        self.init(environment: environment, config: config, document: document, header: try ConfigHeader(document),
                  version: version, variables: variables)
    }
}

/// What a plugin implements; the dispatcher does the protocol around it.
public protocol Plugin {
    /// One line for a person who runs the binary by hand.
    var about: String { get }
    func add(_ call: Call) throws -> CNIResult
    func del(_ call: Call) throws
    func check(_ call: Call) throws
    func status(_ call: Call) throws
    func gc(_ call: Call) throws
}

/// What the executable writes and how it exits.
public struct Outcome: Equatable, Sendable {
    public var stdout: [UInt8]
    public var stderr: String
    public var exitCode: Int32
    /// What the call did, kept typed for the call log: the ADD result, or the error printed.
    public var result: CNIResult? = nil
    public var error: CNIError? = nil
}

/// Turns the process inputs into one plugin call and its output, per the specification:
/// version checks, required variables, the result in the config's version, errors as JSON.
public enum Dispatcher {
    /// What the plugin is and which protocol versions it speaks, for a person: printed for
    /// `--version`, and when run with no CNI_COMMAND.
    public static func about(_ plugin: some Plugin) -> String {
        "\(plugin.about)\nCNI protocol versions supported: \(CNIVersion.supportedList.joined(separator: ", "))\n"
    }

    public static func run(_ plugin: some Plugin, variables: [String: String], stdin: () -> [UInt8]) -> Outcome {
        guard let commandText = variables["CNI_COMMAND"], !commandText.isEmpty else {
            return Outcome(stdout: [], stderr: about(plugin), exitCode: 0)
        }
        var reportedVersion = CNIVersion.latest.rawValue
        do {
            guard let command = Command(rawValue: commandText) else {
                let known = Command.allCases.map(\.rawValue).joined(separator: ", ")
                let shown = commandText.prefix(32)
                throw CNIError.environment("unknown CNI_COMMAND \"\(shown)\": expected one of \(known)")
            }
            if command == .version {
                return Outcome(stdout: versionInfo.withUTF8Buffer { Array($0) }, stderr: "", exitCode: 0)
            }
            // stdin first, so that even an error about the environment is printed in the
            // version the config asked for.
            let config = stdin()
            let document = Result { () throws(CNIError) in try JSONNode.document(config, what: "network config") }
            let header = Result { () throws(CNIError) in try ConfigHeader(try document.get()) }
            if let peeked = try? header.get(), CNIVersion(rawValue: peeked.cniVersion) != nil {
                reportedVersion = peeked.cniVersion
            }
            let environment = try CNIEnvironment(command: command, variables: variables)
            if config.isEmpty {
                throw CNIError(CNIError.decodingFailure, "no network config on stdin")
            }
            let version = try CNIVersion.parse(try header.get().cniVersion)
            try requireVersion(version, allows: command)
            let call = Call(environment: environment, config: config, document: try document.get(),
                            header: try header.get(),
                            version: version, variables: variables)

            switch command {
            case .add:
                let result = try plugin.add(call)
                return Outcome(stdout: result.encoded(as: version), stderr: "", exitCode: 0, result: result)
            case .del: try plugin.del(call)
            case .check: try plugin.check(call)
            case .status: try plugin.status(call)
            case .gc: try plugin.gc(call)
            case .version: break
            }
            return Outcome(stdout: [], stderr: "", exitCode: 0)
        } catch {
            let cniError = error as? CNIError ?? CNIError(CNIError.generic, "\(error)")
            return Outcome(stdout: cniError.encoded(cniVersion: reportedVersion),
                           stderr: "", exitCode: 1, error: cniError)
        }
    }

    /// Written out: VERSION is the call runtimes make most, and this text is all it needs,
    /// so the process prints it before building anything. A test holds it to `CNIVersion`.
    public static var versionInfo: StaticString {
        #"{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"#
    }

    private static func requireVersion(_ version: CNIVersion, allows command: Command) throws(CNIError) {
        switch command {
        case .check where !version.allowsCheck:
            throw CNIError(CNIError.incompatibleVersion,
                           "config version \(version.rawValue) does not allow CHECK (0.4.0 or later needed)")
        case .status where !version.allowsStatusAndGC, .gc where !version.allowsStatusAndGC:
            throw CNIError(CNIError.incompatibleVersion,
                           "config version \(version.rawValue) does not allow \(command.rawValue) "
                               + "(1.1.0 or later needed)")
        default:
            break
        }
    }
}
