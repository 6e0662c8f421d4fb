import Addressing
import CNI

/// Allocation and release on a `LeaseStore`, with the reference host-local's rules: one
/// address per range set, requested addresses honoured, round-robin from the last reserved
/// address, the gateway never handed out, one lease per attachment and range set.
public struct HostLocal: Sendable {
    public let config: HostLocalConfig

    public init(config: HostLocalConfig) {
        self.config = config
    }

    /// Leases one address from every range set for the attachment and returns an IPAM
    /// result (no interfaces). Either every range set gets an address or none keeps one.
    public func allocate(containerID: String, ifname: String) throws -> CNIResult {
        let store = try LeaseStore(dataDir: config.dataDir, network: config.network)
        let owner = LeaseOwner(containerID: containerID, ifname: ifname)
        let ips = try store.locked { () throws -> [CNIResult.IPConfig] in
            var pending = config.requestedIPs
            var taken = try store.leasedAddresses()
            let held = try heldBy(containerID: containerID, ifname: ifname, in: store)
            var granted: [CNIResult.IPConfig] = []
            do {
                for (index, set) in config.rangeSets.enumerated() {
                    let address: IPAddress
                    if let wanted = pending.firstIndex(where: { set.range(containing: $0) != nil }) {
                        address = try reserveRequested(pending.remove(at: wanted), in: set, index: index,
                                                       owner: owner, store: store)
                    } else {
                        if let existing = held.first(where: { set.range(containing: $0) != nil }) {
                            throw CNIError(CNIError.generic, "\(existing) has been allocated to \(containerID), duplicate allocation is not allowed")
                        }
                        address = try reserveNext(in: set, index: index, owner: owner, store: store, taken: &taken)
                    }
                    let range = set.range(containing: address)!
                    granted.append(CNIResult.IPConfig(
                        address: IPNetwork(address: address, prefixLength: range.subnet.prefixLength)!,
                        gateway: range.gateway))
                }
                if let stray = pending.first {
                    throw CNIError.config("requested IP address \(stray) is not in any configured range")
                }
            } catch {
                for ip in granted { try? store.release(ip.address.address) }
                throw error
            }
            return granted
        }
        return CNIResult(ips: ips, routes: config.routes, dns: config.dns)
    }

    /// Releases every lease of the attachment; missing leases are not an error.
    public func release(containerID: String, ifname: String) throws {
        let store = try LeaseStore(dataDir: config.dataDir, network: config.network)
        try store.locked {
            for address in try heldBy(containerID: containerID, ifname: ifname, in: store) {
                try store.release(address)
            }
        }
    }

    /// The attachment's leases, for CHECK: an error when it holds none in some range set.
    public func verify(containerID: String, ifname: String) throws {
        let store = try LeaseStore(dataDir: config.dataDir, network: config.network)
        let held = try store.locked { try heldBy(containerID: containerID, ifname: ifname, in: store) }
        for set in config.rangeSets where !held.contains(where: { set.range(containing: $0) != nil }) {
            throw CNIError(CNIError.generic, "host-local: no address of range set \(set) is leased to container \(containerID) ifname \(ifname)")
        }
    }

    /// Releases every lease not held by one of `valid` (spec 1.1 GC). A lease file with no
    /// readable owner is released too: nothing can claim it.
    public func collectGarbage(keeping valid: [(containerID: String, ifname: String)]) throws -> [IPAddress] {
        let store = try LeaseStore(dataDir: config.dataDir, network: config.network)
        return try store.locked {
            var released: [IPAddress] = []
            for lease in try store.leases() {
                let kept = lease.owner.map { owner in valid.contains { owner.matches(containerID: $0.containerID, ifname: $0.ifname) } } ?? false
                if !kept {
                    try store.release(lease.address)
                    released.append(lease.address)
                }
            }
            return released
        }
    }

    // MARK: -

    private func heldBy(containerID: String, ifname: String, in store: LeaseStore) throws -> [IPAddress] {
        try store.leases().filter { $0.owner?.matches(containerID: containerID, ifname: ifname) ?? false }.map(\.address)
    }

    private func reserveRequested(_ address: IPAddress, in set: RangeSet, index: Int, owner: LeaseOwner,
                                  store: LeaseStore) throws -> IPAddress {
        if address == set.range(containing: address)?.gateway {
            throw CNIError.config("requested IP address \(address) is the gateway of its range")
        }
        guard try store.reserve(address, for: owner, rangeSet: index) else {
            throw CNIError(CNIError.generic, "requested IP address \(address) is not available in range set \(set): it is leased to another attachment")
        }
        return address
    }

    private func reserveNext(in set: RangeSet, index: Int, owner: LeaseOwner, store: LeaseStore,
                             taken: inout Set<IPAddress>) throws -> IPAddress {
        var cursor = RoundRobin(set: set, after: store.lastReserved(rangeSet: index))
        while let candidate = cursor.next() {
            if taken.contains(candidate) { continue }
            if try store.reserve(candidate, for: owner, rangeSet: index) {
                taken.insert(candidate)
                return candidate
            }
            taken.insert(candidate)
        }
        throw CNIError(CNIError.generic, "no IP addresses available in range set \(set)")
    }
}

/// The reference allocator's walk: from the address after the last reserved one (or the
/// first range's start), through each range and on to the next, wrapping once around the
/// whole set and skipping each range's gateway.
struct RoundRobin: IteratorProtocol {
    private let ranges: [AddressRange]
    private var rangeIndex = 0
    private var current: IPAddress?
    private var start: IPAddress?

    init(set: RangeSet, after last: IPAddress?) {
        ranges = set.ranges
        if let last, let index = ranges.firstIndex(where: { $0.contains(last) }) {
            rangeIndex = index
            current = last
        }
    }

    mutating func next() -> IPAddress? {
        while true {
            var range = ranges[rangeIndex]
            let candidate: IPAddress
            if let current, current != range.rangeEnd, let following = current.advanced(by: 1) {
                candidate = following
            } else if current == nil {
                candidate = range.rangeStart
            } else {
                rangeIndex = (rangeIndex + 1) % ranges.count
                range = ranges[rangeIndex]
                candidate = range.rangeStart
            }
            current = candidate
            if let start {
                if candidate == start { return nil }
            } else {
                start = candidate
            }
            if candidate != range.gateway { return candidate }
        }
    }
}
