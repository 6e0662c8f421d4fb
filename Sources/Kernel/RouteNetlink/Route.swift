#if canImport(Glibc)
import Glibc
#endif
import Addressing
import CNetlink
import Netlink

/// A route of the main table, as podwire reads and writes them.
public struct RouteEntry: Hashable, Sendable {
    public var destination: IPNetwork
    public var gateway: IPAddress?
    public var linkIndex: Int32
    /// Who made the route (`RouteProtocol`): routes podwire's node daemon owns carry its own number.
    public var protocolNumber: UInt8
    /// The gateway is taken as reachable on the link without a route to it (RTNH_F_ONLINK):
    /// a peer's VTEP address behind a VXLAN device.
    public var onLink: Bool

    public init(destination: IPNetwork, gateway: IPAddress?, linkIndex: Int32,
                protocolNumber: UInt8 = RouteProtocol.boot, onLink: Bool = false) {
        self.destination = destination
        self.gateway = gateway
        self.linkIndex = linkIndex
        self.protocolNumber = protocolNumber
        self.onLink = onLink
    }
}

/// Who made a route, as the kernel records it (`rtm_protocol`, `ip route … proto N`).
public enum RouteProtocol {
    /// RTPROT_BOOT, what `ip route add` sets when not told otherwise.
    public static let boot = UInt8(RTPROT_BOOT)
    /// The routes podwire's node daemon owns: an unassigned number above RTPROT_STATIC, which the
    /// kernel does not interpret. Its reconciler removes any route of this number it did not plan.
    public static let podwire: UInt8 = 112
}

extension NetlinkSocket where Family == RouteFamily {
    /// Adds a route through `linkIndex`: via `gateway` when given, on-link otherwise.
    public func addRoute(_ route: RouteEntry) throws(NetlinkError) {
        let via = route.gateway.map { " via \($0)" } ?? ""
        try perform(routeMessage("add route \(route.destination)\(via)", RTM_NEWROUTE, route, flags: createExclusive))
    }

    /// Deletes the route; one that is not there is no error.
    public func deleteRoute(_ route: RouteEntry) throws(NetlinkError) {
        do {
            try perform(routeMessage("delete route \(route.destination)", RTM_DELROUTE, route))
        } catch where error.errno == ESRCH || error.isNotFound {
        }
    }

    /// The route the kernel would take to `address` (`ip route get ADDRESS`); nil when there is
    /// none. A route without a gateway means the address is on that link.
    public func route(to address: IPAddress) throws(NetlinkError) -> RouteEntry? {
        // RTM_F_LOOKUP_TABLE, as ip asks, names the table the route came from; IPv6's strict
        // check refuses every flag but RTM_F_FIB_MATCH (EINVAL), and ip sends none there.
        let flags = address.family == .v4 ? UInt32(RTM_F_LOOKUP_TABLE) : 0
        let header = rtmsg(rtm_family: UInt8(address.family.addressFamily), rtm_dst_len: UInt8(address.family.bitWidth),
                           rtm_src_len: 0, rtm_tos: 0, rtm_table: 0, rtm_protocol: 0, rtm_scope: 0, rtm_type: 0,
                           rtm_flags: flags)
        var message = NetlinkMessage("look up the route to \(address)", type: UInt16(RTM_GETROUTE), header: header)
        message.put(RTA_DST, bytes: address.bytes)
        var found: RouteEntry?
        do {
            try get(message) { reply throws(NetlinkError) in found = RouteEntry(lookup: reply) }
        } catch where error.errno == ENETUNREACH || error.errno == EHOSTUNREACH {
            return nil
        }
        return found
    }

    /// The main table's routes of one family, each with its first next hop.
    public func routes(family: IPAddress.Family) throws(NetlinkError) -> [RouteEntry] {
        let header = rtmsg(rtm_family: UInt8(family.addressFamily), rtm_dst_len: 0, rtm_src_len: 0, rtm_tos: 0,
                           rtm_table: 0, rtm_protocol: 0, rtm_scope: 0, rtm_type: 0, rtm_flags: 0)
        var message = NetlinkMessage("list routes", type: UInt16(RTM_GETROUTE), header: header)
        message.put(RTA_TABLE, u32: UInt32(RT_TABLE_MAIN.rawValue))
        var result: [RouteEntry] = []
        try dump(message) { reply throws(NetlinkError) in
            if let route = RouteEntry(reply) { result.append(route) }
        }
        return result
    }

