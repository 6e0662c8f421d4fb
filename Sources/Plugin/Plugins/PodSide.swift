import Addressing
import CNI
import Namespaces
import Netlink
import RouteNetlink

/// The pod's side: addresses, link up, routes inside the pod's netns, through a socket
/// opened there. `lo` is left to the loopback plugin, as the reference bridge leaves it.
struct PodSide {
    let socket: RouteSocket
    let link: Link

    /// Configures the interface with the IPs the result gives it and the result's routes.
    /// A route without a gateway goes through the gateway of its family, as the reference's
    /// `ConfigureIface` does.
    func configure(_ result: CNIResult, interfaceIndex: Int, detectDuplicates: Bool) throws {
        let ips = result.ips.filter { $0.interface == nil || $0.interface == interfaceIndex }
        for ip in ips {
            try socket.addAddress(ip.address, link: link.index, detectDuplicates: detectDuplicates)
        }
        try socket.setUp(link: link.index)
        for route in result.routes {
            let gateway = route.gw ?? ips.first { $0.address.family == route.dst.family && $0.gateway != nil }?.gateway
            try socket.addRoute(RouteEntry(destination: route.dst.network, gateway: gateway, linkIndex: link.index))
        }
    }
}
