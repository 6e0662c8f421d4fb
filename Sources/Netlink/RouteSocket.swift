import CNetlink

/// A connected `NETLINK_ROUTE` socket. A socket stays in the network namespace it was
/// opened in, so one opened inside a pod's netns configures that netns from any thread.
public final class RouteSocket {
    let handle: OpaquePointer

    public init() throws(NetlinkError) {
        guard let socket = nl_socket_alloc() else { throw NetlinkError("allocate netlink socket", code: NLE_NOMEM) }
        let result = nl_connect(socket, NETLINK_ROUTE)
        if result < 0 {
            nl_socket_free(socket)
            throw NetlinkError("connect netlink socket", code: result)
        }
        handle = socket
    }

    deinit { nl_socket_free(handle) }
}
