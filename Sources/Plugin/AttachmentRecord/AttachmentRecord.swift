import Addressing
import Firewall
import Identity
import JSON

/// What one attachment put on the node outside its pod: its bridge port and the port's
/// settings, the bridge's gateway addresses, its firewall entries. The plugin writes it as
/// one line of its attachment's index entry, beside the leases; the node's daemon reads it
/// to put back what other software removed (a deleted bridge, `nft flush ruleset`).
///
/// A record is a claim, like anything read from a file: `init(line:)` refuses one that is
/// malformed or names something other than the attachment its entry is filed under.
public struct AttachmentRecord: Equatable, Sendable {
    /// The format's version; a reader skips a record of a newer one.
    public static let version = 1

    public var attachment: Attachment
    public var bridge: String
    /// The bridge's MAC, pinned when it was made: made again with it, the bridge is the same
    /// gateway to the pods' neighbour caches.
    public var bridgeMAC: MACAddress?
    /// nil: the kernel's default, as the plugin left it.
    public var mtu: Int?
    public var promiscuous: Bool
    /// The bridge's addresses the pod uses as gateways (`isGateway`).
    public var gateways: [IPNetwork]
    public var hairpin: Bool
    public var isolated: Bool
    /// With the spoof check: the MAC the pod's frames must carry.
    public var podMAC: MACAddress?
    public var masquerade: [PodFirewall.Masquerade]
    public var ports: [PortTarget]

    public init(attachment: Attachment, bridge: String, bridgeMAC: MACAddress? = nil, mtu: Int? = nil,
                promiscuous: Bool = false, gateways: [IPNetwork] = [], hairpin: Bool = false, isolated: Bool = false,
                podMAC: MACAddress? = nil, masquerade: [PodFirewall.Masquerade] = [], ports: [PortTarget] = []) {
        self.attachment = attachment
        self.bridge = bridge
        self.bridgeMAC = bridgeMAC
        self.mtu = mtu
        self.promiscuous = promiscuous
        self.gateways = gateways
        self.hairpin = hairpin
        self.isolated = isolated
        self.podMAC = podMAC
        self.masquerade = masquerade
        self.ports = ports
    }

    /// Whether the attachment has entries in `inet podwire`.
    public var hasFirewallEntries: Bool { !masquerade.isEmpty || !ports.isEmpty }

    /// Localhost reaches an IPv4 host port through the bridge only with `route_localnet`.
    public var needsRouteLocalnet: Bool { ports.contains { $0.podAddress.family == .v4 } }

    /// One line of JSON: an old reader of the index, which takes each line that is an
    /// address, passes over it.
    public var line: String {
        var object: [String: JSONValue] = [
            "v": .number(Double(Self.version)), "network": .string(attachment.network),
            "containerID": .string(attachment.containerID), "ifname": .string(attachment.ifname),
            "bridge": .string(bridge), "hostEnd": .string(attachment.hostVeth),
        ]
        if let bridgeMAC { object["bridgeMAC"] = .string(bridgeMAC.description) }
        if let mtu { object["mtu"] = .number(Double(mtu)) }
        if promiscuous { object["promisc"] = .bool(true) }
        if !gateways.isEmpty { object["gateways"] = .array(gateways.map { .string($0.description) }) }
        if hairpin { object["hairpin"] = .bool(true) }
        if isolated { object["isolated"] = .bool(true) }
        if let podMAC { object["podMAC"] = .string(podMAC.description) }
        if !masquerade.isEmpty {
            object["masquerade"] = .array(masquerade.map { entry in
                .object(["address": .string(entry.address.description), "subnet": .string(entry.subnet.description),
                         "exempt": .array(entry.exempt.map { .string($0.description) })])
            })
        }
        if !ports.isEmpty {
            object["ports"] = .array(ports.map { target in
                var port: [String: JSONValue] = [
                    "hostPort": .number(Double(target.mapping.hostPort)),
                    "containerPort": .number(Double(target.mapping.containerPort)),
                    "protocol": .string(target.mapping.proto.rawValue),
                    "podAddress": .string(target.podAddress.description), "subnet": .string(target.subnet.description),
                ]
                if let hostIP = target.mapping.hostIP { port["hostIP"] = .string(hostIP.description) }
                return .object(port)
            })
        }
        return String(decoding: JSONWriter.write(.object(object)), as: UTF8.self)
    }

