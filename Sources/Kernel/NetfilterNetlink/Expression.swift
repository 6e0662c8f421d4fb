import CNetlink
import Netlink

extension NFTables {
    /// A data register of the nf_tables VM, counted in 32-bit words: `one` (word 0) is where
    /// the 16-byte register 1 starts, and a concatenation fills consecutive words.
    public struct Register: Equatable, Sendable {
        public let word: UInt32
        public static let one = Register(word: 0)
        public static func word(_ number: UInt32) -> Register { Register(word: number) }
        public static func + (register: Register, words: UInt32) -> Register { Register(word: register.word + words) }

        /// The number the kernel reads: a 16-byte register's own number where one starts
        /// (NFT_REG_1 …), a 32-bit register's otherwise (NFT_REG32_xx), as nft writes them.
        var rawValue: UInt32 {
            word % 4 == 0 ? NFT_REG_1.rawValue + word / 4 : NFT_REG32_00.rawValue + word
        }
    }

    public enum Verdict: Sendable {
        case accept, drop, `return`
        var code: Int32 {
            switch self {
            case .accept: Int32(NF_ACCEPT)
            case .drop: Int32(NF_DROP)
            case .return: NFT_RETURN.rawValue
            }
        }
    }

    /// What `meta` loads.
    public enum MetaKey: Sendable {
        case nfproto, l4proto, inputInterfaceName
        var rawValue: UInt32 {
            switch self {
            case .nfproto: NFT_META_NFPROTO.rawValue
            case .l4proto: NFT_META_L4PROTO.rawValue
            case .inputInterfaceName: NFT_META_IIFNAME.rawValue
            }
        }
    }

    /// Where a `payload` offset counts from.
    public enum PayloadBase: Sendable {
        case link, network, transport
        var rawValue: UInt32 {
            switch self {
            case .link: NFT_PAYLOAD_LL_HEADER.rawValue
            case .network: NFT_PAYLOAD_NETWORK_HEADER.rawValue
            case .transport: NFT_PAYLOAD_TRANSPORT_HEADER.rawValue
            }
        }
    }

    /// The `fib` result for a local address (RTN_LOCAL), as the kernel compares it.
    public static var localAddressType: UInt32 { UInt32(RTN_LOCAL) }
    /// The conntrack status bit of a destination-NATed connection (IPS_DST_NAT).
    public static var destinationNATStatus: UInt32 { UInt32(IPS_DST_NAT.rawValue) }

    /// The nf_tables expressions podwire's rules are made of, as nft would emit them.
    public enum Expression: Sendable {
        case meta(MetaKey, into: Register)
        case payload(base: PayloadBase, offset: UInt32, length: UInt32, into: Register)
        case compare(Register, equal: Bool, to: [UInt8])
        case mask(Register, length: UInt32, with: [UInt8])
        case lookup(set: String, register: Register)
        /// Matches when the key in `register` is not in the set.
        case absentFrom(set: String, register: Register)
        /// Loads the value a map holds for the key in `register` into `into`.
        case map(set: String, register: Register, into: Register)
        case verdict(Verdict)
        case masquerade
        /// Destination NAT to the address and port held in two registers.
        case dnat(family: Family, addressRegister: Register, portRegister: Register)
        /// The address type (`localAddressType`, …) of the packet's destination, by a FIB lookup.
        case destinationAddressType(into: Register)
        case conntrackStatus(into: Register)
        /// The packet is not tracked by conntrack (it must come before conntrack's own hooks).
        case notrack

        func put(into message: inout NetlinkMessage) {
            message.nested(NFTA_LIST_ELEM, flagged: true) { element in
                element.put(NFTA_EXPR_NAME, string: name)
                // notrack has no data at all; masq an empty nest, as nft sends them.
                if case .notrack = self { return }
                element.nested(NFTA_EXPR_DATA, flagged: true) { putData(&$0) }
            }
        }

