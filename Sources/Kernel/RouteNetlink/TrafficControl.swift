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

/// Traffic control, packed as `tc` packs the same requests (the golden tests hold it to that).
extension NetlinkSocket where Family == RouteFamily {
    /// Replaces the root qdisc of the link with a token bucket filter
    /// (`tc qdisc replace dev D root tbf rate R burst B limit L`).
    public func shape(link index: Int32, with bucket: TokenBucket) throws(NetlinkError) {
        var message = tcMessage("add tbf qdisc to link \(index)", RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE,
                                link: index, handle: 0, parent: TC_H_ROOT)
        message.put(TCA_KIND, string: "tbf")
        let rate = bucket.rateSpec
        message.nested(TCA_OPTIONS) { options in
            options.put(TCA_TBF_PARMS, raw: tc_tbf_qopt(rate: rate, peakrate: tc_ratespec(), limit: bucket.limit,
                                                         buffer: TokenBucket.ticks(bucket.burst, at: bucket.rate),
                                                         mtu: 0))
            options.put(TCA_TBF_BURST, u32: bucket.burst)
            options.put(TCA_TBF_RTAB, bytes: bucket.rateTable)
        }
        try perform(message)
    }

    /// Sends everything that arrives on link `from` out through link `to`: an ingress qdisc
    /// on `from` (`tc qdisc add dev D handle ffff: ingress`), and a u32 filter matching every
    /// packet with a mirred redirect (`tc filter add dev D parent ffff: protocol all prio 1
    /// u32 match u32 0 0 action mirred egress redirect dev T`).
    public func redirectIngress(from index: Int32, to target: Int32) throws(NetlinkError) {
        var qdisc = tcMessage("add ingress qdisc to link \(index)", RTM_NEWQDISC, createExclusive,
                              link: index, handle: Self.ingressHandle, parent: TC_H_INGRESS)
        qdisc.put(TCA_KIND, string: "ingress")
        try perform(qdisc)

        // tcm_info: the priority, then the protocol in network order (ETH_P_ALL: every frame).
        let info = UInt32(1) << 16 | UInt32(UInt16(ETH_P_ALL).bigEndian)
        var filter = tcMessage("add redirect filter to link \(index)", RTM_NEWTFILTER, createExclusive,
                               link: index, handle: 0, parent: Self.ingressHandle, info: info)
        filter.put(TCA_KIND, string: "u32")
        filter.nested(TCA_OPTIONS) { options in
            options.nested(TCA_U32_ACT) { actions in
                actions.nested(1) { action in
                    action.put(TCA_ACT_KIND, string: "mirred")
                    action.nested(TCA_ACT_OPTIONS, flagged: true) { mirred in
                        let parameters = tc_mirred(index: 0, capab: 0, action: TC_ACT_STOLEN, refcnt: 0, bindcnt: 0,
                                                   eaction: TCA_EGRESS_REDIR, ifindex: UInt32(bitPattern: target))
                        mirred.put(TCA_MIRRED_PARMS, raw: parameters)
                    }
                }
            }
            // match u32 0 0 at 0: every packet; terminal, or u32 would look for a next hash
            // table instead of running the action.
            var selector = tc_u32_sel()
            selector.flags = UInt8(TC_U32_TERMINAL)
            selector.nkeys = 1
            // The selector ends in its keys: one, matching anything.
            let key = tc_u32_key(mask: 0, val: 0, off: 0, offmask: 0)
            options.put(TCA_U32_SEL, bytes: withUnsafeBytes(of: &selector) { Array($0) } + withUnsafeBytes(of: key) {
                Array($0)
            })
        }
        try perform(filter)
    }

    /// The kind of the link's root qdisc ("tbf", "noqueue", …), for CHECK (`tc qdisc show dev D`).
    public func rootQdiscKind(link index: Int32) throws(NetlinkError) -> String? {
        let message = tcMessage("list qdiscs of link \(index)", RTM_GETQDISC, 0, link: index, handle: 0, parent: 0)
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

    private func tcMessage(_ operation: String, _ type: Int, _ flags: Int32, link index: Int32, handle: UInt32,
                           parent: UInt32, info: UInt32 = 0) -> NetlinkMessage {
        let header = tcmsg(tcm_family: UInt8(AF_UNSPEC), tcm__pad1: 0, tcm__pad2: 0, tcm_ifindex: index,
                           tcm_handle: handle, tcm_parent: parent, tcm_info: info)
        return NetlinkMessage(operation, type: UInt16(type), flags: flags, header: header)
    }
}

extension TokenBucket {
    /// Scheduler ticks per microsecond: the kernel counts in ticks of 64 ns (PSCHED_SHIFT),
    /// which is what tc computes from /proc/net/psched.
    static let ticksPerMicrosecond = 1000.0 / 64

    /// Each rate-table entry covers 8 bytes (cell_log 3): the smallest cell that fits a
    /// 2047-byte packet in the table's 256 entries, tc's choice when no MTU is given.
    static let cellLog: UInt8 = 3

    /// The ticks it takes to send `size` bytes at `rate` bytes per second, rounded down to
    /// whole microseconds first, as tc_calc_xmittime does.
    static func ticks(_ size: UInt32, at rate: UInt32) -> UInt32 {
        let microseconds = UInt32(clamping: UInt64(1_000_000 * (Double(size) / Double(rate))))
        return UInt32(clamping: UInt64(Double(microseconds) * ticksPerMicrosecond))
    }

    var rateSpec: tc_ratespec {
        tc_ratespec(cell_log: Self.cellLog, linklayer: UInt8(TC_LINKLAYER_ETHERNET.rawValue), overhead: 0,
                    cell_align: -1, mpu: 0, rate: rate)
    }

    /// The time to send a packet of each size, 256 cells of 8 bytes, as tc_calc_rtable fills it.
    /// The kernel requires the table; it times packets from the rate itself.
    var rateTable: [UInt8] {
        (0..<256).flatMap { cell in
            withUnsafeBytes(of: Self.ticks(UInt32(cell + 1) << Self.cellLog, at: rate)) { Array($0) }
        }
    }
}
