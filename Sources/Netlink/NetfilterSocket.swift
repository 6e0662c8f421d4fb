import CNetlink

/// A connected `NETLINK_NETFILTER` socket: nf_tables transactions and dumps.
public final class NetfilterSocket: LibnlSocket {
    let handle: OpaquePointer
    private var sequence: UInt32 = 1

    public init() throws(NetlinkError) {
        handle = try connectedSocket(NETLINK_NETFILTER, "netfilter")
    }

    deinit { nl_socket_free(handle) }

    /// Sends `requests` as one nf_tables transaction: the kernel applies all or none. Each
    /// asks for an acknowledgement, so the first failure is reported with its operation.
    func commit(_ requests: [NetlinkRequest]) throws(NetlinkError) {
        guard !requests.isEmpty else { return }
        let first = sequence
        var batch = NetlinkRequest(netfilter: "begin nf_tables batch", subsystem: 0, type: UInt32(NFNL_MSG_BATCH_BEGIN),
                                   flags: NLM_F_REQUEST, family: AF_UNSPEC, resource: UInt16(NFNL_SUBSYS_NFTABLES))
            .take(sequence: next(), addingFlags: 0)
        var operations: [UInt32: String] = [:]
        for request in requests {
            let number = next()
            operations[number] = request.operation
            batch += request.take(sequence: number, addingFlags: NLM_F_REQUEST | NLM_F_ACK)
        }
        batch += NetlinkRequest(netfilter: "end nf_tables batch", subsystem: 0, type: UInt32(NFNL_MSG_BATCH_END),
                                flags: NLM_F_REQUEST, family: AF_UNSPEC, resource: UInt16(NFNL_SUBSYS_NFTABLES))
            .take(sequence: next(), addingFlags: 0)
        let sent = batch.withUnsafeMutableBytes { nl_sendto(handle, $0.baseAddress, $0.count) }
        try NetlinkError.check("send nf_tables batch", sent)

        var pending = Set(operations.keys)
        var failure: NetlinkError?
        while !pending.isEmpty {
            try receive { header throws(NetlinkError) in
                guard Int32(header.pointee.nlmsg_type) == NLMSG_ERROR, header.pointee.nlmsg_seq >= first else { return }
                let number = header.pointee.nlmsg_seq
                let error = nlmsg_data(header).assumingMemoryBound(to: nlmsgerr.self).pointee.error
                // An error on the batch itself (no CAP_NET_ADMIN, say) is the only reply.
                if number == first, error != 0 {
                    throw NetlinkError("nf_tables batch", code: nl_syserr2nlerr(-error))
                }
                pending.remove(number)
                if error != 0, failure == nil {
                    failure = NetlinkError(operations[number] ?? "nf_tables batch", code: nl_syserr2nlerr(-error))
                }
            }
        }
        if let failure { throw failure }
    }

    private func next() -> UInt32 {
        defer { sequence &+= 1 }
        return sequence
    }
}
