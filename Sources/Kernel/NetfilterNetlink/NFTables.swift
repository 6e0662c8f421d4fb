import CNetlink
import Netlink

/// nf_tables objects as podwire uses them: one table with named sets, maps and base chains,
/// rules built from a few expressions, and set elements that carry a comment naming their
/// owner. Each is a request in a transaction that `NFTables.commit` sends in one write.
public final class NFTables {
    public let family: Family
    public let table: String
    private let socket: NetfilterSocket
    private var batch = NetlinkBatch(subsystem: NFNL_SUBSYS_NFTABLES)
    /// Requests in the batch, for set ids unique within the transaction.
    private var staged: UInt32 = 0

    public init(family: Family = .inet, table: String) throws(NetlinkError) {
        self.family = family
        self.table = table
        socket = try NetfilterSocket()
    }

    /// Tables that speak through `socket` (a recording one, in the golden tests).
    init(family: Family, table: String, socket: NetfilterSocket) {
        self.family = family
        self.table = table
        self.socket = socket
    }

    /// A table's address family (NFPROTO_*; a test holds each to the kernel's value).
    public enum Family: UInt8, Sendable, CaseIterable {
        case inet = 1, ipv4 = 2, bridge = 7, ipv6 = 10
    }

    /// The hook a base chain hangs on (NF_INET_*); bridge tables number theirs the same way.
    public enum Hook: UInt32, Sendable, CaseIterable {
        case prerouting = 0, input, forward, output, postrouting
    }

    /// Where on its hook a base chain runs, lowest first, as the kernel's enums number them:
    /// each family has its own scale, so the same number means different places.
    public struct Priority: Sendable, Equatable {
        public var value: Int32
        public init(_ value: Int32) { self.value = value }
        /// nft's `raw` (NF_IP_PRI_RAW, -300): before conntrack, where `notrack` works.
        public static let raw = Priority(NF_IP_PRI_RAW.rawValue)
        /// nft's `dstnat` (NF_IP_PRI_NAT_DST, -100).
        public static let destinationNAT = Priority(NF_IP_PRI_NAT_DST.rawValue)
        /// nft's `srcnat` (NF_IP_PRI_NAT_SRC, 100).
        public static let sourceNAT = Priority(NF_IP_PRI_NAT_SRC.rawValue)
        /// A bridge table's `dstnat` (NF_BR_PRI_NAT_DST_BRIDGED, -300): before any bridge filtering.
        public static let bridgeDestinationNAT = Priority(NF_BR_PRI_NAT_DST_BRIDGED.rawValue)
    }

    /// nft's own numbers for the types of set keys and map values (`enum datatypes` in nftables'
    /// include/datatype.h): not the kernel's, which stores them opaquely for nft to read back.
    public enum TypeID: UInt32, Sendable {
        case ipv4Address = 7, ipv6Address = 8, etherAddress = 9, inetProtocol = 12, inetService = 13
        case interfaceName = 41
    }

    /// A set's key (or a map's value): the nft type id, and the width of each field in bytes.
    /// Concatenated fields each take whole 32-bit registers, as nft lays them out.
    public struct DataType: Sendable {
        public var fields: [(type: UInt32, length: UInt32)]
        init(_ type: TypeID, length: UInt32) { fields = [(type.rawValue, length)] }
        init(fields: [(type: UInt32, length: UInt32)]) { self.fields = fields }
        public static let ipv4 = DataType(.ipv4Address, length: 4)
        public static let ipv6 = DataType(.ipv6Address, length: 16)
        public static let inetProtocol = DataType(.inetProtocol, length: 1)
        public static let inetService = DataType(.inetService, length: 2)
        public static let etherAddress = DataType(.etherAddress, length: 6)
        /// An interface name, NUL-padded to IFNAMSIZ as `meta iifname` loads it.
        public static let interfaceName = DataType(.interfaceName, length: 16)
        public static func + (left: DataType, right: DataType) -> DataType {
            DataType(fields: left.fields + right.fields)
        }
        var typeID: UInt32 { fields.reduce(0) { ($0 << 6) | $1.type } }
        var length: UInt32 { fields.reduce(0) { $0 + ($1.length + 3) / 4 * 4 } }
        var isConcatenation: Bool { fields.count > 1 }
    }

