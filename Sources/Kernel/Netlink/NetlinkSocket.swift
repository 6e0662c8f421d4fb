#if canImport(Glibc)
import Glibc
#endif
import CNetlink
import Syscall

/// A netlink protocol family, as a type: a socket of one family offers only its requests.
public protocol NetlinkFamily {
    static var protocolNumber: Int32 { get }
    static var name: String { get }
}

/// A netlink socket of one family, in the network namespace of the thread that opened it;
/// it stays there, so one opened inside a pod's netns configures that netns from any thread.
///
/// Every request goes through `perform`, `get`, `dump` or `commit`: each takes a fresh
/// sequence number, reads replies until the one that ends the exchange, skips replies to
/// other sequence numbers, and turns an error reply into a `NetlinkError` carrying the
/// kernel's extended-ack message.
public final class NetlinkSocket<Family: NetlinkFamily> {
    private let descriptor: Int32
    private var sequence: UInt32 = 1
    private var isBound = false
    /// The kernel fills a dump's datagrams to 32 KiB at most; one read into 64 KiB takes
    /// each whole, and a larger one is reported rather than cut.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 8)

    /// Golden tests' stand-in for the kernel: sent datagrams are kept, and each request is
    /// answered as if it succeeded and found nothing.
    private var recorder: Recorder?

    /// A socket whose requests go nowhere: `recorded` holds what would have been sent.
    init(recording: Void) {
        descriptor = -1
        recorder = Recorder()
    }

    /// Every datagram a recording socket was given, in order.
    var recorded: [[UInt8]] { recorder?.sent ?? [] }

    public init() throws(NetlinkError) {
        do {
            descriptor = try Syscall.netlinkSocket(Family.protocolNumber)
        } catch {
            buffer.deallocate()
            throw NetlinkError("open \(Family.name) netlink socket", errno: error.errno)
        }
        // Error replies carry the kernel's reason, and echo only the failed request's header.
        try? Syscall.setSocketOption(descriptor, level: SOL_NETLINK, option: NETLINK_EXT_ACK, value: 1)
        try? Syscall.setSocketOption(descriptor, level: SOL_NETLINK, option: NETLINK_CAP_ACK, value: 1)
        // Dump requests are checked strictly and their filters honoured (by link, by table).
        try? Syscall.setSocketOption(descriptor, level: SOL_NETLINK, option: NETLINK_GET_STRICT_CHK, value: 1)
    }

    deinit {
        if descriptor >= 0 { Syscall.close(descriptor) }
        buffer.deallocate()
    }

    /// Sends a request that changes something and waits for the kernel's acknowledgement.
    public func perform(_ message: consuming NetlinkMessage) throws(NetlinkError) {
        try exchange(message, flags: NLM_F_ACK) { _ throws(NetlinkError) in }
    }

    /// Sends a request for one object; `body` sees the reply. A missing object throws
    /// (`isNotFound`).
    public func get(_ message: consuming NetlinkMessage,
                    _ body: (NetlinkReply) throws(NetlinkError) -> Void) throws(NetlinkError) {
        try exchange(message, flags: 0, body)
    }

    /// Sends a dump request; `body` sees each object until the kernel's NLMSG_DONE.
    public func dump(_ message: consuming NetlinkMessage,
                     _ body: (NetlinkReply) throws(NetlinkError) -> Void) throws(NetlinkError) {
        try exchange(message, flags: NLM_F_DUMP, body)
    }

    /// Joins the multicast group `group` (RTNLGRP_LINK, …): the kernel then sends this socket
    /// a notification of every change of that kind.
    public func subscribe(to group: UInt32) throws(NetlinkError) {
        do {
            if !isBound { try Syscall.bindNetlink(descriptor) }
            isBound = true
            try Syscall.setSocketOption(descriptor, level: SOL_NETLINK, option: NETLINK_ADD_MEMBERSHIP,
                                        value: Int32(group))
        } catch {
            throw NetlinkError("join netlink group \(group)", errno: error.errno)
        }
    }

    /// Makes every wait for the kernel give up after `seconds`, with EAGAIN: for a listener
    /// that must not wait for ever (a test).
    public func limitWaits(to seconds: Int) throws(NetlinkError) {
        do {
            try Syscall.setReceiveTimeout(descriptor, seconds: seconds)
        } catch {
            throw NetlinkError("limit waits on a netlink socket", errno: error.errno)
        }
    }

