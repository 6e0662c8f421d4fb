import CNetlink
import Namespaces
import Netlink

/// NETLINK_ROUTE: links, addresses, routes, neighbours and traffic control.
public enum RouteFamily: NetlinkFamily {
    public static let protocolNumber = NETLINK_ROUTE
    public static let name = "route"
}

public typealias RouteSocket = NetlinkSocket<RouteFamily>

extension NetlinkMessage {
    /// An `RTM_*LINK` request about the link with `index` (0: a new link, or one named in it).
    init(link operation: String, type: Int, flags: Int32 = 0, family: Int32 = AF_UNSPEC, index: Int32 = 0,
         linkFlags: LinkFlags = [], changing mask: LinkFlags = []) {
        let header = ifinfomsg(ifi_family: UInt8(family), __ifi_pad: 0, ifi_type: 0, ifi_index: index,
                               ifi_flags: linkFlags.rawValue, ifi_change: mask.rawValue)
        self.init(operation, type: UInt16(type), flags: flags, header: header)
    }
}

extension NetlinkMessage {
    /// IFLA_INFO_KIND, without the NUL `ip` leaves off too.
    mutating func putKind(_ kind: String) {
        put(IFLA_INFO_KIND, bytes: Array(kind.utf8))
    }
}

/// The link flags podwire sets (IFF_*).
public struct LinkFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let up = LinkFlags(rawValue: UInt32(IFF_UP.rawValue))
    public static let promiscuous = LinkFlags(rawValue: UInt32(IFF_PROMISC.rawValue))
}

/// NLM_F_CREATE | NLM_F_EXCL: make it, and fail if it is there.
let createExclusive = NLM_F_CREATE | NLM_F_EXCL

extension rtattr_type_t: AttributeType {}

extension NetworkNamespace {
    /// A route socket opened inside this namespace, usable afterwards from any thread.
    public func routeSocket() throws -> RouteSocket {
        try perform { try RouteSocket() }
    }
}
