import CNI
import IPAM

/// How addresses are obtained: podwire's own host-local store in this process, or another
/// plugin exec'd from `CNI_PATH` as the specification describes.
enum IPAMSource {
    case none
    /// ADD, CHECK and STATUS: the whole host-local config, parsed and validated in the plan.
    case hostLocal(HostLocalConfig)
    /// DEL and GC: only where the leases are.
    case hostLocalStore(LeaseStoreLocation)
    case delegate(String)

    /// What DEL and GC read: the type and, for host-local, the store's location. Nothing
    /// else in the config can keep an attachment from being released.
    init(teardown call: Call) throws(CNIError) {
        guard let section = try call.document.object("ipam"), !(try section.members().isEmpty) else {
            self = .none
            return
        }
        guard let type = try section.string("type"), !type.isEmpty else { throw CNIError.config("ipam has no type") }
        self = type == "host-local"
            ? .hostLocalStore(try LeaseStoreLocation(netconf: call.document, header: call.header)) : .delegate(type)
    }
}

/// The IPAM step of a call: host-local served in this process (no second exec), any
/// other `ipam.type` run from `CNI_PATH` as a delegate with the same config.
struct AddressProvider {
    let source: IPAMSource
    let call: Call

    func allocate() throws -> CNIResult {
        switch source {
        case .none: return CNIResult()
        case .hostLocal(let config):
            return try HostLocal(config: config).allocate(containerID: call.environment.containerID,
                                                         ifname: call.environment.ifname)
        case .hostLocalStore: throw Self.misuse("allocate")
        case .delegate(let type):
            let output = try delegate(type).run(.add, config: call.config, environment: call.variables)
            return try CNIResult(decoding: output, what: "result of IPAM plugin \(type)")
        }
    }

    func release() throws {
        switch source {
        case .none: return
        case .hostLocal(let config):
            try config.location.release(containerID: call.environment.containerID, ifname: call.environment.ifname)
        case .hostLocalStore(let location):
            try location.release(containerID: call.environment.containerID, ifname: call.environment.ifname)
        case .delegate(let type):
            _ = try delegate(type).run(.del, config: call.config, environment: call.variables)
        }
    }

    func check() throws {
        switch source {
        case .none: return
        case .hostLocal(let config):
            try HostLocal(config: config).verify(containerID: call.environment.containerID,
                                                 ifname: call.environment.ifname)
        case .hostLocalStore: throw Self.misuse("check")
        case .delegate(let type):
            _ = try delegate(type).run(.check, config: call.config, environment: call.variables)
        }
    }

    /// STATUS: host-local's readiness here, a delegate's own answer otherwise.
    func status() throws {
        switch source {
        case .none: return
        case .hostLocal(let config): try HostLocal(config: config).readiness()
        case .hostLocalStore: throw Self.misuse("status")
        case .delegate(let type): _ = try delegate(type).run(.status, config: call.config, environment: call.variables)
        }
    }

    func collectGarbage(keeping valid: [(containerID: String, ifname: String)]) throws {
        switch source {
        case .none: return
        case .hostLocal(let config): _ = try config.location.collectGarbage(keeping: valid)
        case .hostLocalStore(let location): _ = try location.collectGarbage(keeping: valid)
        case .delegate(let type): _ = try delegate(type).run(.gc, config: call.config, environment: call.variables)
        }
    }

    private static func misuse(_ what: String) -> CNIError {
        CNIError(CNIError.generic, "internal error: cannot \(what) with only the IPAM store's location")
    }

    private func delegate(_ type: String) -> Delegate {
        Delegate(type: type, searchPath: call.environment.path)
    }
}
