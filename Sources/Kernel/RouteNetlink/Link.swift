#if canImport(Glibc)
import Glibc
#endif
import Addressing
import CNetlink
import Namespaces
import Netlink

/// A network interface as the kernel reports it.
public struct Link: Equatable, Sendable {
    public var index: Int32
    public var name: String
    public var kind: String?
    public var mtu: Int
    public var mac: MACAddress?
    public var isUp: Bool
    public var isPromiscuous: Bool
    /// The index of the bridge the link is attached to, or 0.
    public var masterIndex: Int32
    /// A veth's other end (IFLA_LINK), an index in that end's netns; 0 for most other links.
    public var peerIndex: Int32
    /// The link's description (IFLA_IFALIAS): podwire's host ends name their attachment in it.
    public var alias: String?
    /// A VXLAN device's settings, as the kernel holds them.
    public var vxlan: VXLANSettings?

    /// What makes a VXLAN device the one a config asks for.
    public struct VXLANSettings: Equatable, Sendable {
        public var vni: UInt32
        public var port: UInt16
        public var local: IPAddress?
        public var underlayIndex: Int32

        public init(vni: UInt32, port: UInt16, local: IPAddress?, underlayIndex: Int32) {
            self.vni = vni
            self.port = port
            self.local = local
            self.underlayIndex = underlayIndex
        }
    }

    public init(index: Int32, name: String, kind: String?, mtu: Int, mac: MACAddress?, isUp: Bool,
                isPromiscuous: Bool, masterIndex: Int32, peerIndex: Int32 = 0, alias: String? = nil) {
        self.index = index
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.mac = mac
        self.isUp = isUp
        self.isPromiscuous = isPromiscuous
        self.masterIndex = masterIndex
        self.peerIndex = peerIndex
        self.alias = alias
    }
}

/// A VXLAN device: `vni` carried over UDP `port` from the `local` address of the underlay link.
public struct VXLANDevice: Sendable {
    public var name: String
    public var vni: UInt32
    public var local: IPAddress
    public var underlayIndex: Int32
    public var port: UInt16
    public var mtu: Int?
    public var mac: MACAddress?

    public init(name: String, vni: UInt32, local: IPAddress, underlayIndex: Int32, port: UInt16 = 4789,
                mtu: Int? = nil, mac: MACAddress? = nil) {
        self.name = name
        self.vni = vni
        self.local = local
        self.underlayIndex = underlayIndex
        self.port = port
        self.mtu = mtu
        self.mac = mac
    }
}

/// What to create: a veth pair whose host end joins a bridge and whose other end is
/// created directly inside the pod's netns, under the name the runtime chose.
public struct VethPair: Sendable {
    public var hostName: String
    public var bridgeIndex: Int32
    public var peerName: String
    public var peerNamespace: NetworkNamespace
    public var mtu: Int?
    public var hostMAC: MACAddress?
    public var peerMAC: MACAddress?

    public init(hostName: String, bridgeIndex: Int32, peerName: String, peerNamespace: NetworkNamespace,
                mtu: Int? = nil, hostMAC: MACAddress? = nil, peerMAC: MACAddress? = nil) {
        self.hostName = hostName
        self.bridgeIndex = bridgeIndex
        self.peerName = peerName
        self.peerNamespace = peerNamespace
        self.mtu = mtu
        self.hostMAC = hostMAC
        self.peerMAC = peerMAC
    }
}

extension NetlinkSocket where Family == RouteFamily {
    /// The link called `name`, or nil when there is none.
    public func link(named name: String) throws(NetlinkError) -> Link? {
        var message = NetlinkMessage(link: "get link \(name)", type: RTM_GETLINK)
        message.put(IFLA_EXT_MASK, u32: UInt32(RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS))
        message.put(IFLA_IFNAME, string: name)
        var link: Link?
        do {
            try get(message) { reply throws(NetlinkError) in link = Link(reply) }
        } catch where error.isNotFound {
            return nil
        }
        return link
    }