    /// Waits for the next datagram of notifications and hands each message to `body`; for a
    /// socket that only listens. A notification carries the sequence number and port of the
    /// request that caused it, so none is checked. A reader that fell behind gets ENOBUFS:
    /// notifications were lost, and what they said must be read afresh.
    public func notifications(_ body: (NetlinkReply) throws(NetlinkError) -> Void) throws(NetlinkError) {
        try receive { _, reply throws(NetlinkError) in try body(reply) }
    }

    /// Sends a batch in one write and waits for an acknowledgement of each of its requests;
    /// the first refusal is thrown, with its operation, once every reply is in.
    public func commit(_ batch: consuming NetlinkBatch) throws(NetlinkError) {
        guard !batch.isEmpty else { return }
        if let oversized = batch.oversized { throw NetlinkError(oversized, errno: EMSGSIZE) }
        let first = sequence
        let (bytes, operations) = batch.finish(firstSequence: first)
        sequence &+= UInt32(operations.count)
        try send(bytes, "send \(Family.name) batch")
        var pending = Set(operations.indices.filter { operations[$0] != nil }.map { first &+ UInt32($0) })
        var failure: NetlinkError?
        while !pending.isEmpty {
            try receive { header, reply throws(NetlinkError) in
                guard header.nlmsg_type == UInt16(NLMSG_ERROR) else { return }
                let number = header.nlmsg_seq
                let index = Int(number &- first)
                guard index >= 0, index < operations.count else { return }
                let operation = operations[index] ?? "\(Family.name) batch"
                if let error = Self.error(in: reply, header: header, operation: operation) {
                    // A refusal of the batch itself (no CAP_NET_ADMIN, say) is the only reply.
                    if operations[index] == nil { throw error }
                    failure = failure ?? error
                }
                pending.remove(number)
            }
        }
        if let failure { throw failure }
    }

    private func exchange(_ message: consuming NetlinkMessage, flags: Int32,
                          _ body: (NetlinkReply) throws(NetlinkError) -> Void) throws(NetlinkError) {
        let operation = message.operation
        guard !message.isOversized else { throw NetlinkError(operation, errno: EMSGSIZE) }
        let number = sequence
        sequence &+= 1
        try send(message.finish(sequence: number, addingFlags: flags), operation)
        var done = false
        while !done {
            try receive { header, reply throws(NetlinkError) in
                guard header.nlmsg_seq == number, !done else { return }
                switch Int32(header.nlmsg_type) {
                case NLMSG_ERROR, NLMSG_DONE:
                    done = true
                    if let error = Self.error(in: reply, header: header, operation: operation) { throw error }
                case NLMSG_NOOP, NLMSG_OVERRUN:
                    break
                default:
                    try body(reply)
                    // A get without NLM_F_ACK ends with its one reply; a dump goes on.
                    if flags == 0 && header.nlmsg_flags & UInt16(NLM_F_MULTI) == 0 { done = true }
                }
            }
        }
    }

    private func send(_ bytes: [UInt8], _ operation: String) throws(NetlinkError) {
        if let recorder { return recorder.send(bytes) }
        let sent = bytes.withUnsafeBytes { raw in
            Result { () throws(SyscallError) in try Syscall.send(descriptor, raw) }
        }
        if case .failure(let error) = sent { throw NetlinkError(operation, errno: error.errno) }
    }

    /// Reads one datagram and hands each message in it to `body` with its payload.
    private func receive(_ body: (nlmsghdr, NetlinkReply) throws(NetlinkError) -> Void) throws(NetlinkError) {
        var count = 0
        do {
            if let recorder { count = recorder.receive(into: buffer) } else {
                count = try Syscall.receive(descriptor, into: buffer)
            }
        } catch {
            throw NetlinkError("receive from \(Family.name) netlink socket", errno: error.errno)
        }
        guard count <= buffer.count else { throw NetlinkError("receive from \(Family.name) netlink socket",
                                                              errno: EMSGSIZE) }
        let headerSize = MemoryLayout<nlmsghdr>.size
        var offset = 0
        while offset + headerSize <= count {
            let header = buffer.loadUnaligned(fromByteOffset: offset, as: nlmsghdr.self)
            let length = Int(header.nlmsg_len)
            guard length >= headerSize, offset + length <= count else { break }
            let payload = UnsafeRawBufferPointer(rebasing: buffer[offset + headerSize ..< offset + length])
            try body(header, NetlinkReply(type: header.nlmsg_type, flags: header.nlmsg_flags, payload: payload))
            offset += align(length)
        }
    }

