#if canImport(Glibc)
import Glibc
#endif
import CNetlink
import Netlink

/// A token bucket: `rate` bytes per second with bursts of `burst` bytes, and a queue that
/// holds at most `limit` bytes before it drops.
public struct TokenBucket: Equatable, Sendable {
    public var rate: UInt32
    public var burst: UInt32
    public var limit: UInt32
    public init(rate: UInt32, burst: UInt32, limit: UInt32) {
        self.rate = rate
        self.burst = burst
        self.limit = limit
    }
}

/// Traffic control. libnl-route-3's qdisc, classifier and action objects pack these
/// requests, since they compute what tc would (the token bucket's rate table, u32 keys);
/// the requests go to the kernel through the socket like every other.
extension NetlinkSocket where Family == RouteFamily {
    /// Replaces the root qdisc of the link with a token bucket filter.
    public func shape(link index: Int32, with bucket: TokenBucket) throws(NetlinkError) {
        let operation = "add tbf qdisc to link \(index)"
        let qdisc = try LibnlObject(operation, rtnl_qdisc_alloc(), free: rtnl_qdisc_put)
        rtnl_tc_set_ifindex(qdisc.handle, index)
        rtnl_tc_set_parent(qdisc.handle, TC_H_ROOT)
        try qdisc.check(rtnl_tc_set_kind(qdisc.handle, "tbf"))
        rtnl_qdisc_tbf_set_limit(qdisc.handle, Int32(clamping: bucket.limit))
        rtnl_qdisc_tbf_set_rate(qdisc.handle, Int32(clamping: bucket.rate), Int32(clamping: bucket.burst), 0)
        try perform(qdisc.message { rtnl_qdisc_build_add_request($0, NLM_F_CREATE | NLM_F_REPLACE, &$1) })
    }

    /// Sends everything that arrives on link `from` out through link `to`: an ingress qdisc
    /// on `from`, and a u32 filter matching every packet with a mirred redirect.
    public func redirectIngress(from index: Int32, to target: Int32) throws(NetlinkError) {
        let qdisc = try LibnlObject("add ingress qdisc to link \(index)", rtnl_qdisc_alloc(), free: rtnl_qdisc_put)
        rtnl_tc_set_ifindex(qdisc.handle, index)
        rtnl_tc_set_parent(qdisc.handle, TC_H_INGRESS)
        rtnl_tc_set_handle(qdisc.handle, Self.ingressHandle)
        try qdisc.check(rtnl_tc_set_kind(qdisc.handle, "ingress"))
        try perform(qdisc.message { rtnl_qdisc_build_add_request($0, NLM_F_CREATE, &$1) })

        let filter = try LibnlObject("add redirect filter to link \(index)", rtnl_cls_alloc(), free: rtnl_cls_put)
        rtnl_tc_set_ifindex(filter.handle, index)
        rtnl_tc_set_parent(filter.handle, Self.ingressHandle)
        try filter.check(rtnl_tc_set_kind(filter.handle, "u32"))
        rtnl_cls_set_protocol(filter.handle, UInt16(ETH_P_ALL))
        rtnl_cls_set_prio(filter.handle, 1)
        // match u32 0 0 at 0: every packet; terminal, or u32 would look for a next hash
        // table instead of running the action.
        try filter.check(rtnl_u32_add_key_uint32(filter.handle, 0, 0, 0, 0))
        try filter.check(rtnl_u32_set_cls_terminal(filter.handle))

        let action = try LibnlObject("allocate redirect action", rtnl_act_alloc(), free: rtnl_act_put)
        try action.check(rtnl_tc_set_kind(action.handle, "mirred"))
        rtnl_mirred_set_action(action.handle, TCA_EGRESS_REDIR)
        rtnl_mirred_set_policy(action.handle, TC_ACT_STOLEN)
        rtnl_mirred_set_ifindex(action.handle, UInt32(target))
        try filter.check(rtnl_u32_add_action(filter.handle, action.handle))
        try perform(filter.message { rtnl_cls_build_add_request($0, NLM_F_CREATE, &$1) })
    }

    /// The kind of the link's root qdisc ("tbf", "noqueue", …), for CHECK.
    public func rootQdiscKind(link index: Int32) throws(NetlinkError) -> String? {
        let header = tcmsg(tcm_family: UInt8(AF_UNSPEC), tcm__pad1: 0, tcm__pad2: 0, tcm_ifindex: index,
                           tcm_handle: 0, tcm_parent: 0, tcm_info: 0)
        let message = NetlinkMessage("list qdiscs of link \(index)", type: UInt16(RTM_GETQDISC), header: header)
        var kind: String?
        try dump(message) { reply throws(NetlinkError) in
            guard reply.type == UInt16(RTM_NEWQDISC), let info = reply.header(tcmsg.self),
                  info.tcm_ifindex == index, info.tcm_parent == TC_H_ROOT else { return }
            kind = reply.attributes(after: tcmsg.self)[TCA_KIND]?.string
        }
        return kind
    }

    /// ffff:0, where ingress qdiscs live.
    static var ingressHandle: UInt32 { 0xFFFF_0000 }
}

/// A libnl object, freed when this is; it packs one request.
private final class LibnlObject {
    let handle: OpaquePointer
    let operation: String
    private let free: (OpaquePointer) -> Void

    init(_ operation: String, _ handle: OpaquePointer?, free: @escaping (OpaquePointer) -> Void) throws(NetlinkError) {
        guard let handle else { throw NetlinkError(operation, errno: ENOMEM) }
        self.handle = handle
        self.operation = operation
        self.free = free
    }

    deinit { free(handle) }

    /// A libnl setter's result: 0, or a negative `NLE_*` code.
    func check(_ result: Int32) throws(NetlinkError) {
        if result < 0 { throw NetlinkError("\(operation): \(String(cString: nl_geterror(result)))", errno: EINVAL) }
    }

    /// The request libnl's `build` packs from the object.
    func message(_ build: (OpaquePointer, inout OpaquePointer?) -> Int32) throws(NetlinkError) -> NetlinkMessage {
        var packed: OpaquePointer?
        try check(withExtendedLifetime(self) { build(handle, &packed) })
        guard let packed, let header = nlmsg_hdr(packed) else { throw NetlinkError(operation, errno: ENOMEM) }
        defer { nlmsg_free(packed) }
        return NetlinkMessage(operation, packed: UnsafeRawBufferPointer(start: header,
                                                                        count: Int(header.pointee.nlmsg_len)))
    }
}