    public struct Element: Sendable, Equatable {
        public var key: [UInt8]
        /// The closing key of a range in an interval set.
        public var keyEnd: [UInt8]?
        /// A map's value.
        public var value: [UInt8]?
        public var comment: String?
        public init(key: [UInt8], keyEnd: [UInt8]? = nil, value: [UInt8]? = nil, comment: String? = nil) {
            self.key = key
            self.keyEnd = keyEnd
            self.value = value
            self.comment = comment
        }
    }

    // MARK: objects

    public func addTable() {
        var request = message("add table", NFT_MSG_NEWTABLE)
        request.put(NFTA_TABLE_NAME, string: table)
        request.put(NFTA_TABLE_FLAGS, be32: 0)
        stage(request)
    }

    /// A base chain of `type` ("nat", "filter") on `hook` at `priority`, policy accept.
    public func addChain(_ name: String, type: String, hook: Hook, priority: Priority) {
        var request = message("add chain \(name)", NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE)
        request.put(NFTA_CHAIN_TABLE, string: table)
        request.put(NFTA_CHAIN_NAME, string: name)
        request.put(NFTA_CHAIN_TYPE, string: type)
        request.nested(NFTA_CHAIN_HOOK, flagged: true) { request in
            request.put(NFTA_HOOK_HOOKNUM, be32: hook.rawValue)
            request.put(NFTA_HOOK_PRIORITY, be32: UInt32(bitPattern: priority.value))
        }
        stage(request)
    }

    /// Removes every rule of a chain, so that the rules that follow replace them in the
    /// same transaction.
    public func flushChain(_ name: String) {
        var request = message("flush chain \(name)", NFT_MSG_DELRULE)
        request.put(NFTA_RULE_TABLE, string: table)
        request.put(NFTA_RULE_CHAIN, string: name)
        stage(request)
    }

    /// A set of `key`s, or a map from `key` to `value`. Concatenated keys with `interval`
    /// give ranges per field, which the kernel keeps in its pipapo set.
    public func addSet(_ name: String, key: DataType, value: DataType? = nil,
                                interval: Bool = false) {
        var request = message("add set \(name)", NFT_MSG_NEWSET, flags: NLM_F_CREATE)
        var flags = UInt32(0)
        if interval { flags |= UInt32(NFT_SET_INTERVAL.rawValue) }
        // As nft does: the concat flag (and its field description) only for ranges, which
        // need the per-field pipapo set; a plain concatenated key hashes as one blob.
        if key.isConcatenation && interval { flags |= UInt32(NFT_SET_CONCAT.rawValue) }
        if value != nil { flags |= UInt32(NFT_SET_MAP.rawValue) }
        request.put(NFTA_SET_TABLE, string: table)
        request.put(NFTA_SET_NAME, string: name)
        request.put(NFTA_SET_FLAGS, be32: flags)
        request.put(NFTA_SET_KEY_TYPE, be32: key.typeID)
        request.put(NFTA_SET_KEY_LEN, be32: key.length)
        if let value {
            request.put(NFTA_SET_DATA_TYPE, be32: value.typeID)
            request.put(NFTA_SET_DATA_LEN, be32: value.length)
        }
        request.put(NFTA_SET_ID, be32: staged + 1)
        if key.isConcatenation && interval {
            request.nested(NFTA_SET_DESC, flagged: true) { request in
                request.nested(NFTA_SET_DESC_CONCAT, flagged: true) { request in
                    for field in key.fields {
                        request.nested(NFTA_LIST_ELEM, flagged: true) { request in
                            request.put(NFTA_SET_FIELD_LEN, be32: (field.length + 3) / 4 * 4)
                        }
                    }
                }
            }
        }
        stage(request)
    }

    public func addRule(_ chain: String, _ expressions: [Expression]) {
        var request = message("add rule to \(chain)", NFT_MSG_NEWRULE, flags: NLM_F_CREATE | NLM_F_APPEND)
        request.put(NFTA_RULE_TABLE, string: table)
        request.put(NFTA_RULE_CHAIN, string: chain)
        request.nested(NFTA_RULE_EXPRESSIONS, flagged: true) { request in
            for expression in expressions { expression.put(into: &request) }
        }
        stage(request)
    }

