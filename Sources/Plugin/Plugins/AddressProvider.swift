import CNI
import IPAM
import Identity

/// How addresses are obtained, for ADD, CHECK and STATUS: podwire's own host-local store in
/// this process (its whole config parsed and validated in the plan), or another plugin
/// exec'd from `CNI_PATH` as the specification describes.
enum IPAMSource {
    case none
    case hostLocal(HostLocalConfig)
    case delegate(String)

    /// What releases these addresses again.
    var release: IPAMRelease {
        switch self {
        case .none: .none
        case .hostLocal(let config): .hostLocal(config.location)
        case .delegate(let type): .delegate(type)
        }
    }
}

/// How addresses are released, for DEL, GC and an ADD's rollback: for host-local only where
/// the leases are. Nothing else in the config can keep an attachment from being released.
enum IPAMRelease {
    case none
    case hostLocal(LeaseStoreLocation)
    case delegate(String)

    /// What DEL and GC read: the type and, for host-local, `dataDir`.
    init(teardown call: Call) throws(CNIError) {
        guard let section = try call.document.object("ipam"), !(try section.members().isEmpty) else {
            self = .none
            return
        }
        guard let type = try section.string("type"), !type.isEmpty else { throw CNIError.config("ipam has no type") }
        self = type == "host-local"
            ? .hostLocal(try LeaseStoreLocation(netconf: call.document, header: call.header)) : .delegate(type)
    }
}

/// The IPAM step of a call: host-local served in this process (no second exec), any
/// other `ipam.type` run from `CNI_PATH` as a delegate with the same config.
struct AddressProvider {
    let call: Call

    /// `note`: what host-local's index keeps beside the addresses (see `HostLocal.allocate`).
    func allocate(_ source: IPAMSource, note: (([CNIResult.IPConfig]) -> String?)? = nil) throws -> CNIResult {
        switch source {
        case .none: return CNIResult()
        case .hostLocal(let config):
            return try HostLocal(config: config).allocate(containerID: call.environment.containerID,
                                                         ifname: call.environment.ifname, note: note)
        case .delegate(let type):
            let output = try delegate(type).run(.add, config: call.config, environment: call.variables)
            return try CNIResult(decoding: output, what: "result of IPAM plugin \(type)")
        }
    }

    func check(_ source: IPAMSource) throws {
        switch source {
        case .none: return
        case .hostLocal(let config):
            try HostLocal(config: config).verify(containerID: call.environment.containerID,
                                                 ifname: call.environment.ifname)
        case .delegate(let type):
            _ = try delegate(type).run(.check, config: call.config, environment: call.variables)
        }
    }

    /// STATUS: host-local's readiness here, a delegate's own answer otherwise.
    func status(_ source: IPAMSource) throws {
        switch source {
        case .none: return
        case .hostLocal(let config): try HostLocal(config: config).readiness()
        case .delegate(let type): _ = try delegate(type).run(.status, config: call.config, environment: call.variables)
        }
    }

    func release(_ source: IPAMRelease) throws {
        switch source {
        case .none: return
        case .hostLocal(let location):
            try location.release(containerID: call.environment.containerID, ifname: call.environment.ifname)
        case .delegate(let type):
            _ = try delegate(type).run(.del, config: call.config, environment: call.variables)
        }
    }

    func collectGarbage(_ source: IPAMRelease, keeping valid: [Attachment]) throws {
        switch source {
        case .none: return
        case .hostLocal(let location): _ = try location.collectGarbage(keeping: valid)
        case .delegate(let type): _ = try delegate(type).run(.gc, config: call.config, environment: call.variables)
        }
    }

    private func delegate(_ type: String) -> Delegate {
        Delegate(type: type, searchPath: call.environment.path)
    }
}