    /// The request `ip route add` sends: the header, then RTA_DST, RTA_GATEWAY and RTA_OIF.
    /// A deletion matches any scope, type and flags (RT_SCOPE_NOWHERE, 0), as `ip route del` asks.
    private func routeMessage(_ operation: String, _ type: Int, _ route: RouteEntry,
                              flags: Int32 = 0) -> NetlinkMessage {
        let deleting = type == RTM_DELROUTE
        let scope = deleting ? RT_SCOPE_NOWHERE : route.gateway == nil ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE
        let header = rtmsg(rtm_family: UInt8(route.destination.family.addressFamily),
                           rtm_dst_len: UInt8(route.destination.prefixLength), rtm_src_len: 0, rtm_tos: 0,
                           rtm_table: UInt8(RT_TABLE_MAIN.rawValue), rtm_protocol: route.protocolNumber,
                           rtm_scope: UInt8(scope.rawValue), rtm_type: deleting ? 0 : UInt8(RTN_UNICAST),
                           rtm_flags: route.onLink && !deleting ? UInt32(RTNH_F_ONLINK) : 0)
        var message = NetlinkMessage(operation, type: UInt16(type), flags: flags, header: header)
        message.put(RTA_DST, bytes: route.destination.first.bytes)
        if let gateway = route.gateway { message.put(RTA_GATEWAY, bytes: gateway.bytes) }
        message.put(RTA_OIF, u32: UInt32(bitPattern: route.linkIndex))
        return message
    }
}

extension RouteEntry {
    /// The answer to a lookup: the route to one address, whatever table it came from.
    init?(lookup reply: NetlinkReply) {
        guard reply.type == UInt16(RTM_NEWROUTE), let info = reply.header(rtmsg.self) else { return nil }
        let attributes = reply.attributes(after: rtmsg.self)
        guard let destination = attributes[RTA_DST].flatMap({ IPAddress(bytes: $0.bytes) })
                .flatMap({ IPNetwork(address: $0, prefixLength: Int(info.rtm_dst_len)) }),
              let link = attributes[RTA_OIF]?.u32 else { return nil }
        self.init(destination: destination, gateway: attributes[RTA_GATEWAY].flatMap { IPAddress(bytes: $0.bytes) },
                  linkIndex: Int32(bitPattern: link), protocolNumber: info.rtm_protocol,
                  onLink: info.rtm_flags & UInt32(RTNH_F_ONLINK) != 0)
    }

    /// A unicast route of the main table from an RTM_NEWROUTE reply; nil for anything else.
    init?(_ reply: NetlinkReply) {
        guard reply.type == UInt16(RTM_NEWROUTE) else { return nil }
        self.init(notification: reply)
    }

    /// A unicast route of the main table from an RTM_NEWROUTE or RTM_DELROUTE message.
    init?(notification reply: NetlinkReply) {
        guard reply.type == UInt16(RTM_NEWROUTE) || reply.type == UInt16(RTM_DELROUTE),
              let info = reply.header(rtmsg.self), info.rtm_type == UInt8(RTN_UNICAST) else { return nil }
        let attributes = reply.attributes(after: rtmsg.self)
        let table = attributes[RTA_TABLE]?.u32 ?? UInt32(info.rtm_table)
        guard table == UInt32(RT_TABLE_MAIN.rawValue) else { return nil }
        let width = info.rtm_family == UInt8(AF_INET) ? 4 : 16
        let address = attributes[RTA_DST].flatMap { IPAddress(bytes: $0.bytes) }
            ?? IPAddress(bytes: [UInt8](repeating: 0, count: width))
        guard let address, let destination = IPNetwork(address: address, prefixLength: Int(info.rtm_dst_len)),
              let link = attributes[RTA_OIF]?.u32 else { return nil }
        self.init(destination: destination,
                  gateway: attributes[RTA_GATEWAY].flatMap { IPAddress(bytes: $0.bytes) },
                  linkIndex: Int32(bitPattern: link), protocolNumber: info.rtm_protocol,
                  onLink: info.rtm_flags & UInt32(RTNH_F_ONLINK) != 0)
    }
}
