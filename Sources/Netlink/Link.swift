import Addressing
import CNetlink

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

extension RouteSocket {
    /// The link called `name`, or nil when there is none.
    public func link(named name: String) throws(NetlinkError) -> Link? {
        try fetchLink(index: 0, name: name)
    }

    /// Creates the pair in one request, the host end already up and enslaved to the bridge,
    /// so there is never a moment where half of it exists.
    public func addVeth(_ pair: VethPair) throws(NetlinkError) {
        guard let link = rtnl_link_veth_alloc() else { throw NetlinkError("allocate veth", code: NLE_NOMEM) }
        defer { rtnl_link_veth_release(link) }
        let peer = rtnl_link_veth_get_peer(link)!
        defer { rtnl_link_put(peer) }

        rtnl_link_set_name(link, pair.hostName)
        rtnl_link_set_master(link, pair.bridgeIndex)
        rtnl_link_set_flags(link, UInt32(IFF_UP.rawValue))
        rtnl_link_set_name(peer, pair.peerName)
        rtnl_link_set_ns_fd(peer, pair.peerNamespace.descriptor)
        if let mtu = pair.mtu {
            rtnl_link_set_mtu(link, UInt32(mtu))
            rtnl_link_set_mtu(peer, UInt32(mtu))
        }
        if let mac = pair.hostMAC {
            try LibnlAddress(family: AF_LLC, bytes: mac.bytes).assign { rtnl_link_set_addr(link, $0) }
        }
        if let mac = pair.peerMAC {
            try LibnlAddress(family: AF_LLC, bytes: mac.bytes).assign { rtnl_link_set_addr(peer, $0) }
        }
        try NetlinkError.check("create veth \(pair.hostName) with peer \(pair.peerName)",
                               rtnl_link_add(handle, link, NLM_F_CREATE | NLM_F_EXCL))
    }

    /// Creates a bridge, up, with the given MTU and flags. Fails with `alreadyExists` when
    /// something of that name appeared meanwhile, which the caller treats as a race it lost.
    public func addBridge(named name: String, mtu: Int?, promiscuous: Bool, vlanFiltering: Bool) throws(NetlinkError) {
        var flags = UInt32(IFF_UP.rawValue)
        if promiscuous { flags |= UInt32(IFF_PROMISC.rawValue) }
        let request = NetlinkRequest("create bridge \(name)", type: Int32(RTM_NEWLINK),
                                     flags: NLM_F_CREATE | NLM_F_EXCL,
                                     linkFlags: flags, changeMask: flags)
        try request.put(Int32(IFLA_IFNAME), string: name)
        if let mtu { try request.put(Int32(IFLA_MTU), u32: UInt32(mtu)) }
        try request.nested(Int32(IFLA_LINKINFO)) { () throws(NetlinkError) in
            try request.put(Int32(IFLA_INFO_KIND), string: "bridge")
            if vlanFiltering {
                try request.nested(Int32(IFLA_INFO_DATA)) { () throws(NetlinkError) in
                    try request.put(Int32(IFLA_BR_VLAN_FILTERING), u8: 1)
                }
            }
        }
        try request.send(on: self)
    }

    /// Turns VLAN filtering on for an existing bridge.
    public func enableVlanFiltering(bridge index: Int32) throws(NetlinkError) {
        let request = NetlinkRequest("enable vlan_filtering on bridge \(index)", type: Int32(RTM_NEWLINK), index: index)
        try request.nested(Int32(IFLA_LINKINFO)) { () throws(NetlinkError) in
            try request.put(Int32(IFLA_INFO_KIND), string: "bridge")
            try request.nested(Int32(IFLA_INFO_DATA)) { () throws(NetlinkError) in
                try request.put(Int32(IFLA_BR_VLAN_FILTERING), u8: 1)
            }
        }
        try request.send(on: self)
    }

