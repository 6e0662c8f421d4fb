import CNetlink

/// nf_tables objects as podwire uses them: one table with named sets, maps and base chains,
/// rules built from a few expressions, and set elements that carry a comment naming their
/// owner. Each is a request in a transaction that `NFTables.commit` sends in one write.
public struct NFTables {
    public let family: Int32
    public let table: String
    private let socket: NetfilterSocket
    private var requests: [NetlinkRequest] = []

    public init(family: Int32 = Int32(NFPROTO_INET), table: String) throws(NetlinkError) {
        self.family = family
        self.table = table
        socket = try NetfilterSocket()
    }

    /// A set's key (or a map's value): the nft type id, and the width of each field in bytes.
    /// Concatenated fields each take whole 32-bit registers, as nft lays them out.
    public struct DataType: Sendable {
        public var fields: [(type: UInt32, length: UInt32)]
        public static let ipv4 = DataType(fields: [(7, 4)])
        public static let ipv6 = DataType(fields: [(8, 16)])
        public static let inetProtocol = DataType(fields: [(12, 1)])
        public static let inetService = DataType(fields: [(13, 2)])
        public static let etherAddress = DataType(fields: [(9, 6)])
        /// An interface name, NUL-padded to IFNAMSIZ as `meta iifname` loads it.
        public static let interfaceName = DataType(fields: [(41, 16)])
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

    public mutating func addTable() throws(NetlinkError) {
        let request = message("add table", NFT_MSG_NEWTABLE, flags: NLM_F_CREATE)
        try request.put(attribute(NFTA_TABLE_NAME), string: table)
        requests.append(request)
    }

    public mutating func deleteTable() throws(NetlinkError) {
        let request = message("delete table", NFT_MSG_DELTABLE)
        try request.put(attribute(NFTA_TABLE_NAME), string: table)
        requests.append(request)
    }

    /// A base chain of `type` ("nat", "filter") on `hook` at `priority`, policy accept.
    public mutating func addChain(_ name: String, type: String, hook: UInt32, priority: Int32) throws(NetlinkError) {
        let request = message("add chain \(name)", NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE)
        try request.put(attribute(NFTA_CHAIN_TABLE), string: table)
        try request.put(attribute(NFTA_CHAIN_NAME), string: name)
        try request.put(attribute(NFTA_CHAIN_TYPE), string: type)
        try request.nested(attribute(NFTA_CHAIN_HOOK)) { () throws(NetlinkError) in
            try request.put(attribute(NFTA_HOOK_HOOKNUM), be32: hook)
            try request.put(attribute(NFTA_HOOK_PRIORITY), be32: UInt32(bitPattern: priority))
        }
        requests.append(request)
    }

    /// Removes every rule of a chain, so that the rules that follow replace them in the
    /// same transaction.
    public mutating func flushChain(_ name: String) throws(NetlinkError) {
        let request = message("flush chain \(name)", NFT_MSG_DELRULE)
        try request.put(attribute(NFTA_RULE_TABLE), string: table)
        try request.put(attribute(NFTA_RULE_CHAIN), string: name)
        requests.append(request)
    }