    /// Adds elements; with `exclusive`, an element whose key is there already fails the
    /// whole transaction with "exists" (a host port taken by another pod).
    public func addElements(_ set: String, _ elements: [Element],
                                     exclusive: Bool = false) {
        guard !elements.isEmpty else { return }
        elementRequest("add to \(set)", NFT_MSG_NEWSETELEM, set, elements,
                           flags: NLM_F_CREATE | (exclusive ? NLM_F_EXCL : 0))
    }

    public func deleteElements(_ set: String, _ elements: [Element]) {
        guard !elements.isEmpty else { return }
        elementRequest("delete from \(set)", NFT_MSG_DELSETELEM, set, elements, flags: 0)
    }

    /// Sends everything added since the last commit as one transaction.
    public func commit() throws(NetlinkError) {
        let finished = batch.take()
        staged = 0
        try socket.commit(finished)
    }

    /// Whether the table exists.
    public func exists() throws(NetlinkError) -> Bool {
        var request = message("get table", NFT_MSG_GETTABLE)
        request.put(NFTA_TABLE_NAME, string: table)
        do {
            try socket.get(request) { _ throws(NetlinkError) in }
        } catch {
            if error.isNotFound { return false }
            throw error
        }
        return true
    }

    /// One expression of a rule as the kernel lists it: its name ("cmp", "payload", "notrack")
    /// and, for a comparison, the value compared with.
    public struct ListedExpression: Equatable, Sendable {
        public var name: String
        public var value: [UInt8]?
        public init(name: String, value: [UInt8]? = nil) {
            self.name = name
            self.value = value
        }
    }

