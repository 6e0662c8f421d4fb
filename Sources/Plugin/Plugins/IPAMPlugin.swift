import CNI
import IPAM
import Identity

/// podwire's host-local store as a standalone IPAM plugin (`ipam.type: podwire-ipam`), for
/// other main plugins: the reference bridge, ptp, macvlan. It reads the `ipam` section of
/// the config it is given, as the reference host-local does, and prints an IPAM result.
public struct IPAMPlugin: Plugin {
    public init() {}

    public var about: String {
        "podwire-ipam \(PodwireVersion.string): host-local IPAM, store-compatible with the reference"
    }

    public func add(_ call: Call) throws -> CNIResult {
        try store(call).allocate(containerID: call.environment.containerID, ifname: call.environment.ifname)
    }

    /// DEL and GC read only where the store is: nothing else in the config can keep an
    /// attachment from being released.
    public func del(_ call: Call) throws {
        try location(call).release(containerID: call.environment.containerID, ifname: call.environment.ifname)
    }

    public func check(_ call: Call) throws {
        try store(call).verify(containerID: call.environment.containerID, ifname: call.environment.ifname)
    }

    public func status(_ call: Call) throws {
        try store(call).readiness()
    }

    public func gc(_ call: Call) throws {
        _ = try location(call).collectGarbage(keeping: try ValidAttachments(call).list)
    }

    private func store(_ call: Call) throws -> HostLocal {
        HostLocal(config: try HostLocalConfig(call))
    }

    private func location(_ call: Call) throws -> LeaseStoreLocation {
        try LeaseStoreLocation(netconf: call.document, header: call.header)
    }
}