    /// Every link of the namespace (a dump: for GC and views, not for the per-pod path).
    public func links() throws(NetlinkError) -> [Link] {
        var message = NetlinkMessage(link: "list links", type: RTM_GETLINK, family: AF_PACKET)
        message.put(IFLA_EXT_MASK, u32: UInt32(RTEXT_FILTER_VF))
        var result: [Link] = []
        try dump(message) { reply throws(NetlinkError) in
            if let link = Link(reply) { result.append(link) }
        }
        return result
    }

    /// Creates the pair in one request, the host end already up and enslaved to the bridge,
    /// so there is never a moment where half of it exists.
    public func addVeth(_ pair: VethPair) throws(NetlinkError) {
        var message = NetlinkMessage(link: "create veth \(pair.hostName) with peer \(pair.peerName)",
                                     type: RTM_NEWLINK, flags: createExclusive, linkFlags: .up, changing: .up)
        if let mtu = pair.mtu { message.put(IFLA_MTU, u32: UInt32(mtu)) }
        if let mac = pair.hostMAC { message.put(IFLA_ADDRESS, bytes: mac.bytes) }
        message.put(IFLA_MASTER, u32: UInt32(bitPattern: pair.bridgeIndex))
        message.put(IFLA_IFNAME, string: pair.hostName)
        message.nested(IFLA_LINKINFO) { info in
            info.putKind("veth")
            info.nested(IFLA_INFO_DATA) { data in
                data.nested(VETH_INFO_PEER) { peer in
                    peer.append(raw: ifinfomsg())
                    if let mtu = pair.mtu { peer.put(IFLA_MTU, u32: UInt32(mtu)) }
                    if let mac = pair.peerMAC { peer.put(IFLA_ADDRESS, bytes: mac.bytes) }
                    peer.put(IFLA_NET_NS_FD, u32: UInt32(bitPattern: pair.peerNamespace.descriptor))
                    peer.put(IFLA_IFNAME, string: pair.peerName)
                }
            }
        }
        try perform(message)
    }

    /// Creates a bridge, up unless asked otherwise, with the given MTU, flags and MAC (the
    /// kernel's random one when nil). Fails with `alreadyExists` when something of that name
    /// appeared meanwhile, which the caller treats as a race it lost.
    public func addBridge(named name: String, mtu: Int?, promiscuous: Bool, vlanFiltering: Bool,
                          mac: MACAddress? = nil, up: Bool = true) throws(NetlinkError) {
        var flags: LinkFlags = promiscuous ? [.up, .promiscuous] : .up
        if !up { flags.remove(.up) }
        var message = NetlinkMessage(link: "create bridge \(name)", type: RTM_NEWLINK, flags: createExclusive,
                                     linkFlags: flags, changing: flags)
        if let mtu { message.put(IFLA_MTU, u32: UInt32(mtu)) }
        if let mac { message.put(IFLA_ADDRESS, bytes: mac.bytes) }
        message.put(IFLA_IFNAME, string: name)
        message.nested(IFLA_LINKINFO) { info in
            info.putKind("bridge")
            if vlanFiltering {
                info.nested(IFLA_INFO_DATA) { $0.put(IFLA_BR_VLAN_FILTERING, u8: 1) }
            }
        }
        try perform(message)
    }

    /// Turns VLAN filtering on for an existing bridge.
    public func enableVlanFiltering(bridge index: Int32) throws(NetlinkError) {
        var message = NetlinkMessage(link: "enable vlan_filtering on bridge \(index)", type: RTM_NEWLINK, index: index)
        message.nested(IFLA_LINKINFO) { info in
            info.putKind("bridge")
            info.nested(IFLA_INFO_DATA) { $0.put(IFLA_BR_VLAN_FILTERING, u8: 1) }
        }
        try perform(message)
    }

