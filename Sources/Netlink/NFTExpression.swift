import CNetlink

extension NFTables {
    /// The nf_tables expressions podwire's rules are made of, as nft would emit them.
    /// Registers: 0 is the verdict, 1 a 16-byte register, 8 and up 32-bit registers.
    public enum Expression: Sendable {
        case meta(key: UInt32, into: UInt32)
        case payload(base: UInt32, offset: UInt32, length: UInt32, into: UInt32)
        case compare(register: UInt32, equal: Bool, to: [UInt8])
        case mask(register: UInt32, length: UInt32, with: [UInt8])
        case lookup(set: String, register: UInt32, into: UInt32?)
        /// Matches when the key in `register` is not in the set.
        case absentFrom(set: String, register: UInt32)
        case verdict(Int32)
        case masquerade
        /// Destination NAT to the address and port held in two registers.
        case dnat(family: Int32, addressRegister: UInt32, portRegister: UInt32)
        /// The address type (`RTN_LOCAL`, …) of the packet's destination, by a FIB lookup.
        case destinationAddressType(into: UInt32)
        case conntrack(key: UInt32, into: UInt32)

        func put(into request: NetlinkRequest) throws(NetlinkError) {
            try request.nested(Int32(NFTA_LIST_ELEM.rawValue)) { () throws(NetlinkError) in
                try request.put(attribute(NFTA_EXPR_NAME), string: name)
                try request.nested(attribute(NFTA_EXPR_DATA)) { () throws(NetlinkError) in try putData(request) }
            }
        }

        private var name: String {
            switch self {
            case .meta: "meta"
            case .payload: "payload"
            case .compare: "cmp"
            case .mask: "bitwise"
            case .lookup, .absentFrom: "lookup"
            case .verdict: "immediate"
            case .masquerade: "masq"
            case .dnat: "nat"
            case .destinationAddressType: "fib"
            case .conntrack: "ct"
            }
        }

        private func putData(_ request: NetlinkRequest) throws(NetlinkError) {
            switch self {
            case let .meta(key, register):
                try request.put(attribute(NFTA_META_DREG), be32: register)
                try request.put(attribute(NFTA_META_KEY), be32: key)
            case let .payload(base, offset, length, register):
                try request.put(attribute(NFTA_PAYLOAD_DREG), be32: register)
                try request.put(attribute(NFTA_PAYLOAD_BASE), be32: base)
                try request.put(attribute(NFTA_PAYLOAD_OFFSET), be32: offset)
                try request.put(attribute(NFTA_PAYLOAD_LEN), be32: length)
            case let .compare(register, equal, bytes):
                try request.put(attribute(NFTA_CMP_SREG), be32: register)
                try request.put(attribute(NFTA_CMP_OP), be32: equal ? NFT_CMP_EQ.rawValue : NFT_CMP_NEQ.rawValue)
                try Netlink.putData(request, attribute(NFTA_CMP_DATA), bytes)
            case let .mask(register, length, mask):
                try request.put(attribute(NFTA_BITWISE_SREG), be32: register)
                try request.put(attribute(NFTA_BITWISE_DREG), be32: register)
                try request.put(attribute(NFTA_BITWISE_LEN), be32: length)
                try Netlink.putData(request, attribute(NFTA_BITWISE_MASK), mask)
                try Netlink.putData(request, attribute(NFTA_BITWISE_XOR), [UInt8](repeating: 0, count: mask.count))
            case let .lookup(set, register, destination):
                try request.put(attribute(NFTA_LOOKUP_SET), string: set)
                try request.put(attribute(NFTA_LOOKUP_SREG), be32: register)
                if let destination { try request.put(attribute(NFTA_LOOKUP_DREG), be32: destination) }
            case let .absentFrom(set, register):
                try request.put(attribute(NFTA_LOOKUP_SET), string: set)
                try request.put(attribute(NFTA_LOOKUP_SREG), be32: register)
                try request.put(attribute(NFTA_LOOKUP_FLAGS), be32: NFT_LOOKUP_F_INV.rawValue)
            case let .verdict(code):
                try request.put(attribute(NFTA_IMMEDIATE_DREG), be32: NFT_REG_VERDICT.rawValue)
                try request.nested(attribute(NFTA_IMMEDIATE_DATA)) { () throws(NetlinkError) in
                    try request.nested(Int32(NFTA_DATA_VERDICT.rawValue)) { () throws(NetlinkError) in
                        try request.put(attribute(NFTA_VERDICT_CODE), be32: UInt32(bitPattern: code))
                    }
                }
            case .masquerade:
                break
            case let .dnat(family, address, port):
                try request.put(attribute(NFTA_NAT_TYPE), be32: NFT_NAT_DNAT.rawValue)
                try request.put(attribute(NFTA_NAT_FAMILY), be32: UInt32(family))
                try request.put(attribute(NFTA_NAT_REG_ADDR_MIN), be32: address)
                try request.put(attribute(NFTA_NAT_REG_PROTO_MIN), be32: port)
                let flags = UInt32(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED)
                try request.put(attribute(NFTA_NAT_FLAGS), be32: flags)
            case let .destinationAddressType(register):
                try request.put(attribute(NFTA_FIB_DREG), be32: register)
                try request.put(attribute(NFTA_FIB_RESULT), be32: NFT_FIB_RESULT_ADDRTYPE.rawValue)
                try request.put(attribute(NFTA_FIB_FLAGS), be32: NFTA_FIB_F_DADDR.rawValue)
            case let .conntrack(key, register):
                try request.put(attribute(NFTA_CT_DREG), be32: register)
                try request.put(attribute(NFTA_CT_KEY), be32: key)
            }
        }
    }
}
