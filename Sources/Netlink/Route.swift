import Addressing
import CNetlink

/// A route of the main table, as podwire reads and writes them.
public struct RouteEntry: Equatable, Sendable {
    public var destination: IPNetwork
    public var gateway: IPAddress?
    public var linkIndex: Int32

    public init(destination: IPNetwork, gateway: IPAddress?, linkIndex: Int32) {
        self.destination = destination
        self.gateway = gateway
        self.linkIndex = linkIndex
    }
}

extension RouteSocket {
    /// Adds a route through `linkIndex`: via `gateway` when given, on-link otherwise.
    public func addRoute(_ route: RouteEntry) throws(NetlinkError) {
        guard let object = rtnl_route_alloc(), let hop = rtnl_route_nh_alloc() else {
            throw NetlinkError("allocate route", code: NLE_NOMEM)
        }
        defer { rtnl_route_put(object) }
        let family = route.destination.family == .v4 ? AF_INET : AF_INET6
        let destination = try LibnlAddress(route.destination.first, prefixLength: route.destination.prefixLength)
        try NetlinkError.check("set route family", rtnl_route_set_family(object, UInt8(family)))
        rtnl_route_set_table(object, UInt32(RT_TABLE_MAIN.rawValue))
        rtnl_route_set_protocol(object, UInt8(RTPROT_BOOT))
        try NetlinkError.check("set route destination", destination.assign { rtnl_route_set_dst(object, $0) })
        rtnl_route_nh_set_ifindex(hop, route.linkIndex)
        if let gateway = route.gateway {
            let via = try LibnlAddress(gateway)
            via.assign { rtnl_route_nh_set_gateway(hop, $0) }
            rtnl_route_set_scope(object, UInt8(RT_SCOPE_UNIVERSE.rawValue))
        } else {
            rtnl_route_set_scope(object, UInt8(RT_SCOPE_LINK.rawValue))
        }
        rtnl_route_add_nexthop(object, hop)
        let via = route.gateway.map { " via \($0)" } ?? ""
        try NetlinkError.check("add route \(route.destination)\(via)",
                               rtnl_route_add(handle, object, NLM_F_CREATE | NLM_F_EXCL))
    }

    /// The main table's routes of one family, each with its first next hop.
    public func routes(family: IPAddress.Family) throws(NetlinkError) -> [RouteEntry] {
        let af = family == .v4 ? AF_INET : AF_INET6
        var cache: OpaquePointer?
        try NetlinkError.check("list routes", rtnl_route_alloc_cache(handle, af, 0, &cache))
        defer { nl_cache_free(cache) }
        var result: [RouteEntry] = []
        var object = nl_cache_get_first(cache)
        while let current = object {
            let route = current
            if rtnl_route_get_table(route) == UInt32(RT_TABLE_MAIN.rawValue),
               let dst = rtnl_route_get_dst(route),
               let address = LibnlAddress.ipAddress(of: dst, family: af),
               let destination = IPNetwork(address: address, prefixLength: Int(nl_addr_get_prefixlen(dst))),
               rtnl_route_get_nnexthops(route) > 0, let hop = rtnl_route_nexthop_n(route, 0) {
                let gateway = rtnl_route_nh_get_gateway(hop).flatMap { LibnlAddress.ipAddress(of: $0, family: af) }
                result.append(RouteEntry(destination: destination, gateway: gateway,
                                         linkIndex: Int32(rtnl_route_nh_get_ifindex(hop))))
            }
            object = nl_cache_get_next(current)
        }
        return result
    }

}
