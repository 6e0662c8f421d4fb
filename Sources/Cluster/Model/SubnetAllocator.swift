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
        let inside = taken.filter { $0.overlaps(network) }.sorted { $0.first < $1.first }
        for subnet in subnets(of: network, length: length) where !inside.contains(where: { $0.overlaps(subnet) }) {
            return subnet
        }
        throw .exhausted(network)
    }
}
