import Addressing
import CNetlink

/// An owned `struct nl_addr`, libnl's address type, built from podwire's own types.
final class LibnlAddress {
    private let handle: OpaquePointer

    init(family: Int32, bytes: [UInt8], prefixLength: Int? = nil) throws(NetlinkError) {
        var copy = bytes
        guard let address = nl_addr_build(family, &copy, copy.count) else {
            throw NetlinkError("build address", code: NLE_NOMEM)
        }
        if let prefixLength { nl_addr_set_prefixlen(address, Int32(prefixLength)) }
        handle = address
    }

    convenience init(_ address: IPAddress, prefixLength: Int? = nil) throws(NetlinkError) {
        try self.init(family: address.family == .v4 ? AF_INET : AF_INET6, bytes: address.bytes, prefixLength: prefixLength)
    }

    deinit { nl_addr_put(handle) }

    /// Hands the address to a libnl setter, which takes a reference of its own; this one
    /// lasts until it has (Swift may otherwise release an object after its last use).
    func assign<R>(_ setter: (OpaquePointer) -> R) -> R {
        withExtendedLifetime(self) { setter(handle) }
    }

    static func bytes(of address: OpaquePointer) -> [UInt8] {
        let length = Int(nl_addr_get_len(address))
        guard length > 0, let raw = nl_addr_get_binary_addr(address) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: length))
    }

    /// An IP address from libnl; a zero-length one (the default route's dst) is all zeros.
    static func ipAddress(of address: OpaquePointer, family: Int32) -> IPAddress? {
        let bytes = bytes(of: address)
        if bytes.isEmpty { return IPAddress(bytes: [UInt8](repeating: 0, count: family == AF_INET ? 4 : 16)) }
        return IPAddress(bytes: bytes)
    }
}
