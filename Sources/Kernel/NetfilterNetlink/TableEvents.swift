import CNetlink
import Netlink

/// A removal nf_tables reports (`nft monitor`): a table, or a chain or set of one. Rules and
/// elements are not reported here: declaring a table flushes its chains' rules, and the
/// plugin's DELs remove elements all day.
public struct TableRemoval: Equatable, Sendable {
    public enum Object: String, Sendable { case table, chain, set }
    public var object: Object
    public var family: NFTables.Family?
    public var table: String

    public init(object: Object, family: NFTables.Family?, table: String) {
        self.object = object
        self.family = family
        self.table = table
    }
}

extension NetlinkSocket where Family == NetfilterFamily {
    /// A socket told of every nf_tables change (NFNLGRP_NFTABLES).
    public static func tableEvents() throws(NetlinkError) -> NetfilterSocket {
        let socket = try NetfilterSocket()
        try socket.subscribe(to: UInt32(NFNLGRP_NFTABLES.rawValue))
        return socket
    }

    /// Waits for the next notifications and returns the removals among them. A reader that
    /// fell behind gets ENOBUFS: what was lost must be read afresh.
    public func nextTableRemovals() throws(NetlinkError) -> [TableRemoval] {
        var removals: [TableRemoval] = []
        try notifications { reply throws(NetlinkError) in
            if let removal = TableRemoval(reply) { removals.append(removal) }
        }
        return removals
    }
}

extension TableRemoval {
    /// The removal a notification tells of; nil for any other message.
    init?(_ reply: NetlinkReply) {
        guard Int32(reply.type >> 8) == NFNL_SUBSYS_NFTABLES, let header = reply.header(nfgenmsg.self) else {
            return nil
        }
        let attributes = reply.attributes(after: nfgenmsg.self)
        let found: (Object, String?)
        switch UInt32(reply.type & 0xff) {
        case NFT_MSG_DELTABLE.rawValue: found = (.table, attributes[NFTA_TABLE_NAME]?.string)
        case NFT_MSG_DELCHAIN.rawValue: found = (.chain, attributes[NFTA_CHAIN_TABLE]?.string)
        case NFT_MSG_DELSET.rawValue: found = (.set, attributes[NFTA_SET_TABLE]?.string)
        default: return nil
        }
        guard let table = found.1 else { return nil }
        self.init(object: found.0, family: NFTables.Family(rawValue: header.nfgen_family), table: table)
    }
}