    /// The error an NLMSG_ERROR or NLMSG_DONE reply reports; nil for an acknowledgement.
    /// Its message attribute follows the echoed request: only the request's header when the
    /// ack is capped (NETLINK_CAP_ACK), the whole request otherwise.
    static func error(in reply: NetlinkReply, header: nlmsghdr, operation: String) -> NetlinkError? {
        guard let code = reply.header(Int32.self), code < 0 else { return nil }
        var kernelMessage: String?
        if header.nlmsg_flags & UInt16(NLM_F_ACK_TLVS) != 0 {
            var start = MemoryLayout<Int32>.size
            if header.nlmsg_type == UInt16(NLMSG_ERROR) {
                let echoed = reply.payload.count >= MemoryLayout<nlmsgerr>.size
                    ? Int(reply.payload.loadUnaligned(fromByteOffset: 4, as: nlmsghdr.self).nlmsg_len) : 0
                let capped = header.nlmsg_flags & UInt16(NLM_F_CAPPED) != 0
                start = MemoryLayout<Int32>.size + align(capped ? MemoryLayout<nlmsghdr>.size : echoed)
            }
            if start <= reply.payload.count {
                let attributes = NetlinkAttributes(UnsafeRawBufferPointer(rebasing: reply.payload[start...]))
                kernelMessage = attributes[UInt16(NLMSGERR_ATTR_MSG.rawValue)]?.string
            }
        }
        return NetlinkError(operation, errno: -code, kernelMessage: kernelMessage)
    }
}

/// Keeps what a recording socket sends and makes up the kernel's answers: an
/// acknowledgement, an empty dump, or ENODEV for a get.
private final class Recorder {
    var sent: [[UInt8]] = []
    private var replies: [[UInt8]] = []

    func send(_ bytes: [UInt8]) {
        sent.append(bytes)
        var offset = 0
        while offset + MemoryLayout<nlmsghdr>.size <= bytes.count {
            let header = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: nlmsghdr.self) }
            let flags = Int32(header.nlmsg_flags)
            if flags & NLM_F_DUMP == NLM_F_DUMP {
                replies.append(reply(NLMSG_DONE, header, code: 0))
            } else if flags & NLM_F_ACK != 0 {
                replies.append(reply(NLMSG_ERROR, header, code: 0))
            } else if Int32(header.nlmsg_type) == NFNL_MSG_BATCH_BEGIN ||
                Int32(header.nlmsg_type) == NFNL_MSG_BATCH_END {
                // A batch's BEGIN and END, which alone ask for no answer (a route request of
                // the same numbers, RTM_NEWLINK and RTM_DELLINK, always asks for an ack).
            } else {
                replies.append(reply(NLMSG_ERROR, header, code: -ENODEV))
            }
            offset += align(Int(header.nlmsg_len))
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let reply = replies.removeFirst()
        reply.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return reply.count
    }

    private func reply(_ type: Int32, _ request: nlmsghdr, code: Int32) -> [UInt8] {
        var echoed = request
        echoed.nlmsg_len = UInt32(MemoryLayout<nlmsghdr>.size)
        let header = nlmsghdr(nlmsg_len: UInt32(MemoryLayout<nlmsghdr>.size + MemoryLayout<nlmsgerr>.size),
                              nlmsg_type: UInt16(type), nlmsg_flags: UInt16(NLM_F_CAPPED), nlmsg_seq: request.nlmsg_seq,
                              nlmsg_pid: 0)
        var bytes = withUnsafeBytes(of: header) { Array($0) }
        bytes += withUnsafeBytes(of: nlmsgerr(error: code, msg: echoed)) { Array($0) }
        return bytes
    }
}
