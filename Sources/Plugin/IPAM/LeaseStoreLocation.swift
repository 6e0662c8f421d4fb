import Addressing
import CNI
import Identity

/// Where a network's leases are: all that DEL and GC need of a host-local config. A DEL
/// must release the attachment's leases whatever else the config now holds (ranges that
/// were changed, a `resolvConf` file that is gone), so nothing else is read.
public struct LeaseStoreLocation: Sendable {
    public var dataDir: String
    public var network: String

    public init(dataDir: String, network: String) {
        self.dataDir = dataDir
        self.network = network
    }

    /// Reads `ipam.dataDir` alone.
    public init(netconf config: JSONNode, header: ConfigHeader) throws(CNIError) {
        network = try header.validatedNetworkName()
        dataDir = try Self.dataDir(config.object("ipam"))
    }

    static func dataDir(_ ipam: JSONNode?) throws(CNIError) -> String {
        let dataDir = try ipam?.string("dataDir").flatMap { $0.isEmpty ? nil : $0 } ?? HostLocalConfig.defaultDataDir
        guard dataDir.hasPrefix("/"), !dataDir.utf8.contains(0) else {
            throw CNIError.config("ipam.dataDir \"\(dataDir.prefix(64))\" must be an absolute path")
        }
        return dataDir
    }

    /// Releases every lease of the attachment; missing leases are not an error.
    public func release(containerID: String, ifname: String) throws {
        let store = try LeaseStore(dataDir: dataDir, network: network)
        try store.locked {
            for address in try store.held(containerID, ifname) { try store.release(address) }
            store.dropIndex(containerID: containerID, ifname: ifname)
        }
    }

    /// Releases every lease not held by one of `valid` (spec 1.1 GC). A lease file with no
    /// readable owner is released too: nothing can claim it.
    public func collectGarbage(keeping valid: [Attachment]) throws -> [IPAddress] {
        let store = try LeaseStore(dataDir: dataDir, network: network)
        return try store.locked {
            var released: [IPAddress] = []
            for lease in try store.leases() {
                let kept = lease.owner.map { owner in
                    valid.contains { owner.matches(containerID: $0.containerID, ifname: $0.ifname) }
                } ?? false
                if !kept {
                    try store.release(lease.address)
                    released.append(lease.address)
                }
            }
            store.dropIndex(keeping: valid)
            return released
        }
    }
}

extension LeaseStore {
    /// The attachment's addresses: through the index when every address it lists is still
    /// the attachment's lease, otherwise by reading every lease, as the reference does. The
    /// index is only a hint: the reference host-local may have released an indexed address
    /// and leased another one to the same attachment, which the index does not name.
    func held(_ containerID: String, _ ifname: String) throws -> [IPAddress] {
        if let indexed = indexedAddresses(containerID: containerID, ifname: ifname) {
            let confirmed = confirmed(indexed, containerID, ifname)
            if confirmed.count == indexed.count { return confirmed }
        }
        return try leases().filter {
            $0.owner?.matches(containerID: containerID, ifname: ifname) ?? false
        }.map(\.address)
    }

    /// Those of `addresses` whose lease file names the attachment.
    func confirmed(_ addresses: [IPAddress], _ containerID: String, _ ifname: String) -> [IPAddress] {
        addresses.filter { owner(of: $0)?.matches(containerID: containerID, ifname: ifname) ?? false }
    }
}
