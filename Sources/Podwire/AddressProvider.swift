import CNI
import IPAM

/// The IPAM step of a call: host-local served in this process (no second exec), any
/// other `ipam.type` run from `CNI_PATH` as a delegate with the same config.
struct AddressProvider {
    let source: IPAMSource
    let call: Call

    func allocate() throws -> CNIResult {
        switch source {
        case .none: return CNIResult()
        case .hostLocal:
            return try hostLocal().allocate(containerID: call.environment.containerID, ifname: call.environment.ifname)
        case .delegate(let type):
            let output = try delegate(type).run(.add, config: call.config, environment: call.variables)
            return try CNIResult(decoding: output, what: "result of IPAM plugin \(type)")
        }
    }

    func release() throws {
        switch source {
        case .none: return
        case .hostLocal:
            try hostLocal().release(containerID: call.environment.containerID, ifname: call.environment.ifname)
        case .delegate(let type):
            _ = try delegate(type).run(.del, config: call.config, environment: call.variables)
        }
    }

    func check() throws {
        switch source {
        case .none: return
        case .hostLocal:
            try hostLocal().verify(containerID: call.environment.containerID, ifname: call.environment.ifname)
        case .delegate(let type):
            _ = try delegate(type).run(.check, config: call.config, environment: call.variables)
        }
    }

    /// Forwards STATUS or GC to a delegate; host-local's own are handled by the caller.
    func forward(_ command: Command) throws {
        if case .delegate(let type) = source {
            _ = try delegate(type).run(command, config: call.config, environment: call.variables)
        }
    }

    func hostLocal() throws -> HostLocal {
        HostLocal(config: try HostLocalConfig(call))
    }

    private func delegate(_ type: String) -> Delegate {
        Delegate(type: type, searchPath: call.environment.path)
    }
}
