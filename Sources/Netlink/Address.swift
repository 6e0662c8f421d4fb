import Addressing
import CNetlink

extension RouteSocket {
    /// Adds `address` (with its prefix) to the link. Duplicate address detection is skipped
    /// unless asked for, so an IPv6 address is usable at once instead of after a second or more.
    public func addAddress(_ address: IPNetwork, link index: Int32, detectDuplicates: Bool = false) throws(NetlinkError) {
        guard let object = rtnl_addr_alloc() else { throw NetlinkError("allocate address", code: NLE_NOMEM) }
        defer { rtnl_addr_put(object) }
        let local = try LibnlAddress(address.address, prefixLength: address.prefixLength)
        rtnl_addr_set_ifindex(object, index)
        try NetlinkError.check("set address", rtnl_addr_set_local(object, local.handle))
        if address.family == .v4, address.prefixLength < 31 {
            let broadcast = try LibnlAddress(address.last)
            try NetlinkError.check("set broadcast", rtnl_addr_set_broadcast(object, broadcast.handle))
        }
        if address.family == .v6, !detectDuplicates {
            rtnl_addr_set_flags(object, UInt32(IFA_F_NODAD))
        }
        try NetlinkError.check("add address \(address) to link \(index)", rtnl_addr_add(handle, object, 0))
    }

    public func deleteAddress(_ address: IPNetwork, link index: Int32) throws(NetlinkError) {
        guard let object = rtnl_addr_alloc() else { throw NetlinkError("allocate address", code: NLE_NOMEM) }
        defer { rtnl_addr_put(object) }
        let local = try LibnlAddress(address.address, prefixLength: address.prefixLength)
        rtnl_addr_set_ifindex(object, index)
        try NetlinkError.check("set address", rtnl_addr_set_local(object, local.handle))
        try NetlinkError.check("delete address \(address) from link \(index)", rtnl_addr_delete(handle, object, 0))
    }

    /// The addresses on the link, of one family or all.
    public func addresses(link index: Int32, family: IPAddress.Family? = nil) throws(NetlinkError) -> [IPNetwork] {
        var cache: OpaquePointer?
        try NetlinkError.check("list addresses", rtnl_addr_alloc_cache(handle, &cache))
        defer { nl_cache_free(cache) }
        var result: [IPNetwork] = []
        var object = nl_cache_get_first(cache)
        while let current = object {
            let address = current
            if rtnl_addr_get_ifindex(address) == index, let local = rtnl_addr_get_local(address),
               let ip = LibnlAddress.ipAddress(of: local, family: rtnl_addr_get_family(address)),
               family == nil || ip.family == family,
               let network = IPNetwork(address: ip, prefixLength: Int(rtnl_addr_get_prefixlen(address))) {
                result.append(network)
            }
            object = nl_cache_get_next(current)
        }
        return result
    }
}
