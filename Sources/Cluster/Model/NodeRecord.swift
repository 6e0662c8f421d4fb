import Addressing
import JSON

/// A node as the cluster knows it (`/podwire/nodes/NAME`): where it is on the underlay, its
/// VXLAN endpoint's MAC, and the pod subnets it holds. It stays until an operator removes
/// the node, so a node keeps its subnets across restarts and reboots.
public struct NodeRecord: Equatable, Sendable {
    public var name: String
    /// Underlay addresses, at most one per family: peers reach the node's pods through them.
    public var addresses: [IPAddress]
    public var vtepMAC: MACAddress
    public var subnets: [IPNetwork]

    public init(name: String, addresses: [IPAddress], vtepMAC: MACAddress, subnets: [IPNetwork]) {
        self.name = name
        self.addresses = addresses
        self.vtepMAC = vtepMAC
        self.subnets = subnets
    }

    public func address(_ family: IPAddress.Family) -> IPAddress? { addresses.first { $0.family == family } }
    public func subnet(_ family: IPAddress.Family) -> IPNetwork? { subnets.first { $0.family == family } }

    /// The most entries a list may hold, and the most bytes a record may have: a node has one
    /// address and one subnet per family, and a record is small.
    public static let maximumEntries = 4
    public static let maximumBytes = 4096

    public init(json bytes: some Collection<UInt8>) throws(ClusterError) {
        guard bytes.count <= Self.maximumBytes else {
            throw .invalid("node record: \(bytes.count) bytes, more than \(Self.maximumBytes)")
        }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw .invalid("node record: \(error)")
        }
        guard let name = document["name"]?.stringValue, NodeRecord.isValidName(name) else {
            throw .invalid("node record: name is missing or not a valid node name")
        }
        func strings(_ key: String) throws(ClusterError) -> [String] {
            guard case .array(let items) = document[key] ?? .array([]) else {
                throw .invalid("node record \(name): \(key) must be a list")
            }
            guard items.count <= Self.maximumEntries else {
                throw .invalid("node record \(name): \(key) holds \(items.count) entries, more than "
                               + "\(Self.maximumEntries)")
            }
            var result: [String] = []
            for item in items {
                guard let text = item.stringValue else {
                    throw .invalid("node record \(name): \(key) holds a non-string")
                }
                result.append(text)
            }
            return result
        }
        var addresses: [IPAddress] = []
        for text in try strings("addresses") {
            guard let address = IPAddress(text) else {
                throw .invalid("node record \(name): \"\(text.prefix(64))\" is not an address")
            }
            addresses.append(address)
        }
        var subnets: [IPNetwork] = []
        for text in try strings("subnets") {
            guard let subnet = IPNetwork(text), subnet.isNetworkAddress else {
                throw .invalid("node record \(name): \"\(text.prefix(64))\" is not a network address/prefix")
            }
            subnets.append(subnet)
        }
        guard let macText = document["vtepMAC"]?.stringValue, let mac = MACAddress(macText) else {
            throw .invalid("node record \(name): vtepMAC is missing or not a MAC address")
        }
        self.init(name: name, addresses: addresses, vtepMAC: mac, subnets: subnets)
    }

    public var json: String {
        let object: JSONValue = .object([
            "name": .string(name),
            "addresses": .array(addresses.map { .string("\($0)") }),
            "vtepMAC": .string("\(vtepMAC)"),
            "subnets": .array(subnets.map { .string("\($0)") }),
        ])
        return String(decoding: JSONWriter.write(object), as: UTF8.self)
    }

    /// A DNS label or dotted name as Kubernetes allows for a node: lower-case letters, digits,
    /// `-` and `.`, at most 253 bytes, starting and ending with a letter or digit.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...253).contains(bytes.count) else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool { (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) }
        guard alphanumeric(bytes.first!), alphanumeric(bytes.last!) else { return false }
        return bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }
}