    /// A set of `key`s, or a map from `key` to `value`. Concatenated keys with `interval`
    /// give ranges per field, which the kernel keeps in its pipapo set.
    public mutating func addSet(_ name: String, key: DataType, value: DataType? = nil,
                                interval: Bool = false) throws(NetlinkError) {
        let request = message("add set \(name)", NFT_MSG_NEWSET, flags: NLM_F_CREATE)
        var flags = UInt32(0)
        if interval { flags |= UInt32(NFT_SET_INTERVAL.rawValue) }
        // As nft does: the concat flag (and its field description) only for ranges, which
        // need the per-field pipapo set; a plain concatenated key hashes as one blob.
        if key.isConcatenation && interval { flags |= UInt32(NFT_SET_CONCAT.rawValue) }
        if value != nil { flags |= UInt32(NFT_SET_MAP.rawValue) }
        try request.put(attribute(NFTA_SET_TABLE), string: table)
        try request.put(attribute(NFTA_SET_NAME), string: name)
        try request.put(attribute(NFTA_SET_FLAGS), be32: flags)
        try request.put(attribute(NFTA_SET_KEY_TYPE), be32: key.typeID)
        try request.put(attribute(NFTA_SET_KEY_LEN), be32: key.length)
        try request.put(attribute(NFTA_SET_ID), be32: UInt32(requests.count + 1))
        if let value {
            try request.put(attribute(NFTA_SET_DATA_TYPE), be32: value.typeID)
            try request.put(attribute(NFTA_SET_DATA_LEN), be32: value.length)
        }
        if key.isConcatenation && interval {
            try request.nested(attribute(NFTA_SET_DESC)) { () throws(NetlinkError) in
                try request.nested(attribute(NFTA_SET_DESC_CONCAT)) { () throws(NetlinkError) in
                    for field in key.fields {
                        try request.nested(Int32(NFTA_LIST_ELEM.rawValue)) { () throws(NetlinkError) in
                            try request.put(attribute(NFTA_SET_FIELD_LEN), be32: (field.length + 3) / 4 * 4)
                        }
                    }
                }
            }
        }
        requests.append(request)
    }

    public mutating func addRule(_ chain: String, _ expressions: [Expression]) throws(NetlinkError) {
        let request = message("add rule to \(chain)", NFT_MSG_NEWRULE, flags: NLM_F_CREATE | NLM_F_APPEND)
        try request.put(attribute(NFTA_RULE_TABLE), string: table)
        try request.put(attribute(NFTA_RULE_CHAIN), string: chain)
        try request.nested(attribute(NFTA_RULE_EXPRESSIONS)) { () throws(NetlinkError) in
            for expression in expressions { try expression.put(into: request) }
        }
        requests.append(request)
    }

    /// Adds elements; with `exclusive`, an element whose key is there already fails the
    /// whole transaction with "exists" (a host port taken by another pod).
    public mutating func addElements(_ set: String, _ elements: [Element],
                                     exclusive: Bool = false) throws(NetlinkError) {
        guard !elements.isEmpty else { return }
        try elementRequest("add to \(set)", NFT_MSG_NEWSETELEM, set, elements,
                           flags: NLM_F_CREATE | (exclusive ? NLM_F_EXCL : 0))
    }

    public mutating func deleteElements(_ set: String, _ elements: [Element]) throws(NetlinkError) {
        guard !elements.isEmpty else { return }
        try elementRequest("delete from \(set)", NFT_MSG_DELSETELEM, set, elements, flags: 0)
    }

    /// Sends everything added since the last commit as one transaction.
    public mutating func commit() throws(NetlinkError) {
        defer { requests.removeAll() }
        try socket.commit(requests)
    }

