import CNetlink

/// A libnl socket whose replies podwire reads itself: a dump, or a request that asks for an
/// acknowledgement, walked message by message. For the lookups every call makes, reading the
/// few attributes podwire needs costs a fraction of building libnl's cached objects.
protocol LibnlSocket: AnyObject {
    var handle: OpaquePointer { get }
}

extension LibnlSocket {
    /// Sends `request` and hands each reply message to `body`, until the kernel's NLMSG_DONE
    /// (a dump) or its acknowledgement (NLM_F_ACK); an error reply is thrown.
    func exchange(_ request: NetlinkRequest, _ body: (UnsafeMutablePointer<nlmsghdr>) throws(NetlinkError) -> Void) throws(NetlinkError) {
        let operation = request.operation
        try request.sendOnly(on: handle)
        var done = false
        while !done {
            try receive { header throws(NetlinkError) in
                switch Int32(header.pointee.nlmsg_type) {
                case NLMSG_DONE:
                    done = true
                case NLMSG_ERROR:
                    done = true
                    let error = nlmsg_data(header).assumingMemoryBound(to: nlmsgerr.self).pointee.error
                    if error != 0 { throw NetlinkError(operation, code: nl_syserr2nlerr(-error)) }
                default:
                    try body(header)
                }
            }
        }
    }

    /// Reads one datagram and walks the messages in it.
    func receive(_ body: (UnsafeMutablePointer<nlmsghdr>) throws(NetlinkError) -> Void) throws(NetlinkError) {
        var peer = sockaddr_nl()
        var buffer: UnsafeMutablePointer<UInt8>?
        let count = nl_recv(handle, &peer, &buffer, nil)
        defer { free(buffer) }
        try NetlinkError.check("receive from netlink socket", count)
        guard let buffer else { return }
        var remaining = count
        var header: UnsafeMutablePointer<nlmsghdr>? = UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: nlmsghdr.self)
        while let current = header, nlmsg_ok(current, remaining) != 0 {
            try body(current)
            header = nlmsg_next(current, &remaining)
        }
    }
}