    /// The rules of a chain, each as its expressions; nil when the table or chain does not exist.
    public func rules(of chain: String) throws(NetlinkError) -> [[ListedExpression]]? {
        var request = message("list rules of \(chain)", NFT_MSG_GETRULE)
        request.put(NFTA_RULE_TABLE, string: table)
        request.put(NFTA_RULE_CHAIN, string: chain)
        var rules: [[ListedExpression]] = []
        do {
            try socket.dump(request) { reply throws(NetlinkError) in
                let attributes = reply.attributes(after: nfgenmsg.self)
                // A dump filtered by table and chain: the kernel filters, this checks.
                guard attributes[NFTA_RULE_TABLE]?.string == table, attributes[NFTA_RULE_CHAIN]?.string == chain,
                      let expressions = attributes[NFTA_RULE_EXPRESSIONS] else { return }
                rules.append(expressions.nested.map { item in
                    let fields = item.nested
                    let data = fields[NFTA_EXPR_DATA]?.nested
                    return ListedExpression(name: fields[NFTA_EXPR_NAME]?.string ?? "",
                                            value: data?[NFTA_CMP_DATA].flatMap(Self.dataValue))
                })
            }
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
        return rules
    }

    /// The elements of a set, or nil when the table or set does not exist.
    public func elements(of set: String) throws(NetlinkError) -> [Element]? {
        var request = message("list \(set)", NFT_MSG_GETSETELEM)
        request.put(NFTA_SET_ELEM_LIST_SET, string: set)
        request.put(NFTA_SET_ELEM_LIST_TABLE, string: table)
        var found: [Element] = []
        do {
            try socket.dump(request) { reply throws(NetlinkError) in found += Self.elements(in: reply) }
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
        return found
    }

    // MARK: packing

    private func message(_ operation: String, _ type: nf_tables_msg_types, flags: Int32 = 0) -> NetlinkMessage {
        let header = nfgenmsg(nfgen_family: family.rawValue, version: UInt8(NFNETLINK_V0), res_id: 0)
        return NetlinkMessage("nf_tables \(table): \(operation)",
                              type: UInt16(NFNL_SUBSYS_NFTABLES << 8) | UInt16(type.rawValue), flags: flags,
                              header: header)
    }

    private func stage(_ request: consuming NetlinkMessage) {
        batch.append(request)
        staged += 1
    }

    private func elementRequest(_ operation: String, _ type: nf_tables_msg_types, _ set: String,
                                         _ elements: [Element], flags: Int32) {
        var request = message(operation, type, flags: flags)
        request.put(NFTA_SET_ELEM_LIST_TABLE, string: table)
        request.put(NFTA_SET_ELEM_LIST_SET, string: set)
        request.nested(NFTA_SET_ELEM_LIST_ELEMENTS, flagged: true) { request in
            for element in elements {
                request.nested(NFTA_LIST_ELEM, flagged: true) { request in
                    request.putData(NFTA_SET_ELEM_KEY, element.key)
                    if let end = element.keyEnd { request.putData(NFTA_SET_ELEM_KEY_END, end) }
                    if let value = element.value { request.putData(NFTA_SET_ELEM_DATA, value) }
                    if let comment = element.comment, type == NFT_MSG_NEWSETELEM {
                        request.put(NFTA_SET_ELEM_USERDATA, bytes: Self.commentUserdata(comment))
                    }
                }
            }
        }
        stage(request)
    }

    /// nft keeps an element's comment as one TLV in the element's user data, type 0.
    static func commentUserdata(_ comment: String) -> [UInt8] {
        let bytes = Array(comment.utf8.prefix(254)) + [0]
        return [0, UInt8(bytes.count)] + bytes
    }

    static func comment(fromUserdata data: [UInt8]) -> String? {
        var index = 0
        while index + 2 <= data.count {
            let type = data[index], length = Int(data[index + 1])
            let start = index + 2, end = start + length
            guard end <= data.count else { return nil }
            if type == 0 { return String(decoding: data[start..<end].prefix { $0 != 0 }, as: UTF8.self) }
            index = end
        }
        return nil
    }

    private static func elements(in reply: NetlinkReply) -> [Element] {
        guard let list = reply.attributes(after: nfgenmsg.self)[NFTA_SET_ELEM_LIST_ELEMENTS] else { return [] }
        return list.nested.compactMap { item in
            let fields = item.nested
            guard let key = fields[NFTA_SET_ELEM_KEY].flatMap(dataValue) else { return nil }
            return Element(key: key, keyEnd: fields[NFTA_SET_ELEM_KEY_END].flatMap(dataValue),
                           value: fields[NFTA_SET_ELEM_DATA].flatMap(dataValue),
                           comment: fields[NFTA_SET_ELEM_USERDATA].flatMap { comment(fromUserdata: $0.bytes) })
        }
    }

    private static func dataValue(_ attribute: NetlinkAttribute) -> [UInt8]? {
        attribute.nested[NFTA_DATA_VALUE]?.bytes
    }
}

extension NetlinkMessage {
    /// `NFTA_DATA_VALUE` inside `type`: how nf_tables wraps keys, values and constants.
    mutating func putData(_ type: some AttributeType, _ bytes: [UInt8]) {
        nested(type, flagged: true) { $0.put(NFTA_DATA_VALUE, bytes: bytes) }
    }
}

/// NETLINK_NETFILTER: nf_tables transactions and dumps.
public enum NetfilterFamily: NetlinkFamily {
    public static let protocolNumber = NETLINK_NETFILTER
    public static let name = "netfilter"
}

public typealias NetfilterSocket = NetlinkSocket<NetfilterFamily>

extension nft_table_attributes: AttributeType {}
extension nft_chain_attributes: AttributeType {}
extension nft_hook_attributes: AttributeType {}
extension nft_rule_attributes: AttributeType {}
extension nft_set_attributes: AttributeType {}
extension nft_set_desc_attributes: AttributeType {}
extension nft_set_field_attributes: AttributeType {}
extension nft_list_attributes: AttributeType {}
extension nft_set_elem_list_attributes: AttributeType {}
extension nft_set_elem_attributes: AttributeType {}
extension nft_data_attributes: AttributeType {}
extension nft_verdict_attributes: AttributeType {}
extension nft_expr_attributes: AttributeType {}
extension nft_immediate_attributes: AttributeType {}
extension nft_meta_attributes: AttributeType {}
extension nft_payload_attributes: AttributeType {}
extension nft_cmp_attributes: AttributeType {}
extension nft_bitwise_attributes: AttributeType {}
extension nft_lookup_attributes: AttributeType {}
extension nft_nat_attributes: AttributeType {}
extension nft_fib_attributes: AttributeType {}
extension nft_ct_attributes: AttributeType {}