    /// A VXLAN device, up, that does not learn: its peers are static forwarding entries.
    public func addVXLAN(_ device: VXLANDevice) throws(NetlinkError) {
        var message = NetlinkMessage(link: "create vxlan \(device.name)", type: RTM_NEWLINK, flags: createExclusive,
                                     linkFlags: .up, changing: .up)
        if let mtu = device.mtu { message.put(IFLA_MTU, u32: UInt32(mtu)) }
        if let mac = device.mac { message.put(IFLA_ADDRESS, bytes: mac.bytes) }
        message.put(IFLA_IFNAME, string: device.name)
        message.nested(IFLA_LINKINFO) { info in
            info.putKind("vxlan")
            info.nested(IFLA_INFO_DATA) { data in
                data.put(IFLA_VXLAN_LINK, u32: UInt32(bitPattern: device.underlayIndex))
                data.put(IFLA_VXLAN_ID, u32: device.vni)
                data.put(device.local.family == .v4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, bytes: device.local.bytes)
                data.put(IFLA_VXLAN_LEARNING, u8: 0)
                data.put(IFLA_VXLAN_PORT, be16: device.port)
            }
        }
        try perform(message)
    }

    /// An `ifb` device, up: traffic redirected to it leaves through its qdisc, which is how
    /// a link's ingress is shaped.
    public func addIFB(named name: String) throws(NetlinkError) {
        var message = NetlinkMessage(link: "create ifb \(name)", type: RTM_NEWLINK, flags: createExclusive,
                                     linkFlags: .up, changing: .up)
        message.put(IFLA_IFNAME, string: name)
        message.nested(IFLA_LINKINFO) { $0.putKind("ifb") }
        try perform(message)
    }

    /// Sets the link's MAC. Given a bridge its own current MAC, this pins it: otherwise a
    /// bridge takes the lowest MAC among its ports, and changes as pods come and go.
    public func setMAC(link index: Int32, _ mac: MACAddress) throws(NetlinkError) {
        var message = NetlinkMessage(link: "set MAC of link \(index)", type: RTM_NEWLINK, index: index)
        message.put(IFLA_ADDRESS, bytes: mac.bytes)
        try perform(message)
    }

    /// Sets the link's alias (`ip link set NAME alias TEXT`). The kernel ignores an alias in
    /// the request that creates a link, so it is a request of its own. At most 255 bytes.
    public func setAlias(link index: Int32, _ alias: String) throws(NetlinkError) {
        var message = NetlinkMessage(link: "set alias of link \(index)", type: RTM_NEWLINK, index: index)
        message.put(IFLA_IFALIAS, bytes: Array(alias.utf8))
        try perform(message)
    }

    /// Sets the flags in `mask` to their values in `flags`.
    public func setFlags(link index: Int32, _ flags: LinkFlags, mask: LinkFlags) throws(NetlinkError) {
        try perform(NetlinkMessage(link: "set flags of link \(index)", type: RTM_NEWLINK, index: index,
                                   linkFlags: flags, changing: mask))
    }

    /// Makes the link a port of `master` (`ip link set NAME master BRIDGE`).
    public func setMaster(link index: Int32, _ master: Int32) throws(NetlinkError) {
        var message = NetlinkMessage(link: "set master of link \(index) to \(master)", type: RTM_NEWLINK, index: index)
        message.put(IFLA_MASTER, u32: UInt32(bitPattern: master))
        try perform(message)
    }

    public func setUp(link index: Int32) throws(NetlinkError) {
        try setFlags(link: index, .up, mask: .up)
    }

    /// Deletes the link; returns false when it did not exist (already gone is not an error).
    /// Named, not indexed: the kernel looks the name up, which spares a request.
    @discardableResult
    public func deleteLink(named name: String) throws(NetlinkError) -> Bool {
        var message = NetlinkMessage(link: "delete link \(name)", type: RTM_DELLINK)
        message.put(IFLA_IFNAME, string: name)
        do {
            try perform(message)
            return true
        } catch where error.isNotFound {
            return false
        }
    }

    /// The device group podwire moves links into on their way out. Deleting a group is one
    /// teardown for all its links: they share its RCU grace periods, which are nearly all of
    /// a veth's deletion and are waited out holding the RTNL lock, so DELs running at once,
    /// or a GC's stale links, no longer queue one link at a time.
    public static var departingGroup: UInt32 { 0x7077_0de1 }

