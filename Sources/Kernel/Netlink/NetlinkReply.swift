import CNetlink

/// One message the kernel sent back: its type, and a view of its payload that lasts only as
/// long as the closure it is handed to.
public struct NetlinkReply {
    public let type: UInt16
    public let flags: UInt16
    public let payload: UnsafeRawBufferPointer

    /// The family header at the start of the payload (`ifinfomsg`, …); nil when it is short.
    public func header<Header: BitwiseCopyable>(_: Header.Type) -> Header? {
        guard payload.count >= MemoryLayout<Header>.size else { return nil }
        return payload.loadUnaligned(as: Header.self)
    }

    /// The attributes after a family header of type `Header`.
    public func attributes<Header: BitwiseCopyable>(after _: Header.Type) -> NetlinkAttributes {
        let start = align(MemoryLayout<Header>.size)
        guard payload.count >= start else { return NetlinkAttributes(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return NetlinkAttributes(UnsafeRawBufferPointer(rebasing: payload[start...]))
    }
}

/// A run of attributes, walked in order; malformed lengths end the walk.
public struct NetlinkAttributes: Sequence {
    let buffer: UnsafeRawBufferPointer

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    public subscript(_ type: some AttributeType) -> NetlinkAttribute? {
        first { $0.type == type.attributeNumber }
    }

    public func makeIterator() -> Iterator { Iterator(buffer: buffer) }

    public struct Iterator: IteratorProtocol {
        let buffer: UnsafeRawBufferPointer
        var offset = 0

        public mutating func next() -> NetlinkAttribute? {
            let headerSize = MemoryLayout<nlattr>.size
            guard offset + headerSize <= buffer.count else { return nil }
            let header = buffer.loadUnaligned(fromByteOffset: offset, as: nlattr.self)
            let length = Int(header.nla_len)
            guard length >= headerSize, offset + length <= buffer.count else { return nil }
            let value = UnsafeRawBufferPointer(rebasing: buffer[offset + headerSize ..< offset + length])
            offset += align(length)
            return NetlinkAttribute(type: header.nla_type & ~UInt16(NLA_F_NESTED | NLA_F_NET_BYTEORDER), value: value)
        }
    }
}

/// One attribute of a reply; its value is valid as long as the reply is.
public struct NetlinkAttribute {
    /// The type, without the nested and byte-order flags.
    public let type: UInt16
    public let value: UnsafeRawBufferPointer

    public var u8: UInt8? { load() }
    public var u16: UInt16? { load() }
    public var u32: UInt32? { load() }
    public var be32: UInt32? { load(as: UInt32.self).map { UInt32(bigEndian: $0) } }
    public var bytes: [UInt8] { Array(value) }
    /// A string up to its first NUL (or the attribute's end).
    public var string: String { String(decoding: value.prefix { $0 != 0 }, as: UTF8.self) }
    public var nested: NetlinkAttributes { NetlinkAttributes(value) }

    public func load<T: BitwiseCopyable>(as _: T.Type = T.self) -> T? {
        value.count >= MemoryLayout<T>.size ? value.loadUnaligned(as: T.self) : nil
    }
}

func align(_ length: Int) -> Int { (length + 3) & ~3 }
