import Addressing
import ClusterModel
import Netlink
import RouteNetlink

/// The pods' bridge may carry addresses of the cluster's networks only inside the node's own
/// subnets. After an operator removed the node and it joined again with another subnet, the
/// old subnet's gateway address would stay on the bridge, and its connected route would keep
/// the old subnet, now another node's, on this node (flannel #520). It goes; the plugin adds
/// the new gateway with the first pod of the new subnet.
public enum BridgeGateways {
    /// The addresses removed from `bridge`; none when it does not exist yet.
    public static func dropStale(socket: RouteSocket, bridge: String, node: NodeRecord,
                                 config: ClusterConfig) throws(NetlinkError) -> [IPNetwork] {
        guard let link = try socket.link(named: bridge) else { return [] }
        let stale = try socket.addresses(link: link.index).filter { isStale($0, node: node, config: config) }
        for address in stale { try socket.deleteAddress(address, link: link.index) }
        return stale
    }

    /// An address of a cluster network outside the node's own subnets: one a pod of a subnet
    /// the node held before still names as its gateway, which is not put back either.
    public static func isStale(_ address: IPNetwork, node: NodeRecord, config: ClusterConfig) -> Bool {
        config.networks.contains { $0.contains(address.address) }
            && !node.subnets.contains { $0.contains(address.address) }
    }
}
