import Addressing
import CNI
import Identity

/// Allocation on a `LeaseStore`, with the reference host-local's rules: one
/// address per range set, requested addresses honoured, round-robin from the last reserved
/// address, the gateway never handed out, one lease per attachment and range set.
public struct HostLocal: Sendable {
    public let config: HostLocalConfig

    public init(config: HostLocalConfig) {
        self.config = config
    }

    /// Leases one address from every range set for the attachment and returns an IPAM
    /// result (no interfaces). Either every range set gets an address or none keeps one. The
    /// requested addresses were checked with the config: at most one in each range set, none
    /// a gateway. `note` makes, from the addresses granted, the line the attachment's index
    /// entry keeps beside them.
    public func allocate(containerID: String, ifname: String,
                         note: (([CNIResult.IPConfig]) -> String?)? = nil) throws -> CNIResult {
        let store = try LeaseStore(dataDir: config.dataDir, network: config.network)
        let owner = LeaseOwner(containerID: containerID, ifname: ifname)
        let ips = try store.locked { () throws -> [CNIResult.IPConfig] in
            let held = heldByIndex(containerID, ifname, in: store)
            return try store.withStagedLease(for: owner) { claim in
                var pending = config.requestedIPs
                var granted: [CNIResult.IPConfig] = []
                do {
                    for (index, set) in config.rangeSets.enumerated() {
                        let address: IPAddress
                        if let wanted = pending.firstIndex(where: { set.range(containing: $0) != nil }) {
                            address = try claimRequested(pending.remove(at: wanted), in: set, index: index,
                                                         claim: claim)
                        } else {
                            if let existing = held.first(where: { set.range(containing: $0) != nil }) {
                                throw CNIError(CNIError.generic, "\(existing) has been allocated to \(containerID), "
                                               + "duplicate allocation is not allowed")
                            }
                            address = try claimNext(in: set, index: index,
                                                    after: store.lastReserved(rangeSet: index), claim: claim)
                        }
                        let range = set.range(containing: address)!
                        granted.append(CNIResult.IPConfig(
                            address: IPNetwork(address: address, prefixLength: range.subnet.prefixLength)!,
                            gateway: range.gateway))
                    }
                    // After the leases: a crash in between leaves leases without an entry,
                    // which DEL finds by scanning, never an entry without its leases.
                    try store.recordIndex(containerID: containerID, ifname: ifname,
                                          addresses: held + granted.map(\.address.address), note: note?(granted))
                } catch {
                    for ip in granted { try? store.release(ip.address.address) }
                    throw error
                }
                return granted
            }
        }
        return CNIResult(ips: ips, routes: config.routes, dns: config.dns)
    }

    /// Releases every lease of the attachment; missing leases are not an error.
    public func release(containerID: String, ifname: String) throws {
        try config.location.release(containerID: containerID, ifname: ifname)
    }

    /// The attachment's leases, for CHECK: an error when it holds none in some range set.
    public func verify(containerID: String, ifname: String) throws {
        let store = try LeaseStore(dataDir: config.dataDir, network: config.network)
        let held = try store.locked { try store.held(containerID, ifname) }
        for set in config.rangeSets where !held.contains(where: { set.range(containing: $0) != nil }) {
            throw CNIError(CNIError.generic, "host-local: no address of range set \(set) is leased to container "
                           + "\(containerID) ifname \(ifname)")
        }
    }

    /// Releases every lease not held by one of `valid` (spec 1.1 GC).
    public func collectGarbage(keeping valid: [Attachment]) throws -> [IPAddress] {
        try config.location.collectGarbage(keeping: valid)
    }

    /// STATUS: the store can be opened and locked, and every range set has a free address.
    /// Anything else is code 50: this network cannot serve an ADD now.
    public func readiness() throws {
        do {
            let store = try LeaseStore(dataDir: config.dataDir, network: config.network)
            let leased = try store.locked { try store.leasedAddresses() }
            for set in config.rangeSets {
                var cursor = RoundRobin(set: set, after: nil)
                var free = false
                while !free, let candidate = cursor.next() { free = !leased.contains(candidate) }
                if !free { throw CNIError(CNIError.notReadyForAdd, "range set \(set) is exhausted") }
            }
        } catch let error as CNIError where error.code == CNIError.notReadyForAdd {
            throw error
        } catch {
            throw CNIError(CNIError.notReadyForAdd, "IPAM store is not usable: \(error)")
        }
    }

    // MARK: -

    /// The attachment's addresses according to the index, each confirmed by its lease file.
    private func heldByIndex(_ containerID: String, _ ifname: String, in store: LeaseStore) -> [IPAddress] {
        store.confirmed(store.indexedAddresses(containerID: containerID, ifname: ifname) ?? [], containerID, ifname)
    }

    private func claimRequested(_ address: IPAddress, in set: RangeSet, index: Int,
                                claim: (IPAddress, Int) throws -> Bool) throws -> IPAddress {
        guard try claim(address, index) else {
            throw CNIError(CNIError.generic, "requested IP address \(address) is not available in range set \(set): "
                           + "it is leased to another attachment")
        }
        return address
    }

    /// Tries each candidate in round-robin order by linking the staged lease under it: a
    /// taken address costs one failed link, and nothing lists the directory.
    private func claimNext(in set: RangeSet, index: Int, after last: IPAddress?,
                           claim: (IPAddress, Int) throws -> Bool) throws -> IPAddress {
        var cursor = RoundRobin(set: set, after: last)
        while let candidate = cursor.next() {
            if try claim(candidate, index) { return candidate }
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
