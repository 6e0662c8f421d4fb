import Addressing
import CNI

/// One range of a range set, with the reference host-local's defaults filled in:
/// the gateway is the subnet's first address, and addresses run from the first after the
/// network address to the last before broadcast (IPv4) or the last of the subnet (IPv6).
public struct AddressRange: Equatable, Sendable, CustomStringConvertible {
    public let subnet: IPNetwork
    public let rangeStart: IPAddress
    public let rangeEnd: IPAddress
    public let gateway: IPAddress?

    public init(subnet: IPNetwork, rangeStart: IPAddress? = nil, rangeEnd: IPAddress? = nil,
                gateway: IPAddress? = nil) throws(CNIError) {
        guard subnet.isNetworkAddress else {
            throw CNIError.config("subnet \(subnet) has host bits set: the network address is \(subnet.network)")
        }
        guard subnet.prefixLength <= subnet.family.bitWidth - 2 else {
            throw CNIError.config("subnet \(subnet) is too small to allocate from")
        }
        let defaultStart = subnet.first.advanced(by: 1)!
        let defaultEnd = subnet.family == .v4 ? subnet.last.advanced(by: -1)! : subnet.last
        for (name, address) in [("rangeStart", rangeStart), ("rangeEnd", rangeEnd), ("gateway", gateway)] {
            guard let address else { continue }
            guard subnet.contains(address) else {
                throw CNIError.config("\(name) \(address) is not in subnet \(subnet)")
            }
        }
        let start = rangeStart ?? defaultStart
        let end = rangeEnd ?? defaultEnd
        guard start <= end else {
            throw CNIError.config("rangeStart \(start) is after rangeEnd \(end) in subnet \(subnet)")
        }
        self.subnet = subnet
        self.rangeStart = start
        self.rangeEnd = end
        self.gateway = gateway ?? defaultStart
    }

    public var family: IPAddress.Family { subnet.family }

    public func contains(_ address: IPAddress) -> Bool {
        address.family == family && address >= rangeStart && address <= rangeEnd
    }

    public func overlaps(_ other: AddressRange) -> Bool {
        family == other.family && rangeStart <= other.rangeEnd && other.rangeStart <= rangeEnd
    }

    public var description: String { "\(rangeStart)-\(rangeEnd)" }
}

/// A list of ranges of one family; each ADD takes one address from each range set.
public struct RangeSet: Equatable, Sendable, CustomStringConvertible {
    public let ranges: [AddressRange]

    public init(_ ranges: [AddressRange]) throws(CNIError) {
        guard let first = ranges.first else { throw CNIError.config("a range set is empty") }
        for range in ranges where range.family != first.family {
            throw CNIError.config("range set mixes IPv4 and IPv6: \(first.subnet) and \(range.subnet)")
        }
        for (i, a) in ranges.enumerated() {
            for b in ranges[(i + 1)...] where a.overlaps(b) {
                throw CNIError.config("ranges \(a) and \(b) overlap")
            }
        }
        self.ranges = ranges
    }

    public var family: IPAddress.Family { ranges[0].family }

    public func range(containing address: IPAddress) -> AddressRange? {
        ranges.first { $0.contains(address) }
    }

    public func overlaps(_ other: RangeSet) -> Bool {
        ranges.contains { a in other.ranges.contains { a.overlaps($0) } }
    }

    public var description: String { ranges.map(\.description).joined(separator: ",") }
}
