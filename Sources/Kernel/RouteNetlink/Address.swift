#if canImport(Glibc)
import Glibc
#endif
import Addressing
import CNetlink
import Netlink

extension NetlinkSocket where Family == RouteFamily {
    /// Adds `address` (with its prefix) to the link. Duplicate address detection is skipped
    /// unless asked for, so an IPv6 address is usable at once instead of after a second or more.
    public func addAddress(_ address: IPNetwork, link index: Int32,
                           detectDuplicates: Bool = false) throws(NetlinkError) {
        let flags = address.family == .v6 && !detectDuplicates ? UInt8(IFA_F_NODAD) : 0
        var message = addressMessage("add address \(address) to link \(index)", RTM_NEWADDR,
                                     flags: createExclusive, address, link: index, addressFlags: flags)
        message.put(IFA_LOCAL, bytes: address.address.bytes)
        if address.family == .v4, address.prefixLength < 31 {
            message.put(IFA_BROADCAST, bytes: address.last.bytes)
        }
        message.put(IFA_ADDRESS, bytes: address.address.bytes)
        try perform(message)
    }

    public func deleteAddress(_ address: IPNetwork, link index: Int32) throws(NetlinkError) {
        var message = addressMessage("delete address \(address) from link \(index)", RTM_DELADDR,
                                     address, link: index)
        message.put(IFA_LOCAL, bytes: address.address.bytes)
        message.put(IFA_ADDRESS, bytes: address.address.bytes)
        try perform(message)
    }

    /// The addresses on the link, of one family or all. The kernel filters the dump by link
    /// (the socket asks for strict checking), so a node with a thousand pods' link-local
    /// addresses sends only the bridge's.
    public func addresses(link index: Int32, family: IPAddress.Family? = nil) throws(NetlinkError) -> [IPNetwork] {
        let header = ifaddrmsg(ifa_family: UInt8(family.map(\.addressFamily) ?? AF_UNSPEC), ifa_prefixlen: 0,
                               ifa_flags: 0, ifa_scope: 0, ifa_index: UInt32(bitPattern: index))
        let message = NetlinkMessage("list addresses of link \(index)", type: UInt16(RTM_GETADDR), header: header)
        var result: [IPNetwork] = []
        try dump(message) { reply throws(NetlinkError) in
            guard reply.type == UInt16(RTM_NEWADDR), let info = reply.header(ifaddrmsg.self),
                  Int32(bitPattern: info.ifa_index) == index else { return }
            // IFA_LOCAL is the interface's own IPv4 address (IFA_ADDRESS is the peer's on a
            // point-to-point link); IPv6 sends IFA_ADDRESS alone.
            let attributes = reply.attributes(after: ifaddrmsg.self)
            guard let value = attributes[IFA_LOCAL] ?? attributes[IFA_ADDRESS],
                  let address = IPAddress(bytes: value.bytes),
                  let network = IPNetwork(address: address, prefixLength: Int(info.ifa_prefixlen)) else { return }
            result.append(network)
        }
        return result
    }

    private func addressMessage(_ operation: String, _ type: Int, flags: Int32 = 0, _ address: IPNetwork,
                                link index: Int32, addressFlags: UInt8 = 0) -> NetlinkMessage {
        let header = ifaddrmsg(ifa_family: UInt8(address.family.addressFamily),
                               ifa_prefixlen: UInt8(address.prefixLength), ifa_flags: addressFlags,
                               ifa_scope: UInt8(RT_SCOPE_UNIVERSE.rawValue), ifa_index: UInt32(bitPattern: index))
        return NetlinkMessage(operation, type: UInt16(type), flags: flags, header: header)
    }
}

extension IPAddress.Family {
    /// AF_INET or AF_INET6.
    public var addressFamily: Int32 { self == .v4 ? AF_INET : AF_INET6 }
}
