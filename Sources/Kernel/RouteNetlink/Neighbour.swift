#if canImport(Glibc)
import Glibc
#endif
import Addressing
import CNetlink
import Netlink

/// A static neighbour (`ip neigh replace IP lladdr MAC dev D nud permanent`), or a bridge
/// forwarding entry on a VXLAN device (`bridge fdb append MAC dev D dst IP self permanent`):
/// the two halves of reaching a peer's VTEP without learning.
public struct Neighbour: Hashable, Sendable {
    public enum Kind: Sendable {
        /// An IP neighbour: `address` answers to `mac` on the link.
        case neighbour
        /// A forwarding entry of the VXLAN device: frames for `mac` go to the VTEP at `address`.
        case forwarding
    }

    public var kind: Kind
    public var linkIndex: Int32
    public var address: IPAddress
    public var mac: MACAddress

    public init(_ kind: Kind, link: Int32, address: IPAddress, mac: MACAddress) {
        self.kind = kind
        linkIndex = link
        self.address = address
        self.mac = mac
    }
}

extension NetlinkSocket where Family == RouteFamily {
    /// Adds the entry, or replaces one for the same key.
    public func replaceNeighbour(_ entry: Neighbour) throws(NetlinkError) {
        let flags = entry.kind == .neighbour ? NLM_F_CREATE | NLM_F_REPLACE : NLM_F_CREATE | NLM_F_APPEND
        try perform(neighbourMessage("add \(entry.kind) \(entry.address) \(entry.mac)", RTM_NEWNEIGH, entry,
                                     flags: flags))
    }

    /// Deletes the entry; one that is not there is no error.
    public func deleteNeighbour(_ entry: Neighbour) throws(NetlinkError) {
        do {
            try perform(neighbourMessage("delete \(entry.kind) \(entry.address)", RTM_DELNEIGH, entry,
                                         deleting: true))
        } catch where error.isNotFound {
        }
    }

    /// The permanent entries of one kind on the link.
    public func neighbours(_ kind: Neighbour.Kind, link index: Int32) throws(NetlinkError) -> [Neighbour] {
        // As `ip neigh show dev D` and `bridge fdb show dev D` ask: the kernel filters by link.
        let forwarding = kind == .forwarding
        let header = ndmsg(ndm_family: UInt8(forwarding ? AF_BRIDGE : AF_UNSPEC), ndm_pad1: 0, ndm_pad2: 0,
                           ndm_ifindex: forwarding ? index : 0, ndm_state: 0, ndm_flags: 0, ndm_type: 0)
        var message = NetlinkMessage("list \(kind) entries of link \(index)", type: UInt16(RTM_GETNEIGH),
                                     header: header)
        if !forwarding { message.put(NDA_IFINDEX, u32: UInt32(bitPattern: index)) }
        var result: [Neighbour] = []
        try dump(message) { reply throws(NetlinkError) in
            guard reply.type == UInt16(RTM_NEWNEIGH), let info = reply.header(ndmsg.self),
                  info.ndm_ifindex == index, info.ndm_state & UInt16(NUD_PERMANENT) != 0 else { return }
            let attributes = reply.attributes(after: ndmsg.self)
            guard let address = attributes[NDA_DST].flatMap({ IPAddress(bytes: $0.bytes) }),
                  let mac = attributes[NDA_LLADDR].flatMap({ MACAddress(bytes: $0.bytes) }) else { return }
            result.append(Neighbour(kind, link: index, address: address, mac: mac))
        }
        return result
    }

    /// What `ip neigh` and `bridge fdb` send: the header, NDA_DST and NDA_LLADDR in the
    /// order each tool writes them.
    /// A forwarding entry is the VXLAN device's own (NTF_SELF), not its bridge's, and never
    /// resolved (NUD_NOARP); deleting a neighbour names only its address.
    private func neighbourMessage(_ operation: String, _ type: Int, _ entry: Neighbour,
                                  flags: Int32 = 0, deleting: Bool = false) -> NetlinkMessage {
        let forwarding = entry.kind == .forwarding
        let family = forwarding ? AF_BRIDGE : entry.address.family.addressFamily
        let state = forwarding ? NUD_PERMANENT | NUD_NOARP : NUD_PERMANENT
        let header = ndmsg(ndm_family: UInt8(family), ndm_pad1: 0, ndm_pad2: 0, ndm_ifindex: entry.linkIndex,
                           ndm_state: UInt16(state), ndm_flags: forwarding ? UInt8(NTF_SELF) : 0, ndm_type: 0)
        var message = NetlinkMessage(operation, type: UInt16(type), flags: flags, header: header)
        if forwarding {
            message.put(NDA_LLADDR, bytes: entry.mac.bytes)
            message.put(NDA_DST, bytes: entry.address.bytes)
        } else {
            message.put(NDA_DST, bytes: entry.address.bytes)
            if !deleting { message.put(NDA_LLADDR, bytes: entry.mac.bytes) }
        }
        return message
    }
}
