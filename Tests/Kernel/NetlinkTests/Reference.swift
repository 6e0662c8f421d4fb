#if canImport(Glibc)
import Glibc
#endif
import CNetlink

/// A golden reference: the bytes `ip`, `bridge`, `tc` or `nft` sent for a change, captured by
/// References/capture.sh, and the differences from podwire's message the file allows.
struct Reference {
    let name: String
    let command: String
    var bytes: [UInt8]

    /// What a reference may differ in, each named on a "# differ:" line with its reason.
    enum Difference: Equatable {
        /// podwire asks the kernel to acknowledge each request of a batch, so a refusal names
        /// the request it refused; nft does not.
        case ack
        /// podwire names the link (IFLA_IFNAME) where `ip` first looks its index up.
        case byName(String)
        /// An attribute the tool adds and podwire does not (nft's notes for its own printing).
        case withoutAttribute(UInt16)
        /// nft numbers the set a rule's lookup names (NFTA_LOOKUP_SET_ID), for a set made in
        /// the same batch; the kernel looks the name up first.
        case withoutLookupSetID
    }

    let differences: [Difference]

    init(_ name: String) throws {
        self.name = name
        let path = "\(Reference.directory)/\(name).hex"
        guard let file = fopen(path, "r") else { throw ReferenceError.missing(path) }
        defer { fclose(file) }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            text += String(cString: buffer)
        }
        var command = "", bytes: [UInt8] = [], differences: [Difference] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# differ:") {
                let words = line.dropFirst("# differ:".count).split(separator: " ")
                switch words.first {
                case "ack": differences.append(.ack)
                case "by-name": differences.append(.byName(String(words[1])))
                case "without-attribute": differences.append(.withoutAttribute(UInt16(words[1])!))
                case "without-lookup-set-id": differences.append(.withoutLookupSetID)
                default: throw ReferenceError.unknownDifference(String(line))
                }
            } else if line.hasPrefix("# ") {
                command = String(line.dropFirst(2))
            } else {
                bytes += line.split(separator: " ").map { UInt8($0, radix: 16)! }
            }
        }
        self.command = command
        self.bytes = bytes
        self.differences = differences
    }

    static let directory = String("\(#filePath)".dropLast("/Reference.swift".count)) + "/References"

    /// The reference with the allowed differences applied and the sequence number and port
    /// cleared: what podwire's message must equal byte for byte.
    func expected(familyHeader: Int) -> [UInt8] {
        var message = bytes
        for difference in differences {
            switch difference {
            case .ack:
                message[6] |= UInt8(NLM_F_ACK)
            case let .byName(name):
                message.replaceSubrange(20..<24, with: [0, 0, 0, 0])
                let value = Array(name.utf8) + [0]
                let length = 4 + value.count
                message += [UInt8(length), 0, UInt8(IFLA_IFNAME), 0] + value
                message += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
            case let .withoutAttribute(type):
                message = Reference.removing(type, from: message, after: 16 + familyHeader)
            case .withoutLookupSetID:
                let start = 16 + familyHeader
                var tree = Attribute.parse(message[start...])
                for index in tree.indices where tree[index].type == 4 {  // NFTA_RULE_EXPRESSIONS
                    for element in tree[index].children.indices {
                        var expression = tree[index].children[element]
                        let name = expression.children.first { $0.type == 1 }?.value ?? []
                        guard name == Array("lookup".utf8) + [0] else { continue }
                        for data in expression.children.indices where expression.children[data].type == 2 {
                            expression.children[data].children.removeAll { $0.type == 4 }
                        }
                        tree[index].children[element] = expression
                    }
                }
                message = Array(message[..<start]) + tree.flatMap(\.bytes)
            }
        }
        Reference.setLength(&message)
        return Reference.normalized(message)
    }

    static func normalized(_ message: [UInt8]) -> [UInt8] {
        var message = message
        if message.count >= 16 { message.replaceSubrange(8..<16, with: [UInt8](repeating: 0, count: 8)) }
        return message
    }

    static func setLength(_ message: inout [UInt8]) {
        let length = UInt32(message.count)
        message.replaceSubrange(0..<4, with: withUnsafeBytes(of: length.littleEndian) { Array($0) })
    }

    private static func removing(_ type: UInt16, from message: [UInt8], after start: Int) -> [UInt8] {
        var result = Array(message[..<start])
        var offset = start
        while offset + 4 <= message.count {
            let length = Int(message[offset]) | Int(message[offset + 1]) << 8
            let kind = (UInt16(message[offset + 2]) | UInt16(message[offset + 3]) << 8) & 0x3fff
            let end = min(message.count, offset + ((length + 3) & ~3))
            if kind != type { result += message[offset..<end] }
            offset = end
        }
        return result
    }

    /// A 32-bit value at `path` of nested attributes after the family header, such as the
    /// link index the tool found, so that podwire's request can name the same one.
    func u32(at path: [Int], familyHeader: Int) -> UInt32? {
        var start = 16 + familyHeader, end = bytes.count
        for (depth, type) in path.enumerated() {
            var offset = start, found = false
            while offset + 4 <= end {
                let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
                let kind = (Int(bytes[offset + 2]) | Int(bytes[offset + 3]) << 8) & 0x3fff
                if kind == type {
                    if depth == path.count - 1 {
                        return bytes[offset + 4 ..< offset + 8].reversed().reduce(0) { $0 << 8 | UInt32($1) }
                    }
                    start = offset + 4
                    end = offset + length
                    found = true
                    break
                }
                offset += (length + 3) & ~3
            }
            if !found { return nil }
        }
        return nil
    }

    /// The `ifi_index` (or `ifa_index`, `ndm_ifindex`, `tcm_ifindex`) in the family header.
    func headerIndex(at offset: Int) -> Int32 {
        Int32(bitPattern: bytes[16 + offset ..< 20 + offset].reversed().reduce(0) { $0 << 8 | UInt32($1) })
    }
}

