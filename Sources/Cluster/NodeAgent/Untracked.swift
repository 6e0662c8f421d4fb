import Addressing
import NetfilterNetlink
import Netlink

/// VXLAN's own UDP packets bypass conntrack: the node tracks the pods' connections inside
/// them already, and tracking the tunnel as well costs each packet a second lookup on both
/// nodes (netns-test/bench/datapath.sh shows what it costs). One table of the node agent's,
/// `inet podwire-node`, declared afresh at every start:
///
///     chain prerouting { type filter hook prerouting priority raw; udp dport PORT notrack }
///     chain output     { type filter hook output priority raw; udp dport PORT notrack }
public enum Untracked {
    public static let table = "podwire-node"

    public static func vxlan(port: UInt16) throws(NetlinkError) {
        let tables = try NFTables(table: table)
        tables.addTable()
        for (chain, hook) in [("prerouting", NFTables.Hook.prerouting), ("output", .output)] {
            tables.addChain(chain, type: "filter", hook: hook, priority: .raw)
            tables.flushChain(chain)
            tables.addRule(chain, rule(port: port))
        }
        try tables.commit()
    }

    /// udp dport PORT notrack
    static func rule(port: UInt16) -> [NFTables.Expression] {
        [.meta(.l4proto, into: .one), .compare(.one, equal: true, to: [IPProtocol.udp.rawValue]),
         .payload(base: .transport, offset: 2, length: 2, into: .one),
         .compare(.one, equal: true, to: [UInt8(port >> 8), UInt8(port & 0xff)]), .notrack]
    }
}
