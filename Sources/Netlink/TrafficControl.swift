import CNetlink

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

/// Traffic control through libnl-route-3's qdisc, classifier and action objects.
extension RouteSocket {
    /// An `ifb` device, up: traffic redirected to it leaves through its qdisc, which is how
    /// a link's ingress is shaped.
    public func addIFB(named name: String) throws(NetlinkError) {
        guard let link = rtnl_link_alloc() else { throw NetlinkError("allocate link", code: NLE_NOMEM) }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try NetlinkError.check("set type of \(name)", rtnl_link_set_type(link, "ifb"))
        rtnl_link_set_flags(link, UInt32(IFF_UP.rawValue))
        try NetlinkError.check("create ifb \(name)", rtnl_link_add(handle, link, NLM_F_CREATE | NLM_F_EXCL))
    }

    /// Replaces the root qdisc of the link with a token bucket filter.
    public func shape(link index: Int32, with bucket: TokenBucket) throws(NetlinkError) {
        guard let qdisc = rtnl_qdisc_alloc() else { throw NetlinkError("allocate qdisc", code: NLE_NOMEM) }
        defer { rtnl_qdisc_put(qdisc) }
        rtnl_tc_set_ifindex(qdisc, index)
        rtnl_tc_set_parent(qdisc, TC_H_ROOT)
        try NetlinkError.check("set qdisc kind", rtnl_tc_set_kind(qdisc, "tbf"))
        rtnl_qdisc_tbf_set_limit(qdisc, Int32(clamping: bucket.limit))
        rtnl_qdisc_tbf_set_rate(qdisc, Int32(clamping: bucket.rate), Int32(clamping: bucket.burst), 0)
        try NetlinkError.check("add tbf qdisc to link \(index)",
                               rtnl_qdisc_add(handle, qdisc, NLM_F_CREATE | NLM_F_REPLACE))
    }

    /// Sends everything that arrives on link `from` out through link `to`: an ingress qdisc
    /// on `from`, and a u32 filter matching every packet with a mirred redirect.
    public func redirectIngress(from index: Int32, to target: Int32) throws(NetlinkError) {
        guard let qdisc = rtnl_qdisc_alloc() else { throw NetlinkError("allocate qdisc", code: NLE_NOMEM) }
        defer { rtnl_qdisc_put(qdisc) }
        rtnl_tc_set_ifindex(qdisc, index)
        rtnl_tc_set_parent(qdisc, TC_H_INGRESS)
        rtnl_tc_set_handle(qdisc, Self.ingressHandle)
        try NetlinkError.check("set qdisc kind", rtnl_tc_set_kind(qdisc, "ingress"))
        try NetlinkError.check("add ingress qdisc to link \(index)", rtnl_qdisc_add(handle, qdisc, NLM_F_CREATE))

        guard let filter = rtnl_cls_alloc() else { throw NetlinkError("allocate classifier", code: NLE_NOMEM) }
        defer { rtnl_cls_put(filter) }
        rtnl_tc_set_ifindex(filter, index)
        rtnl_tc_set_parent(filter, Self.ingressHandle)
        try NetlinkError.check("set classifier kind", rtnl_tc_set_kind(filter, "u32"))
        rtnl_cls_set_protocol(filter, UInt16(ETH_P_ALL))
        rtnl_cls_set_prio(filter, 1)
        // match u32 0 0 at 0: every packet; terminal, or u32 would look for a next hash
        // table instead of running the action.
        try NetlinkError.check("match all packets", rtnl_u32_add_key_uint32(filter, 0, 0, 0, 0))
        try NetlinkError.check("make the match terminal", rtnl_u32_set_cls_terminal(filter))

        guard let action = rtnl_act_alloc() else { throw NetlinkError("allocate action", code: NLE_NOMEM) }
        defer { rtnl_act_put(action) }
        try NetlinkError.check("set action kind", rtnl_tc_set_kind(action, "mirred"))
        rtnl_mirred_set_action(action, TCA_EGRESS_REDIR)
        rtnl_mirred_set_policy(action, TC_ACT_STOLEN)
        rtnl_mirred_set_ifindex(action, UInt32(target))
        try NetlinkError.check("attach redirect action", rtnl_u32_add_action(filter, action))
        try NetlinkError.check("add redirect filter to link \(index)", rtnl_cls_add(handle, filter, NLM_F_CREATE))
    }

    /// The kind of the link's root qdisc ("tbf", "noqueue", …), for CHECK.
    public func rootQdiscKind(link index: Int32) throws(NetlinkError) -> String? {
        var cache: OpaquePointer?
        try NetlinkError.check("list qdiscs", rtnl_qdisc_alloc_cache(handle, &cache))
        defer { nl_cache_free(cache) }
        guard let qdisc = rtnl_qdisc_get_by_parent(cache, index, TC_H_ROOT) else { return nil }
        defer { rtnl_qdisc_put(qdisc) }
        return rtnl_tc_get_kind(qdisc).map { String(cString: $0) }
    }

    /// ffff:0, where ingress qdiscs live.
    static let ingressHandle = UInt32(0xFFFF_0000)
}
