import Addressing
import NetfilterNetlink
import Netlink

/// VXLAN's own UDP packets bypass conntrack: the node tracks the pods' connections inside
/// them already, and tracking the tunnel as well costs each packet a second lookup on both
/// nodes (netns-test/bench/datapath.sh shows what it costs). One table of the node agent's,
/// `inet podwire-node`:
///
///     chain prerouting { type filter hook prerouting priority raw; udp dport PORT notrack }
///     chain output     { type filter hook output priority raw; udp dport PORT notrack }
public enum Untracked {
    public static let table = "podwire-node"

    /// Declares the table unless each chain holds its one rule for `port` already: at a start
    /// (a daemon restarted or upgraded keeps what is right in place) and after something removed
    /// the table (`nft flush ruleset`). True when it declared it.
    @discardableResult
    public static func ensure(port: UInt16) throws(NetlinkError) -> Bool {
        let tables = try NFTables(table: table)
        var inPlace = true
        for chain in ["prerouting", "output"] where inPlace {
            let rules = try tables.rules(of: chain) ?? []
            inPlace = rules.count == 1 && rules[0].contains { $0.name == "notrack" }
                && rules[0].contains { $0.name == "cmp" && $0.value == [UInt8(port >> 8), UInt8(port & 0xff)] }
        }
        guard !inPlace else { return false }
        try vxlan(port: port)
        return true
    }

    static func vxlan(port: UInt16) throws(NetlinkError) {
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
