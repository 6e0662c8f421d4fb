#if canImport(Glibc)
import Glibc
#endif
import Addressing
import CNetlink
import NetfilterNetlink
import RouteNetlink
import Testing

/// The numbers podwire names with Swift literals (enum raw values cannot be C constants),
/// held to the headers that define them.
@Suite struct NamedNumbersTests {
    @Test func nfTablesFamiliesAndHooksAreTheKernels() {
        let families: [NFTables.Family: Int32] = [
            .inet: Int32(NFPROTO_INET), .ipv4: Int32(NFPROTO_IPV4),
            .bridge: Int32(NFPROTO_BRIDGE), .ipv6: Int32(NFPROTO_IPV6),
        ]
        for family in NFTables.Family.allCases { #expect(Int32(family.rawValue) == families[family]) }
        let hooks: [NFTables.Hook: UInt32] = [
            .prerouting: NF_INET_PRE_ROUTING.rawValue, .input: NF_INET_LOCAL_IN.rawValue,
            .forward: NF_INET_FORWARD.rawValue, .output: NF_INET_LOCAL_OUT.rawValue,
            .postrouting: NF_INET_POST_ROUTING.rawValue,
        ]
        for hook in NFTables.Hook.allCases { #expect(UInt32(hook.rawValue) == hooks[hook]) }
    }

    @Test func priorities() {
        #expect(NFTables.Priority.raw.value == -300)
        #expect(NFTables.Priority.destinationNAT.value == -100)
        #expect(NFTables.Priority.sourceNAT.value == 100)
        #expect(NFTables.Priority.bridgeDestinationNAT.value == -300)
    }

    @Test func ipProtocolsAreGlibcs() {
        #expect(Int32(IPProtocol.tcp.rawValue) == Int32(IPPROTO_TCP))
        #expect(Int32(IPProtocol.udp.rawValue) == Int32(IPPROTO_UDP))
        #expect(Int32(IPProtocol.sctp.rawValue) == Int32(IPPROTO_SCTP))
    }

    /// The kernel leaves numbers above RTPROT_STATIC to their owners.
    @Test func podwiresRouteProtocolIsOneTheKernelLeavesAlone() {
        #expect(Int32(RouteProtocol.podwire) > Int32(RTPROT_STATIC))
        #expect(RouteProtocol.podwire == 112)
    }
}