    /// Why a line is not a record podwire can act on.
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
        init(_ reason: String) { self.reason = reason }
    }

    /// Reads a record's line. `newer` is thrown for a record of a later format, which this
    /// build leaves alone.
    public init(line: some StringProtocol) throws(Refusal) {
        let value: JSONValue
        do { value = try JSONParser.parse(Array(line.utf8)) } catch { throw Refusal("not JSON: \(error)") }
        guard case .object(let fields) = value else { throw Refusal("not a JSON object") }
        guard case .number(let version)? = fields["v"] else { throw Refusal("no format version") }
        guard version == Double(Self.version) else { throw Refusal("format version \(version), not \(Self.version)") }
        let reader = Reader(fields: fields)
        let network = try reader.string("network"), containerID = try reader.string("containerID")
        let ifname = try reader.string("ifname")
        attachment = Attachment(network: network, containerID: containerID, ifname: ifname)
        guard try reader.string("hostEnd") == attachment.hostVeth else {
            throw Refusal("its host end is not the one its attachment names")
        }
        bridge = try reader.string("bridge")
        guard !bridge.isEmpty, bridge.utf8.count < 16, !bridge.contains("/"), bridge != ".", bridge != ".." else {
            throw Refusal("bridge name \"\(bridge.prefix(32))\" is not an interface name")
        }
        mtu = try reader.optionalNumber("mtu", in: 68...65535)
        promiscuous = try reader.flag("promisc")
        gateways = try reader.list("gateways") { (item: JSONValue) throws(Refusal) in try Reader.network(item) }
        hairpin = try reader.flag("hairpin")
        isolated = try reader.flag("isolated")
        bridgeMAC = try reader.mac("bridgeMAC")
        podMAC = try reader.mac("podMAC")
        masquerade = try reader.list("masquerade") { (item: JSONValue) throws(Refusal) in
            let entry = Reader(item)
            let address = try Reader.address(entry.value("address")), subnet = try Reader.network(entry.value("subnet"))
            guard subnet.contains(address) else { throw Refusal("masquerade address \(address) is not in \(subnet)") }
            let exempt = try entry.list("exempt") { (item: JSONValue) throws(Refusal) in try Reader.network(item) }
            return PodFirewall.Masquerade(address: address, subnet: subnet, exempt: exempt)
        }
        ports = try reader.list("ports") { (item: JSONValue) throws(Refusal) in
            let port = Reader(item)
            guard let proto = PortMapping.Proto(rawValue: try port.string("protocol")) else {
                throw Refusal("a port's protocol is not tcp, udp or sctp")
            }
            let hostPort = try port.optionalNumber("hostPort", in: 1...65535)
            let containerPort = try port.optionalNumber("containerPort", in: 1...65535)
            guard let hostPort, let containerPort else { throw Refusal("a port without hostPort or containerPort") }
            let hostIP = try port.optionalString("hostIP").map { (text: String) throws(Refusal) in
                try Reader.address(.string(text))
            }
            let podAddress = try Reader.address(port.value("podAddress"))
            let subnet = try Reader.network(port.value("subnet"))
            guard subnet.contains(podAddress), hostIP.map({ $0.family == podAddress.family }) ?? true else {
                throw Refusal("port \(hostPort)'s addresses do not match")
            }
            return PortTarget(mapping: PortMapping(hostPort: UInt16(hostPort), containerPort: UInt16(containerPort),
                                                   proto: proto, hostIP: hostIP),
                              podAddress: podAddress, subnet: subnet)
        }
    }

    /// The fields of one JSON object, each read once and checked for its kind.
    private struct Reader {
        var fields: [String: JSONValue]
        init(fields: [String: JSONValue]) { self.fields = fields }
        init(_ value: JSONValue) { self.fields = if case .object(let fields) = value { fields } else { [:] } }

        func value(_ key: String) throws(Refusal) -> JSONValue {
            guard let value = fields[key] else { throw Refusal("no \(key)") }
            return value
        }

        func string(_ key: String) throws(Refusal) -> String {
            guard let text = try optionalString(key) else { throw Refusal("no \(key)") }
            return text
        }

        func optionalString(_ key: String) throws(Refusal) -> String? {
            switch fields[key] {
            case nil: return nil
            case .string(let text)?: return text
            case let other?: throw Refusal("\(key) must be a string, not \(other.kind)")
            }
        }

        func optionalNumber(_ key: String, in range: ClosedRange<Int>) throws(Refusal) -> Int? {
            switch fields[key] {
            case nil: return nil
            case .number(let number)? where number == number.rounded() && Double(range.lowerBound) <= number
                && number <= Double(range.upperBound): return Int(number)
            case let other?: throw Refusal("\(key) must be a whole number in \(range), not \(other.kind)")
            }
        }

        func mac(_ key: String) throws(Refusal) -> MACAddress? {
            try optionalString(key).map { (text: String) throws(Refusal) in
                guard let mac = MACAddress(text) else { throw Refusal("\(key) \"\(text.prefix(32))\" is not a MAC") }
                return mac
            }
        }

        func flag(_ key: String) throws(Refusal) -> Bool {
            switch fields[key] {
            case nil: return false
            case .bool(let value)?: return value
            case let other?: throw Refusal("\(key) must be true or false, not \(other.kind)")
            }
        }

        func list<T>(_ key: String, _ item: (JSONValue) throws(Refusal) -> T) throws(Refusal) -> [T] {
            switch fields[key] {
            case nil: return []
            case .array(let items)?:
                var result: [T] = []
                for value in items { result.append(try item(value)) }
                return result
            case let other?: throw Refusal("\(key) must be a list, not \(other.kind)")
            }
        }

        static func address(_ value: JSONValue) throws(Refusal) -> IPAddress {
            guard let text = value.stringValue, let address = IPAddress(text) else {
                throw Refusal("\(value.stringValue.map { "\"\($0.prefix(48))\"" } ?? value.kind) is not an IP address")
            }
            return address
        }

        static func network(_ value: JSONValue) throws(Refusal) -> IPNetwork {
            guard let text = value.stringValue, let network = IPNetwork(text) else {
                throw Refusal("\(value.stringValue.map { "\"\($0.prefix(48))\"" } ?? value.kind) is not a prefix")
            }
            return network
        }
    }
}
