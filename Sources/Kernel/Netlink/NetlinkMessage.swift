import CNetlink

/// One netlink request, packed in its own buffer: the `nlmsghdr`, a family header, then
/// attributes. Every message podwire sends is one of these, built here and sent by
/// `NetlinkSocket`, which fills in the sequence number. It cannot be copied, and sending
/// consumes it, so a request goes to the kernel at most once.
public struct NetlinkMessage: ~Copyable {
    /// What the request does, in words; it heads the error when the kernel refuses it.
    public let operation: String
    private(set) var bytes: [UInt8]
    /// Set when an attribute outgrew the 16-bit length field; the socket refuses to send it.
    private(set) var isOversized = false

    /// A request of netlink `type` with `header` (an `ifinfomsg`, `nfgenmsg`, …) as payload.
    /// `NLM_F_REQUEST` is always set; the socket adds `NLM_F_ACK` or `NLM_F_DUMP` as it sends.
    public init<Header: BitwiseCopyable>(_ operation: String, type: UInt16, flags: Int32 = 0, header: Header) {
        self.operation = operation
        bytes = []
        bytes.reserveCapacity(256)
        append(raw: nlmsghdr(nlmsg_len: 0, nlmsg_type: type, nlmsg_flags: UInt16(NLM_F_REQUEST | flags),
                             nlmsg_seq: 0, nlmsg_pid: 0))
        append(raw: header)
    }

    public var length: Int { bytes.count }

    // MARK: attributes

    public mutating func put(_ type: some AttributeType, u8 value: UInt8) { put(type, raw: value) }
    public mutating func put(_ type: some AttributeType, u16 value: UInt16) { put(type, raw: value) }
    public mutating func put(_ type: some AttributeType, u32 value: UInt32) { put(type, raw: value) }
    /// nf_tables reads its integers in network byte order.
    public mutating func put(_ type: some AttributeType, be32 value: UInt32) { put(type, raw: value.bigEndian) }
    public mutating func put(_ type: some AttributeType, be16 value: UInt16) { put(type, raw: value.bigEndian) }

    /// A NUL-terminated string.
    public mutating func put(_ type: some AttributeType, string value: String) {
        put(type, bytes: Array(value.utf8) + [0])
    }

    public mutating func put(_ type: some AttributeType, bytes value: [UInt8]) {
        value.withUnsafeBytes { put(type, buffer: $0) }
    }

    /// A fixed-size C struct (or tuple of bytes), copied as it lies in memory.
    public mutating func put<T: BitwiseCopyable>(_ type: some AttributeType, raw value: T) {
        withUnsafeBytes(of: value) { put(type, buffer: $0) }
    }

    /// Attributes added by `body` go inside a nested attribute. `flagged` sets NLA_F_NESTED,
    /// which some kernel code reads to tell new-style attributes from old (bridge ports).
    public mutating func nested(_ type: some AttributeType, flagged: Bool = false,
                                _ body: (inout NetlinkMessage) -> Void) {
        let start = bytes.count
        let number = type.attributeNumber | (flagged ? UInt16(NLA_F_NESTED) : 0)
        put(number, buffer: UnsafeRawBufferPointer(start: nil, count: 0))
        body(&self)
        setLength(at: start, to: bytes.count - start)
    }

    /// Another header or struct inside the payload, aligned like one: a veth peer's
    /// `ifinfomsg` sits inside VETH_INFO_PEER this way.
    public mutating func append<T: BitwiseCopyable>(raw value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
        pad()
    }

    // MARK: sending

    /// The finished bytes, with `flags` added and `sequence` and the total length set.
    consuming func finish(sequence: UInt32, addingFlags flags: Int32) -> [UInt8] {
        var bytes = self.bytes
        let length = UInt32(bytes.count)
        withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        let oldFlags = UInt16(bytes[6]) | UInt16(bytes[7]) << 8
        withUnsafeBytes(of: (oldFlags | UInt16(flags)).littleEndian) { bytes.replaceSubrange(6..<8, with: $0) }
        withUnsafeBytes(of: sequence.littleEndian) { bytes.replaceSubrange(8..<12, with: $0) }
        return bytes
    }

    private mutating func put(_ type: some AttributeType, buffer: UnsafeRawBufferPointer) {
        put(type.attributeNumber, buffer: buffer)
    }

    private mutating func put(_ number: UInt16, buffer: UnsafeRawBufferPointer) {
        let length = MemoryLayout<nlattr>.size + buffer.count
        if length > Int(UInt16.max) { isOversized = true }
        withUnsafeBytes(of: nlattr(nla_len: UInt16(truncatingIfNeeded: length), nla_type: number)) {
            bytes.append(contentsOf: $0)
        }
        bytes.append(contentsOf: buffer)
        pad()
    }

    private mutating func setLength(at offset: Int, to length: Int) {
        if length > Int(UInt16.max) { isOversized = true }
        withUnsafeBytes(of: UInt16(truncatingIfNeeded: length)) { bytes.replaceSubrange(offset..<offset + 2, with: $0) }
    }

    private mutating func pad() {
        let aligned = (bytes.count + 3) & ~3
        bytes.append(contentsOf: repeatElement(0, count: aligned - bytes.count))
    }
}

/// An attribute's type number: the C headers give them as plain integers (IFLA_*) or as
/// enum constants (NFTA_*); both are accepted as they are.
public protocol AttributeType {
    var attributeNumber: UInt16 { get }
}

extension Int: AttributeType {
    public var attributeNumber: UInt16 { UInt16(truncatingIfNeeded: self) }
}

extension Int32: AttributeType {
    public var attributeNumber: UInt16 { UInt16(truncatingIfNeeded: self) }
}

extension UInt32: AttributeType {
    public var attributeNumber: UInt16 { UInt16(truncatingIfNeeded: self) }
}

extension UInt16: AttributeType {
    public var attributeNumber: UInt16 { self }
}

/// The C enums' constants (`nft_table_attributes`, …) declare this conformance where used.
extension AttributeType where Self: RawRepresentable, RawValue: BinaryInteger {
    public var attributeNumber: UInt16 { UInt16(truncatingIfNeeded: rawValue) }
}
