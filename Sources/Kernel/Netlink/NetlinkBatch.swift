import CNetlink

/// Requests that go to the kernel in one write and are applied all or none: an nf_tables
/// transaction, between NFNL_MSG_BATCH_BEGIN and NFNL_MSG_BATCH_END. Each request asks for
/// an acknowledgement, so a refusal names the request it refused.
public struct NetlinkBatch: ~Copyable {
    private var requests: [(bytes: [UInt8], operation: String?)] = []
    private let subsystem: UInt16
    /// The first request whose attributes outgrew their length field: the batch is not sent.
    private(set) var oversized: String?

    /// A batch for the nfnetlink `subsystem` (NFNL_SUBSYS_NFTABLES).
    public init(subsystem: Int32) {
        self.subsystem = UInt16(subsystem)
    }

    public var isEmpty: Bool { requests.isEmpty }

    /// The batch so far, leaving this one empty.
    public mutating func take() -> NetlinkBatch {
        let subsystem = Int32(subsystem)
        let taken = self
        self = NetlinkBatch(subsystem: subsystem)
        return taken
    }

    public mutating func append(_ message: consuming NetlinkMessage) {
        let operation = message.operation
        if message.isOversized { oversized = oversized ?? operation }
        requests.append((message.finish(sequence: 0, addingFlags: NLM_F_ACK), operation))
    }

    /// The bytes to send, BEGIN and END around the requests, numbered from `first`; and the
    /// operation behind each sequence number (nil for BEGIN and END).
    consuming func finish(firstSequence first: UInt32) -> (bytes: [UInt8], operations: [String?]) {
        var bytes: [UInt8] = []
        var operations: [String?] = []
        func add(_ message: [UInt8], _ operation: String?) {
            var message = message
            withUnsafeBytes(of: (first &+ UInt32(operations.count)).littleEndian) {
                message.replaceSubrange(8..<12, with: $0)
            }
            bytes += message
            operations.append(operation)
        }
        add(marker(NFNL_MSG_BATCH_BEGIN), nil)
        for request in requests { add(request.bytes, request.operation) }
        add(marker(NFNL_MSG_BATCH_END), nil)
        return (bytes, operations)
    }

    private func marker(_ type: Int32) -> [UInt8] {
        let header = nfgenmsg(nfgen_family: UInt8(AF_UNSPEC), version: UInt8(NFNETLINK_V0), res_id: subsystem.bigEndian)
        return NetlinkMessage("nf_tables batch", type: UInt16(type), header: header).finish(sequence: 0, addingFlags: 0)
    }
}