    /// Deletes the links, those of other callers waiting in `departingGroup` with them;
    /// names with no link are skipped. When it returns, none of them is listed any more. A
    /// link that cannot be marked does not hold back the others: they go, then it is reported.
    public func deleteLinks(named names: [String]) throws(NetlinkError) {
        var marked: [String] = []
        var failure: NetlinkError?
        for name in names {
            do {
                if try markDeparting(name) { marked.append(name) }
            } catch {
                failure = failure ?? error
            }
        }
        if !marked.isEmpty { try deleteDeparting(marked) }
        if let failure { throw failure }
    }

    /// Moves the link into `departingGroup`; false when there is no such link.
    private func markDeparting(_ name: String) throws(NetlinkError) -> Bool {
        var message = NetlinkMessage(link: "mark \(name) for deletion", type: RTM_NEWLINK)
        message.put(IFLA_GROUP, u32: Self.departingGroup)
        message.put(IFLA_IFNAME, string: name)
        do {
            try perform(message)
            return true
        } catch where error.isNotFound {
            return false
        }
    }

    private func deleteDeparting(_ marked: [String]) throws(NetlinkError) {
        var message = NetlinkMessage(link: "delete the links in group \(Self.departingGroup)", type: RTM_DELLINK)
        message.put(IFLA_GROUP, u32: Self.departingGroup)
        do {
            try perform(message)
        } catch where error.isNotFound {
            // Another caller's group deletion took them: the RTNL lock it held until they
            // were unlisted is the one this request waited for.
        } catch {
            // A link in the group that cannot be deleted blocks the group: one at a time, then.
            for name in marked { try deleteLink(named: name) }
        }
    }
}

extension Link {
    /// The link an RTM_NEWLINK reply (or RTM_DELLINK notification) describes; nil for any
    /// other message.
    init?(_ reply: NetlinkReply) {
        guard reply.type == UInt16(RTM_NEWLINK) || reply.type == UInt16(RTM_DELLINK),
              let info = reply.header(ifinfomsg.self) else { return nil }
        let attributes = reply.attributes(after: ifinfomsg.self)
        var name: String?, kind: String?, mtu = 0, mac: MACAddress?, master: Int32 = 0, peer: Int32 = 0
        var alias: String?, vxlan: VXLANSettings?
        for attribute in attributes {
            switch Int(attribute.type) {
            case IFLA_IFNAME: name = attribute.string
            case IFLA_LINKINFO:
                kind = attribute.nested[IFLA_INFO_KIND]?.string
                if kind == "vxlan", let data = attribute.nested[IFLA_INFO_DATA]?.nested {
                    let local = (data[IFLA_VXLAN_LOCAL] ?? data[IFLA_VXLAN_LOCAL6])
                        .flatMap { IPAddress(bytes: $0.bytes) }
                    vxlan = VXLANSettings(vni: data[IFLA_VXLAN_ID]?.u32 ?? 0,
                                          port: UInt16(bigEndian: data[IFLA_VXLAN_PORT]?.u16 ?? 0), local: local,
                                          underlayIndex: Int32(bitPattern: data[IFLA_VXLAN_LINK]?.u32 ?? 0))
                }
            case IFLA_MTU: mtu = Int(attribute.u32 ?? 0)
            case IFLA_ADDRESS: mac = MACAddress(bytes: attribute.bytes)
            case IFLA_MASTER: master = Int32(bitPattern: attribute.u32 ?? 0)
            case IFLA_LINK: peer = Int32(bitPattern: attribute.u32 ?? 0)
            case IFLA_IFALIAS: alias = attribute.string
            default: break
            }
        }
        guard let name else { return nil }
        self.init(index: info.ifi_index, name: name, kind: kind, mtu: mtu, mac: mac,
                  isUp: info.ifi_flags & LinkFlags.up.rawValue != 0,
                  isPromiscuous: info.ifi_flags & LinkFlags.promiscuous.rawValue != 0,
                  masterIndex: master, peerIndex: peer, alias: alias)
        self.vxlan = vxlan
    }
}