    /// The elements of a set, or nil when the table or set does not exist.
    public func elements(of set: String) throws(NetlinkError) -> [Element]? {
        let request = message("list \(set)", NFT_MSG_GETSETELEM, flags: NLM_F_DUMP)
        try request.put(attribute(NFTA_SET_ELEM_LIST_TABLE), string: table)
        try request.put(attribute(NFTA_SET_ELEM_LIST_SET), string: set)
        var found: [Element] = []
        do {
            try socket.exchange(request) { header throws(NetlinkError) in found += Self.parseElements(header) }
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
        return found
    }

    // MARK: packing

    private func message(_ operation: String, _ type: nf_tables_msg_types, flags: Int32 = 0) -> NetlinkRequest {
        NetlinkRequest(netfilter: "nf_tables \(table): \(operation)", type: type.rawValue, flags: flags, family: family)
    }

    private mutating func elementRequest(_ operation: String, _ type: nf_tables_msg_types, _ set: String,
                                         _ elements: [Element], flags: Int32) throws(NetlinkError) {
        let request = message(operation, type, flags: flags)
        try request.put(attribute(NFTA_SET_ELEM_LIST_TABLE), string: table)
        try request.put(attribute(NFTA_SET_ELEM_LIST_SET), string: set)
        try request.nested(attribute(NFTA_SET_ELEM_LIST_ELEMENTS)) { () throws(NetlinkError) in
            for element in elements {
                try request.nested(Int32(NFTA_LIST_ELEM.rawValue)) { () throws(NetlinkError) in
                    try putData(request, attribute(NFTA_SET_ELEM_KEY), element.key)
                    if let end = element.keyEnd { try putData(request, attribute(NFTA_SET_ELEM_KEY_END), end) }
                    if let value = element.value { try putData(request, attribute(NFTA_SET_ELEM_DATA), value) }
                    if let comment = element.comment, type == NFT_MSG_NEWSETELEM {
                        try request.put(attribute(NFTA_SET_ELEM_USERDATA), bytes: Self.commentUserdata(comment))
                    }
                }
            }
        }
        requests.append(request)
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

    private static func parseElements(_ header: UnsafeMutablePointer<nlmsghdr>) -> [Element] {
        var top = [UnsafeMutablePointer<nlattr>?](repeating: nil, count: Int(elementListMax) + 1)
        guard nlmsg_parse(header, Int32(MemoryLayout<nfgenmsg>.size), &top, elementListMax, nil) == 0,
              let list = top[Int(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue)] else { return [] }
        var elements: [Element] = []
        var remaining = nla_len(list)
        var item: UnsafeMutablePointer<nlattr>? = nla_data(list).assumingMemoryBound(to: nlattr.self)
        while let current = item, nla_ok(current, remaining) != 0 {
            var fields = [UnsafeMutablePointer<nlattr>?](repeating: nil, count: Int(elementMax) + 1)
            if nla_parse_nested(&fields, elementMax, current, nil) == 0,
               let key = dataValue(fields[Int(NFTA_SET_ELEM_KEY.rawValue)]) {
                elements.append(Element(
                    key: key,
                    keyEnd: dataValue(fields[Int(NFTA_SET_ELEM_KEY_END.rawValue)]),
                    value: dataValue(fields[Int(NFTA_SET_ELEM_DATA.rawValue)]),
                    comment: fields[Int(NFTA_SET_ELEM_USERDATA.rawValue)].flatMap {
                        comment(fromUserdata: bytes(of: $0))
                    }))
            }
            item = nla_next(current, &remaining)
        }
        return elements
    }

    private static func dataValue(_ attribute: UnsafeMutablePointer<nlattr>?) -> [UInt8]? {
        guard let attribute else { return nil }
        var fields = [UnsafeMutablePointer<nlattr>?](repeating: nil, count: Int(dataMax) + 1)
        guard nla_parse_nested(&fields, dataMax, attribute, nil) == 0,
              let value = fields[Int(NFTA_DATA_VALUE.rawValue)] else { return nil }
        return bytes(of: value)
    }

    private static func bytes(of attribute: UnsafeMutablePointer<nlattr>) -> [UInt8] {
        [UInt8](UnsafeRawBufferPointer(start: nla_data(attribute), count: Int(nla_len(attribute))))
    }
}

// The headers' *_MAX macros are arithmetic, which Swift does not import.
private let elementListMax = Int32(__NFTA_SET_ELEM_LIST_MAX.rawValue) - 1
private let elementMax = Int32(__NFTA_SET_ELEM_MAX.rawValue) - 1
private let dataMax = Int32(__NFTA_DATA_MAX.rawValue) - 1

func attribute<T: RawRepresentable>(_ value: T) -> Int32 where T.RawValue == UInt32 { Int32(value.rawValue) }

/// `NFTA_DATA_VALUE` inside `attribute`: how nf_tables wraps keys, values and constants.
func putData(_ request: NetlinkRequest, _ attribute: Int32, _ bytes: [UInt8]) throws(NetlinkError) {
    try request.nested(attribute) { () throws(NetlinkError) in
        try request.put(Int32(NFTA_DATA_VALUE.rawValue), bytes: bytes)
    }
}