/// An attribute as a tree: nests are the attributes nft flags NLA_F_NESTED.
struct Attribute {
    var type: UInt16
    var flags: UInt16
    var value: [UInt8]
    var children: [Attribute]

    static func parse(_ bytes: ArraySlice<UInt8>) -> [Attribute] {
        var result: [Attribute] = []
        var offset = bytes.startIndex
        while offset + 4 <= bytes.endIndex {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
            let raw = UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8
            guard length >= 4, offset + length <= bytes.endIndex else { break }
            let value = bytes[offset + 4 ..< offset + length]
            let nested = raw & 0x8000 != 0
            result.append(Attribute(type: raw & 0x3fff, flags: raw & 0xc000, value: nested ? [] : Array(value),
                                    children: nested ? parse(value) : []))
            offset += (length + 3) & ~3
        }
        return result
    }

    var bytes: [UInt8] {
        let payload = flags & 0x8000 != 0 ? children.flatMap(\.bytes) : value
        let length = 4 + payload.count
        let raw = type | flags
        return [UInt8(length & 0xff), UInt8(length >> 8), UInt8(raw & 0xff), UInt8(raw >> 8)] + payload
            + [UInt8](repeating: 0, count: (4 - length % 4) % 4)
    }
}

enum ReferenceError: Error {
    case missing(String)
    case unknownDifference(String)
}

/// Two messages as hex, one 16-byte row each, marking the rows that differ.
func hexDiff(_ actual: [UInt8], _ expected: [UInt8]) -> String {
    func row(_ bytes: [UInt8], _ index: Int) -> String {
        let slice = bytes.dropFirst(index * 16).prefix(16)
        return slice.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined(separator: " ")
    }
    let rows = (max(actual.count, expected.count) + 15) / 16
    var lines = ["podwire vs reference:"]
    for index in 0..<rows {
        let a = row(actual, index), e = row(expected, index)
        lines.append(a == e ? "  \(a)" : "- \(a)\n+ \(e)")
    }
    return lines.joined(separator: "\n")
}
