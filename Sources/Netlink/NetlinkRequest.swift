import CNetlink

/// The one place podwire packs a netlink message by hand: the few route requests libnl 3.7
/// has no typed setter for (bridge port flags, VLAN filtering), and nf_tables requests,
/// whose library (libnftnl) needs a libmnl that Debian ships without a static archive.
/// libnl's `nlmsg_*` and `nla_put` family does the byte layout; this type only says which
/// header and attributes go in.
struct NetlinkRequest {
    fileprivate let message: OpaquePointer
    let operation: String

    /// An `RTM_*LINK` request about the link with `index` (0 for a new link).
    init(_ operation: String, type: Int32, flags: Int32 = 0, family: Int32 = AF_UNSPEC, index: Int32 = 0,
         linkFlags: UInt32 = 0, changeMask: UInt32 = 0) {
        var header = ifinfomsg()
        header.ifi_family = UInt8(family)
        header.ifi_index = index
        header.ifi_flags = linkFlags
        header.ifi_change = changeMask
        self.init(operation, type: type, flags: flags, header: header)
    }

    /// An `RTM_*ADDR` request about the addresses of the link with `index` (0: every link).
    init(_ operation: String, addressType type: Int32, flags: Int32 = 0, family: Int32 = AF_UNSPEC, index: Int32) {
        var header = ifaddrmsg()
        header.ifa_family = UInt8(family)
        header.ifa_index = UInt32(index)
        self.init(operation, type: type, flags: flags, header: header)
    }

    /// An nfnetlink request of `subsystem` (nf_tables unless told), for address `family`.
    init(netfilter operation: String, subsystem: Int32 = NFNL_SUBSYS_NFTABLES, type: UInt32, flags: Int32,
         family: Int32, resource: UInt16 = 0) {
        var header = nfgenmsg()
        header.nfgen_family = UInt8(family)
        header.version = UInt8(NFNETLINK_V0)
        header.res_id = resource.bigEndian
        self.init(operation, type: (subsystem << 8) | Int32(type), flags: flags, header: header)
    }

    private init<Header: BitwiseCopyable>(_ operation: String, type: Int32, flags: Int32, header: Header) {
        self.operation = operation
        message = nlmsg_alloc_simple(type, flags)
        var header = header
        _ = nlmsg_append(message, &header, MemoryLayout<Header>.size, Int32(NLMSG_ALIGNTO))
    }

    func put(_ attribute: Int32, u8 value: UInt8) throws(NetlinkError) {
        try NetlinkError.check(operation, nla_put_u8(message, attribute, value))
    }

    func put(_ attribute: Int32, u32 value: UInt32) throws(NetlinkError) {
        try NetlinkError.check(operation, nla_put_u32(message, attribute, value))
    }

    /// nf_tables reads its integer attributes in network byte order.
    func put(_ attribute: Int32, be32 value: UInt32) throws(NetlinkError) {
        try NetlinkError.check(operation, nla_put_u32(message, attribute, value.bigEndian))
    }

    func put(_ attribute: Int32, string value: String) throws(NetlinkError) {
        try NetlinkError.check(operation, nla_put_string(message, attribute, value))
    }

    func put(_ attribute: Int32, bytes value: [UInt8]) throws(NetlinkError) {
        let result = value.withUnsafeBytes { nla_put(message, attribute, Int32($0.count), $0.baseAddress) }
        try NetlinkError.check(operation, result)
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

    /// The finished message's bytes, with `sequence` and `flags` added to its header, for
    /// a batch that goes to the kernel in one write; frees the message.
    func take(sequence: UInt32, addingFlags flags: Int32) -> [UInt8] {
        let header = nlmsg_hdr(message)!
        header.pointee.nlmsg_seq = sequence
        header.pointee.nlmsg_flags |= UInt16(flags)
        let length = Int(header.pointee.nlmsg_len)
        let aligned = (length + Int(NLMSG_ALIGNTO) - 1) & ~(Int(NLMSG_ALIGNTO) - 1)
        var bytes = [UInt8](UnsafeRawBufferPointer(start: header, count: length))
        bytes.append(contentsOf: repeatElement(0, count: aligned - length))
        nlmsg_free(message)
        return bytes
    }

    /// Sends the request for `LibnlSocket.exchange` to read the replies; frees the message.
    /// It takes no sequence number of libnl's: libnl checks the replies to its own requests
    /// against its count, and never sees these.
    func sendOnly(on socket: OpaquePointer) throws(NetlinkError) {
        defer { nlmsg_free(message) }
        let header = nlmsg_hdr(message)!
        header.pointee.nlmsg_flags |= UInt16(NLM_F_REQUEST)
        header.pointee.nlmsg_pid = nl_socket_get_local_port(socket)
        header.pointee.nlmsg_seq = 0
        try NetlinkError.check(operation, nl_send(socket, message))
    }
}