        private var name: String {
            switch self {
            case .meta: "meta"
            case .payload: "payload"
            case .compare: "cmp"
            case .mask: "bitwise"
            case .lookup, .absentFrom, .map: "lookup"
            case .verdict: "immediate"
            case .masquerade: "masq"
            case .dnat: "nat"
            case .destinationAddressType: "fib"
            case .conntrackStatus: "ct"
            case .notrack: "notrack"
            }
        }

        private func putData(_ message: inout NetlinkMessage) {
            switch self {
            case let .meta(key, register):
                message.put(NFTA_META_KEY, be32: key.rawValue)
                message.put(NFTA_META_DREG, be32: register.rawValue)
            case let .payload(base, offset, length, register):
                message.put(NFTA_PAYLOAD_DREG, be32: register.rawValue)
                message.put(NFTA_PAYLOAD_BASE, be32: base.rawValue)
                message.put(NFTA_PAYLOAD_OFFSET, be32: offset)
                message.put(NFTA_PAYLOAD_LEN, be32: length)
            case let .compare(register, equal, bytes):
                message.put(NFTA_CMP_SREG, be32: register.rawValue)
                message.put(NFTA_CMP_OP, be32: equal ? NFT_CMP_EQ.rawValue : NFT_CMP_NEQ.rawValue)
                message.putData(NFTA_CMP_DATA, bytes)
            case let .mask(register, length, mask):
                message.put(NFTA_BITWISE_SREG, be32: register.rawValue)
                message.put(NFTA_BITWISE_DREG, be32: register.rawValue)
                message.put(NFTA_BITWISE_LEN, be32: length)
                message.putData(NFTA_BITWISE_MASK, mask)
                message.putData(NFTA_BITWISE_XOR, [UInt8](repeating: 0, count: mask.count))
            case let .lookup(set, register):
                message.put(NFTA_LOOKUP_SREG, be32: register.rawValue)
                message.put(NFTA_LOOKUP_SET, string: set)
            case let .absentFrom(set, register):
                message.put(NFTA_LOOKUP_SREG, be32: register.rawValue)
                message.put(NFTA_LOOKUP_SET, string: set)
                message.put(NFTA_LOOKUP_FLAGS, be32: NFT_LOOKUP_F_INV.rawValue)
            case let .map(set, register, destination):
                message.put(NFTA_LOOKUP_SREG, be32: register.rawValue)
                message.put(NFTA_LOOKUP_DREG, be32: destination.rawValue)
                message.put(NFTA_LOOKUP_SET, string: set)
            case let .verdict(verdict):
                message.put(NFTA_IMMEDIATE_DREG, be32: NFT_REG_VERDICT.rawValue)
                message.nested(NFTA_IMMEDIATE_DATA, flagged: true) { data in
                    data.nested(NFTA_DATA_VERDICT, flagged: true) {
                        $0.put(NFTA_VERDICT_CODE, be32: UInt32(bitPattern: verdict.code))
                    }
                }
            case .masquerade, .notrack:
                break
            case let .dnat(family, address, port):
                message.put(NFTA_NAT_TYPE, be32: NFT_NAT_DNAT.rawValue)
                message.put(NFTA_NAT_FAMILY, be32: UInt32(family.rawValue))
                message.put(NFTA_NAT_REG_ADDR_MIN, be32: address.rawValue)
                // The registers imply NF_NAT_RANGE_MAP_IPS and NF_NAT_RANGE_PROTO_SPECIFIED.
                message.put(NFTA_NAT_REG_PROTO_MIN, be32: port.rawValue)
            case let .destinationAddressType(register):
                message.put(NFTA_FIB_FLAGS, be32: NFTA_FIB_F_DADDR.rawValue)
                message.put(NFTA_FIB_RESULT, be32: NFT_FIB_RESULT_ADDRTYPE.rawValue)
                message.put(NFTA_FIB_DREG, be32: register.rawValue)
            case let .conntrackStatus(register):
                message.put(NFTA_CT_KEY, be32: NFT_CT_STATUS.rawValue)
                message.put(NFTA_CT_DREG, be32: register.rawValue)
            }
        }
    }
}
