import Addressing

/// Which subnet of a cluster network a new node gets: the first one no node holds.
public enum SubnetAllocator {
    /// The subnets of `network` of length `length`, in order; at most `limit` of them.
    public static func subnets(of network: IPNetwork, length: Int, limit: Int = 1 << 20) -> [IPNetwork] {
        guard length >= network.prefixLength, length <= network.family.bitWidth else { return [] }
        let count = length - network.prefixLength >= 20 ? limit : min(limit, 1 << (length - network.prefixLength))
        var result: [IPNetwork] = []
        result.reserveCapacity(count)
        var address: IPAddress? = network.first
        while let current = address, result.count < count, network.contains(current) {
            guard let subnet = IPNetwork(address: current, prefixLength: length) else { break }
            result.append(subnet)
            address = subnet.last.advanced(by: 1)
        }
        return result
    }

    /// The first subnet of `network` that overlaps none of `taken`, whatever their lengths: a
    /// node registered under another subnet length keeps its subnet, and no one gets a part of it.
    public static func firstFree(in network: IPNetwork, length: Int,
                                 taken: some Sequence<IPNetwork>) throws(ClusterError) -> IPNetwork {
        let inside = taken.filter { $0.overlaps(network) }
        // Walked, not listed: an IPv6 network has 65536 /64s in a /48, and the first free one
        // is near the start.
        guard length >= network.prefixLength, length <= network.family.bitWidth else { throw .exhausted(network) }
        var address: IPAddress? = network.first
        while let current = address, network.contains(current),
              let subnet = IPNetwork(address: current, prefixLength: length) {
            if !inside.contains(where: { $0.overlaps(subnet) }) { return subnet }
            address = subnet.last.advanced(by: 1)
        }
        throw .exhausted(network)
    }
}
