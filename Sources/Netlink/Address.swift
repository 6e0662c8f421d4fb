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
        try NetlinkError.check("set address", local.assign { rtnl_addr_set_local(object, $0) })
        if address.family == .v4, address.prefixLength < 31 {
            let broadcast = try LibnlAddress(address.last)
            try NetlinkError.check("set broadcast", broadcast.assign { rtnl_addr_set_broadcast(object, $0) })
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
        try NetlinkError.check("set address", local.assign { rtnl_addr_set_local(object, $0) })
        try NetlinkError.check("delete address \(address) from link \(index)", rtnl_addr_delete(handle, object, 0))
    }

    /// The addresses on the link, of one family or all. The kernel filters the dump by link
    /// when the socket asks for strict checking (Linux 4.20 and later), so a node with a
    /// thousand pods' link-local addresses sends only the bridge's; the filter below keeps
    /// older kernels right.
    public func addresses(link index: Int32, family: IPAddress.Family? = nil) throws(NetlinkError) -> [IPNetwork] {
        let familyCode = family.map { $0 == .v4 ? AF_INET : AF_INET6 } ?? AF_UNSPEC
        let request = NetlinkRequest("list addresses of link \(index)", addressType: Int32(RTM_GETADDR), flags: NLM_F_DUMP,
                                     family: familyCode, index: index)
        var result: [IPNetwork] = []
        setStrictChecking(true)
        defer { setStrictChecking(false) }
        try exchange(request) { message throws(NetlinkError) in
            guard Int32(message.pointee.nlmsg_type) == RTM_NEWADDR else { return }
            let info = nlmsg_data(message).assumingMemoryBound(to: ifaddrmsg.self).pointee
            guard Int32(info.ifa_index) == index, familyCode == AF_UNSPEC || Int32(info.ifa_family) == familyCode else { return }
            // IFA_LOCAL is the interface's own IPv4 address (IFA_ADDRESS is the peer's on a
            // point-to-point link); IPv6 sends IFA_ADDRESS alone.
            let header = Int32(MemoryLayout<ifaddrmsg>.size)
            guard let attribute = nlmsg_find_attr(message, header, Int32(IFA_LOCAL)) ?? nlmsg_find_attr(message, header, Int32(IFA_ADDRESS)),
                  let data = nla_data(attribute) else { return }
            let bytes = [UInt8](UnsafeRawBufferPointer(start: data, count: Int(nla_len(attribute))))
            if let address = IPAddress(bytes: bytes), let network = IPNetwork(address: address, prefixLength: Int(info.ifa_prefixlen)) {
                result.append(network)
            }
        }
        return result
    }
}
