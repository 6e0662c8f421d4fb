#if canImport(Glibc)
import Glibc
#endif
import Addressing
import CNetlink
import Netlink

/// A change the kernel reports to the state a daemon keeps in it (`ip monitor link address
/// route neigh`): what changed, and whether it went.
public enum StateEvent: Equatable, Sendable {
    /// The link as it is now, or as it was when removed.
    case link(Link, removed: Bool)
    case address(IPNetwork, link: Int32, removed: Bool)
    /// A unicast route of the main table.
    case route(RouteEntry, removed: Bool)
    /// An IP neighbour or a forwarding entry on the link.
    case neighbour(link: Int32, removed: Bool)
    /// Forwarding of the family turned on or off: for one link, or (`link` nil) for all.
    case forwarding(IPAddress.Family, link: Int32?, on: Bool)
}

extension NetlinkSocket where Family == RouteFamily {
    /// A socket told of every change to links, addresses, routes, neighbours and forwarding.
    public static func stateEvents() throws(NetlinkError) -> RouteSocket {
        let socket = try RouteSocket()
        for group in [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
                      RTNLGRP_NEIGH, RTNLGRP_IPV4_NETCONF, RTNLGRP_IPV6_NETCONF] {
            try socket.subscribe(to: UInt32(group.rawValue))
        }
        return socket
    }

    /// Waits for the next notifications. A reader that fell behind gets ENOBUFS: what was
    /// lost must be read afresh.
    public func nextStateEvents() throws(NetlinkError) -> [StateEvent] {
        var events: [StateEvent] = []
        try notifications { reply throws(NetlinkError) in
            if let event = StateEvent(reply) { events.append(event) }
        }
        return events
    }
}

extension StateEvent {
    /// The event a notification tells of; nil for a message of another kind.
    init?(_ reply: NetlinkReply) {
        switch Int(reply.type) {
        case RTM_NEWLINK, RTM_DELLINK:
            guard let link = Link(reply) else { return nil }
            self = .link(link, removed: Int(reply.type) == RTM_DELLINK)
        case RTM_NEWADDR, RTM_DELADDR:
            guard let info = reply.header(ifaddrmsg.self) else { return nil }
            let attributes = reply.attributes(after: ifaddrmsg.self)
            guard let value = attributes[IFA_LOCAL] ?? attributes[IFA_ADDRESS],
                  let address = IPAddress(bytes: value.bytes),
                  let network = IPNetwork(address: address, prefixLength: Int(info.ifa_prefixlen)) else { return nil }
            self = .address(network, link: Int32(bitPattern: info.ifa_index), removed: Int(reply.type) == RTM_DELADDR)
        case RTM_NEWROUTE, RTM_DELROUTE:
            guard let route = RouteEntry(notification: reply) else { return nil }
            self = .route(route, removed: Int(reply.type) == RTM_DELROUTE)
        case RTM_NEWNEIGH, RTM_DELNEIGH:
            guard let info = reply.header(ndmsg.self) else { return nil }
            self = .neighbour(link: info.ndm_ifindex, removed: Int(reply.type) == RTM_DELNEIGH)
        case RTM_NEWNETCONF:
            // Sent for any setting of the netconf family (rp_filter too): only forwarding counts.
            guard let info = reply.header(netconfmsg.self),
                  let family: IPAddress.Family = Int32(info.ncm_family) == AF_INET ? .v4
                    : Int32(info.ncm_family) == AF_INET6 ? .v6 : nil else { return nil }
            let attributes = reply.attributes(after: netconfmsg.self)
            guard let forwarding = attributes[NETCONFA_FORWARDING]?.u32,
                  let index = attributes[NETCONFA_IFINDEX]?.u32.map({ Int32(bitPattern: $0) }),
                  index != NETCONFA_IFINDEX_DEFAULT else { return nil }
            self = .forwarding(family, link: index == NETCONFA_IFINDEX_ALL ? nil : index, on: forwarding != 0)
        default:
            return nil
        }
    }
}