    /// Sets the link's MAC. Given a bridge its own current MAC, this pins it: otherwise a
    /// bridge takes the lowest MAC among its ports, and changes as pods come and go.
    public func setMAC(link index: Int32, _ mac: MACAddress) throws(NetlinkError) {
        let request = NetlinkRequest("set MAC of link \(index)", type: Int32(RTM_NEWLINK), index: index)
        let bytes = mac.bytes
        try request.put(Int32(IFLA_ADDRESS), raw: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]))
        try request.send(on: self)
    }

    /// Sets the link's alias (`ip link set NAME alias TEXT`). The kernel ignores an alias in
    /// the request that creates a link, so it is a request of its own. At most 255 bytes.
    public func setAlias(link index: Int32, _ alias: String) throws(NetlinkError) {
        let request = NetlinkRequest("set alias of link \(index)", type: Int32(RTM_NEWLINK), index: index)
        try request.put(Int32(IFLA_IFALIAS), string: alias)
        try request.send(on: self)
    }

    /// Sets the flags in `mask` to their values in `flags` (IFF_UP, IFF_PROMISC).
    public func setFlags(link index: Int32, flags: UInt32, mask: UInt32) throws(NetlinkError) {
        try NetlinkRequest("set flags of link \(index)", type: Int32(RTM_NEWLINK), index: index,
                           linkFlags: flags, changeMask: mask).send(on: self)
    }

    public func setUp(link index: Int32) throws(NetlinkError) {
        try setFlags(link: index, flags: UInt32(IFF_UP.rawValue), mask: UInt32(IFF_UP.rawValue))
    }

    /// Lets frames leave a bridge port on the port they came in on (reflective relay),
    /// so a pod can reach itself through a service address.
    public func setHairpin(port index: Int32) throws(NetlinkError) {
        let request = NetlinkRequest("set hairpin mode on port \(index)", type: Int32(RTM_SETLINK),
                                     family: AF_BRIDGE, index: index)
        try request.nested(Int32(IFLA_PROTINFO)) { () throws(NetlinkError) in
            try request.put(Int32(IFLA_BRPORT_MODE), u8: 1)
        }
        try request.send(on: self)
    }

    /// Isolates the port (`bridge link set dev NAME isolated on`): it exchanges frames only
    /// with ports that are not isolated, such as the bridge itself and uplinks.
    public func setIsolated(port index: Int32) throws(NetlinkError) {
        let request = NetlinkRequest("isolate port \(index)", type: Int32(RTM_SETLINK), family: AF_BRIDGE, index: index)
        try request.nested(Int32(IFLA_PROTINFO)) { () throws(NetlinkError) in
            try request.put(Int32(IFLA_BRPORT_ISOLATED), u8: 1)
        }
        try request.send(on: self)
    }

    /// Makes `vid` the port's untagged PVID, as `bridge vlan add vid N pvid untagged`.
    public func addVlan(port index: Int32, vid: UInt16) throws(NetlinkError) {
        try changeVlans(RTM_SETLINK, port: index, [vid...vid],
                        flags: UInt16(BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED))
    }

    /// Lets the port carry these VLANs tagged (`bridge vlan add vid A-B`): a trunk.
    public func addTrunk(port index: Int32, _ ranges: [ClosedRange<UInt16>]) throws(NetlinkError) {
        try changeVlans(RTM_SETLINK, port: index, ranges, flags: 0)
    }

    /// Takes a VLAN off the port (`bridge vlan del vid N`); one it does not carry is no error.
    public func deleteVlan(port index: Int32, vid: UInt16) throws(NetlinkError) {
        do {
            try changeVlans(RTM_DELLINK, port: index, [vid...vid], flags: 0)
        } catch where error.isNotFound {
        }
    }

    /// One request for all the ranges, each a begin and an end entry (or one for a single VLAN).
    private func changeVlans(_ type: Int, port index: Int32, _ ranges: [ClosedRange<UInt16>],
                             flags: UInt16) throws(NetlinkError) {
        let verb = type == RTM_DELLINK ? "delete" : "add"
        let request = NetlinkRequest("\(verb) vlans \(ranges) on port \(index)", type: Int32(type),
                                     family: AF_BRIDGE, index: index)
        try request.nested(Int32(IFLA_AF_SPEC)) { () throws(NetlinkError) in
            func put(_ vid: UInt16, _ extra: Int32) throws(NetlinkError) {
                let info = bridge_vlan_info(flags: flags | UInt16(extra), vid: vid)
                try request.put(Int32(IFLA_BRIDGE_VLAN_INFO), raw: info)
            }
            for range in ranges {
                if range.count == 1 {
                    try put(range.lowerBound, 0)
                } else {
                    try put(range.lowerBound, BRIDGE_VLAN_INFO_RANGE_BEGIN)
                    try put(range.upperBound, BRIDGE_VLAN_INFO_RANGE_END)
                }
            }
        }
        try request.send(on: self)
    }

    /// Deletes the link; returns false when it did not exist (already gone is not an error).
    @discardableResult
    public func deleteLink(named name: String) throws(NetlinkError) -> Bool {
        guard let link = rtnl_link_alloc() else { throw NetlinkError("allocate link", code: NLE_NOMEM) }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        let result = rtnl_link_delete(handle, link)
        if result == -NLE_OBJ_NOTFOUND || result == -NLE_NODEV { return false }
        try NetlinkError.check("delete link \(name)", result)
        return true
    }

    /// The device group podwire moves links into on their way out. Deleting a group is one
    /// teardown for all its links (`rtnl_group_dellink`): they share its RCU grace periods,
    /// which are nearly all of a veth's deletion and are waited out holding the RTNL lock,
    /// so DELs running at once, or a GC's stale links, no longer queue one link at a time.
    public static let departingGroup: UInt32 = 0x7077_0de1

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
        let request = NetlinkRequest("mark \(name) for deletion", type: Int32(RTM_NEWLINK))
        try request.put(Int32(IFLA_IFNAME), string: name)
        try request.put(Int32(IFLA_GROUP), u32: Self.departingGroup)
        do {
            try request.send(on: self)
            return true
        } catch where error.isNotFound {
            return false
        }
    }

    private func deleteDeparting(_ marked: [String]) throws(NetlinkError) {
        let request = NetlinkRequest("delete the links in group \(Self.departingGroup)", type: Int32(RTM_DELLINK))
        try request.put(Int32(IFLA_GROUP), u32: Self.departingGroup)
        do {
            try request.send(on: self)
        } catch where error.isNotFound {
            // Another caller's group deletion took them: the RTNL lock it held until they
            // were unlisted is the one this request waited for.
        } catch {
            // A link in the group that cannot be deleted blocks the group: one at a time, then.
            for name in marked { try deleteLink(named: name) }
        }
    }

    /// Every link of the namespace (a dump: for GC and views, not for the per-pod path).
    public func links() throws(NetlinkError) -> [Link] {
        var result: [Link] = []
        try exchange(Self.linkRequest("list links", flags: NLM_F_DUMP, index: 0)) { message throws(NetlinkError) in
            if let link = Self.describe(message) { result.append(link) }
        }
        return result
    }

    private func fetchLink(index: Int32, name: String?) throws(NetlinkError) -> Link? {
        let request = Self.linkRequest("get link \(name ?? String(index))", flags: NLM_F_ACK, index: index)
        if let name { try request.put(Int32(IFLA_IFNAME), string: name) }
        var link: Link?
        do {
            try exchange(request) { message throws(NetlinkError) in link = Self.describe(message) ?? link }
        } catch where error.isNotFound {
            return nil
        }
        return link
    }

    /// Statistics are left out: podwire never reads them, and they are a third of a reply.
    private static func linkRequest(_ operation: String, flags: Int32, index: Int32) -> NetlinkRequest {
        let request = NetlinkRequest(operation, type: Int32(RTM_GETLINK), flags: flags, index: index)
        try? request.put(Int32(IFLA_EXT_MASK), u32: UInt32(RTEXT_FILTER_SKIP_STATS))
        return request
    }

    /// The link an RTM_NEWLINK message describes; nil for any other message.
    private static func describe(_ message: UnsafeMutablePointer<nlmsghdr>) -> Link? {
        guard Int32(message.pointee.nlmsg_type) == RTM_NEWLINK else { return nil }
        let info = nlmsg_data(message).assumingMemoryBound(to: ifinfomsg.self).pointee
        let header = Int32(MemoryLayout<ifinfomsg>.size)
        func attribute(_ type: Int32) -> UnsafeMutablePointer<nlattr>? { nlmsg_find_attr(message, header, type) }
        guard let name = attribute(Int32(IFLA_IFNAME)).flatMap({ nla_get_string($0) }) else { return nil }
        let kind = attribute(Int32(IFLA_LINKINFO)).flatMap { linkInfo in
            nla_find(nla_data(linkInfo)?.assumingMemoryBound(to: nlattr.self), nla_len(linkInfo), Int32(IFLA_INFO_KIND))
                .flatMap { nla_get_string($0) }
        }
        let mac = attribute(Int32(IFLA_ADDRESS)).flatMap { address in
            nla_data(address).flatMap {
                MACAddress(bytes: [UInt8](UnsafeRawBufferPointer(start: $0, count: Int(nla_len(address)))))
            }
        }
        return Link(index: info.ifi_index,
                    name: String(cString: name),
                    kind: kind.map { String(cString: $0) },
                    mtu: attribute(Int32(IFLA_MTU)).map { Int(nla_get_u32($0)) } ?? 0,
                    mac: mac,
                    isUp: info.ifi_flags & UInt32(IFF_UP.rawValue) != 0,
                    isPromiscuous: info.ifi_flags & UInt32(IFF_PROMISC.rawValue) != 0,
                    masterIndex: attribute(Int32(IFLA_MASTER)).map { Int32(bitPattern: nla_get_u32($0)) } ?? 0,
                    peerIndex: attribute(Int32(IFLA_LINK)).map { Int32(bitPattern: nla_get_u32($0)) } ?? 0,
                    alias: attribute(Int32(IFLA_IFALIAS)).flatMap { nla_get_string($0) }.map { String(cString: $0) })
    }
}
