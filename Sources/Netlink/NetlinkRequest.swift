import CNetlink

/// The one place podwire packs a netlink message by hand, for the few requests libnl 3.7
/// has no typed setter for (bridge port flags, VLAN filtering). libnl's `nla_put` family
/// does the byte layout; this type only says which attributes go in.
struct NetlinkRequest {
    private let message: OpaquePointer
    let operation: String

    /// An `RTM_*LINK` request about the link with `index` (0 for a new link).
    init(_ operation: String, type: Int32, flags: Int32 = 0, family: Int32 = AF_UNSPEC, index: Int32 = 0,
         linkFlags: UInt32 = 0, changeMask: UInt32 = 0) {
        self.operation = operation
        message = nlmsg_alloc_simple(type, flags)
        var header = ifinfomsg()
        header.ifi_family = UInt8(family)
        header.ifi_index = index
        header.ifi_flags = linkFlags
        header.ifi_change = changeMask
        _ = nlmsg_append(message, &header, Int(MemoryLayout<ifinfomsg>.size), Int32(NLMSG_ALIGNTO))
    }

    func put(_ attribute: Int32, u8 value: UInt8) throws(NetlinkError) {
        try NetlinkError.check(operation, nla_put_u8(message, attribute, value))
    }

    func put(_ attribute: Int32, u32 value: UInt32) throws(NetlinkError) {
        try NetlinkError.check(operation, nla_put_u32(message, attribute, value))
    }

    func put(_ attribute: Int32, string value: String) throws(NetlinkError) {
        try NetlinkError.check(operation, nla_put_string(message, attribute, value))
    }

    /// A fixed-size C struct or tuple of bytes, copied as it lies in memory.
    func put<T: BitwiseCopyable>(_ attribute: Int32, raw value: T) throws(NetlinkError) {
        let result = withUnsafeBytes(of: value) { nla_put(message, attribute, Int32($0.count), $0.baseAddress) }
        try NetlinkError.check(operation, result)
    }

    /// Attributes written by `body` go inside a nested attribute flagged `NLA_F_NESTED`,
    /// which the kernel's bridge code needs to tell new-style port attributes from old.
    func nested(_ attribute: Int32, _ body: () throws(NetlinkError) -> Void) throws(NetlinkError) {
        guard let start = nla_nest_start(message, attribute | Int32(NLA_F_NESTED)) else {
            throw NetlinkError(operation, code: NLE_NOMEM)
        }
        try body()
        try NetlinkError.check(operation, nla_nest_end(message, start))
    }

    /// Sends the request and waits for the kernel's acknowledgement; frees the message.
    func send(on socket: RouteSocket) throws(NetlinkError) {
        try NetlinkError.check(operation, nl_send_sync(socket.handle, message))
    }
}
