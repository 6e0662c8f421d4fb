import CNI
import Namespaces
import Netlink
import RouteNetlink

/// The `bandwidth` capability, with the reference bandwidth plugin's units and checks:
/// rates in bits per second, bursts in bits. Pod ingress is shaped on the host end of the
/// veth; pod egress arrives on the host end and is redirected through an ifb to be shaped.
struct BandwidthLimits: Equatable {
    var ingress: TokenBucket?
    var egress: TokenBucket?

    /// The reference's queue: what 25 ms at the rate holds, plus the burst.
    static let latencyMilliseconds: UInt64 = 25

    /// `runtimeConfig.bandwidth`, if the runtime sent it.
    init?(_ entry: JSONNode?) throws(CNIError) {
        guard let entry else { return nil }
        ingress = try Self.bucket(rate: entry.uint64("ingressRate"), burst: entry.uint64("ingressBurst"), "ingress")
        egress = try Self.bucket(rate: entry.uint64("egressRate"), burst: entry.uint64("egressBurst"), "egress")
        if ingress == nil && egress == nil { return nil }
    }

    private static func bucket(rate: UInt64?, burst: UInt64?, _ direction: String) throws(CNIError) -> TokenBucket? {
        let rate = rate ?? 0, burst = burst ?? 0
        switch (rate, burst) {
        case (0, 0): return nil
        case (0, _): throw CNIError.config("bandwidth: \(direction)Burst is set, so \(direction)Rate must be set too")
        case (_, 0): throw CNIError.config("bandwidth: \(direction)Rate is set, so \(direction)Burst must be set too")
        default: break
        }
        // tc's rate spec holds bytes per second in 32 bits, and podwire sends no 64-bit rate;
        // the reference bandwidth plugin stops at the same signed limit: about 17 Gbit/s.
        guard rate / 8 <= UInt64(Int32.max) else {
            throw CNIError.config("bandwidth: \(direction)Rate \(rate) bit/s is more than podwire can shape "
                                  + "(17 Gbit/s)")
        }
        guard burst / 8 < UInt64(UInt32.max) else {
            throw CNIError.config("bandwidth: \(direction)Burst \(burst) bits is more than 4 GB")
        }
        let rateBytes = rate / 8, burstBytes = max(burst / 8, 1)
        let limit = min(rateBytes * latencyMilliseconds / 1000 + burstBytes, UInt64(Int32.max))
        return TokenBucket(rate: UInt32(rateBytes), burst: UInt32(burstBytes), limit: UInt32(limit))
    }
}
