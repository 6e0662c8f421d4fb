import CNetlink
import Syscall

/// A connected `NETLINK_ROUTE` socket. A socket stays in the network namespace it was
/// opened in, so one opened inside a pod's netns configures that netns from any thread.
public final class RouteSocket: LibnlSocket {
    let handle: OpaquePointer

    public init() throws(NetlinkError) {
        handle = try connectedSocket(NETLINK_ROUTE, "netlink")
    }

    deinit { nl_socket_free(handle) }

    /// NETLINK_GET_STRICT_CHK: the kernel validates dump requests strictly and honours their
    /// filters. Switched on around the dumps that filter; a kernel without it ignores the call.
    func setStrictChecking(_ on: Bool) {
        try? Syscall.setSocketOption(nl_socket_get_fd(handle), level: SOL_NETLINK, option: NETLINK_GET_STRICT_CHK, value: on ? 1 : 0)
    }
}

/// A libnl socket connected to a netlink family; the caller frees it.
func connectedSocket(_ family: Int32, _ name: String) throws(NetlinkError) -> OpaquePointer {
    guard let socket = nl_socket_alloc() else { throw NetlinkError("allocate \(name) socket", code: NLE_NOMEM) }
    let result = nl_connect(socket, family)
    if result < 0 {
        nl_socket_free(socket)
        throw NetlinkError("connect \(name) socket", code: result)
    }
    // libnl peeks at every datagram to size its buffer, then reads it again: two syscalls
    // per reply. The kernel fills a dump's datagrams to 32 KiB at most, and replies about
    // one bridge or veth are a few KiB, so one read into 64 KiB takes each whole; anything
    // larger fails with NLE_MSG_TRUNC rather than being cut.
    nl_socket_disable_msg_peek(socket)
    _ = nl_socket_set_msg_buf_size(socket, 64 << 10)
    return socket
}
