import Addressing
import CNI
import Firewall
import Identity
import IPAM

/// Everything an ADD will do, decided before anything on the host is touched. CHECK and
/// STATUS read the same; DEL and GC read only a `Teardown`, which the plan contains: what an
/// ADD makes, the DEL of the same config finds.
struct BridgePlan: AttachmentNamed {
    var teardown: Teardown
    var attachment: Attachment { teardown.attachment }
    var bridgeName: String
    var netnsPath: String
    var mtu: Int?
    var mac: MACAddress?
    var isGateway: Bool
    var isDefaultGateway: Bool
    var forceAddress: Bool
    var hairpin: Bool
    var promiscuous: Bool
    var vlan: UInt16?
    /// VLANs the port also carries tagged, as ranges in order.
    var vlanTrunk: [ClosedRange<UInt16>]
    /// Keep the bridge's default VLAN on the port beside `vlan` and `vlanTrunk` (the
    /// reference's default since its 1.8: no).
    var preserveDefaultVlan: Bool
    /// The bridge filters VLANs: it must, for `vlan` or `vlanTrunk`.
    var filtersVlans: Bool { vlan != nil || !vlanTrunk.isEmpty }
    var detectDuplicates: Bool
    /// The host end is an isolated bridge port: pods of the bridge reach its gateway and
    /// uplinks, not each other.
    var portIsolation: Bool
    /// The pod end is made and left down, with no address: the reference's L2-only mode.
    var disableContainerInterface: Bool
    /// Frames from the pod with a source MAC other than its own are dropped on the bridge.
    var macSpoofCheck: Bool
    /// Masquerade the pod's traffic that leaves its subnet, through podwire's nftables table.
    var masquerade: Bool
    /// Destinations masquerade leaves alone (`noMasqueradeDestinations`): the cluster's pod
    /// networks, so that pods on other nodes see this pod's own address.
    var noMasqueradeDestinations: [IPNetwork]
    /// The `portMappings` capability, served by podwire's nftables table.
    var ports: [PortMapping]
    /// The `bandwidth` capability, shaped with tc on the host end and an ifb.
    var bandwidth: BandwidthLimits?
    var ipam: IPAMSource
    var dns: DNS?
    /// The chain's previous result, read and checked here once; CHECK compares against it.
    var prevResult: CNIResult?

    init(call: Call) throws(CNIError) {
        // The keys are the reference bridge's; keys podwire does not know are ignored, as
        // the reference ignores them.
        let config = call.document
        let environment = call.environment
        let attachment = try call.attachment()

        // The teardown keeps no bad bridge name, so that DEL still goes; ADD refuses it.
        bridgeName = try config.string("bridge").flatMap { $0.isEmpty ? nil : $0 } ?? Teardown.defaultBridge
        if let problem = Names.interfaceNameProblem(bridgeName) {
            throw CNIError.config("bridge name \"\(bridgeName.prefix(32))\" \(problem)")
        }
        netnsPath = environment.netns

        if let mtu = try config.int("mtu"), mtu != 0 {
            guard (68...65535).contains(mtu) else {
                throw CNIError.config("mtu \(mtu) is out of range: it must be between 68 and 65535")
            }
            self.mtu = mtu
        }
        isDefaultGateway = try config.bool("isDefaultGateway") ?? false
        isGateway = try config.bool("isGateway") ?? false || isDefaultGateway
        forceAddress = try config.bool("forceAddress") ?? false
        hairpin = try config.bool("hairpinMode") ?? false
        promiscuous = try config.bool("promiscMode") ?? false
        if hairpin && promiscuous {
            throw CNIError.config("cannot set hairpinMode and promiscMode at the same time")
        }
        if let vlan = try config.int("vlan"), vlan != 0 {
            guard (1...4094).contains(vlan) else {
                throw CNIError.config("vlan \(vlan) is out of range: it must be between 1 and 4094")
            }
            self.vlan = UInt16(vlan)
        }
        detectDuplicates = try config.bool("enabledad") ?? false
        masquerade = try config.bool("ipMasq") ?? false
        noMasqueradeDestinations = try Self.networks(config.list("noMasqueradeDestinations") ?? [])
        let runtimeConfig = try config.object("runtimeConfig")
        ports = try PortMappingsConfig.mappings(runtimeConfig?.list("portMappings"))
        bandwidth = try BandwidthLimits(runtimeConfig?.object("bandwidth"))
        if let backend = try config.string("ipMasqBackend"), !["", "iptables", "nftables"].contains(backend) {
            throw CNIError.config("ipMasqBackend \"\(backend.prefix(32))\" is not iptables or nftables")
        }
        vlanTrunk = try Self.trunk(config.list("vlanTrunk") ?? [])
        preserveDefaultVlan = try config.bool("preserveDefaultVlan") ?? false
        macSpoofCheck = try config.bool("macspoofchk") ?? false
        portIsolation = try config.bool("portIsolation") ?? false
        disableContainerInterface = try config.bool("disableContainerInterface") ?? false

        // The reference's order: CNI_ARGS, then args, then runtimeConfig, the last one set winning.
        let macSources: [(String, String?)] = [
            ("CNI_ARGS MAC", environment.args["MAC"]),
            ("args.cni.mac", try config.object("args")?.object("cni")?.string("mac")),
            ("runtimeConfig.mac", try config.object("runtimeConfig")?.string("mac")),
        ]
        for (source, text) in macSources {
            guard let text, !text.isEmpty else { continue }
            guard let parsed = MACAddress(text), !parsed.isMulticast, parsed.bytes != [0, 0, 0, 0, 0, 0] else {
                throw CNIError.config("\(source) \"\(text.prefix(32))\" is not a unicast Ethernet address")
            }
            mac = parsed
        }

        // `"ipam": {}` is the reference's layer-2-only form; keys without a type are refused,
        // so that nobody believes a subnet is served when it is not.
        let ipam: IPAMSource
        if let section = try config.object("ipam"), !(try section.members().isEmpty) {
            guard let type = try section.string("type"), !type.isEmpty else {
                throw CNIError.config("ipam has no type")
            }
            if disableContainerInterface {
                throw CNIError.config("disableContainerInterface leaves the pod's interface without addresses: "
                                      + "it cannot be used with ipam (\(type.prefix(32)))")
            }
            if type == "host-local" {
                // Parsed here, before anything on the host is touched: a refused IPAM config
                // leaves no bridge behind.
                ipam = .hostLocal(try HostLocalConfig(call))
            } else {
                // Found now, so that a missing plugin fails the call before anything is made.
                _ = try Delegate(type: type, searchPath: environment.path).executable()
                ipam = .delegate(type)
            }
        } else {
            ipam = .none
        }
        self.ipam = ipam
        teardown = Teardown(attachment: attachment, bridgeName: bridgeName, ipam: .success(ipam.release))
        if let dns = try config.object("dns").map({ (dns) throws(CNIError) in try DNS(dns) }), !dns.isEmpty {
            self.dns = dns
        }
        prevResult = try config.prevResult()
    }
}

extension BridgePlan {
    /// A list of network address/prefix strings (`10.244.0.0/16`), each checked.
    static func networks(_ entries: [JSONNode]) throws(CNIError) -> [IPNetwork] {
        var networks: [IPNetwork] = []
        for entry in entries {
            let text = try entry.string()
            guard let network = IPNetwork(text), network.isNetworkAddress else {
                throw entry.invalid("\"\(text.prefix(64))\" is not a network address/prefix")
            }
            networks.append(network)
        }
        return networks
    }

    /// `vlanTrunk`: entries of `id`, or of `minID` and `maxID` together, each 1-4094, as the
    /// reference reads them; merged into ranges in order.
    static func trunk(_ entries: [JSONNode]) throws(CNIError) -> [ClosedRange<UInt16>] {
        var vids: Set<Int> = []
        for entry in entries {
            func vid(_ key: String) throws(CNIError) -> Int? {
                guard let value = try entry.int(key) else { return nil }
                guard (1...4094).contains(value) else {
                    throw entry.invalid("\(key) \(value) is out of range: it must be between 1 and 4094")
                }
                return value
            }
            switch (try vid("minID"), try vid("maxID")) {
            case let (low?, high?):
                guard low <= high else { throw entry.invalid("minID \(low) is greater than maxID \(high)") }
                vids.formUnion(low...high)
            case (nil, .some): throw entry.invalid("maxID without minID: both or neither")
            case (.some, nil): throw entry.invalid("minID without maxID: both or neither")
            case (nil, nil): break
            }
            if let id = try vid("id") { vids.insert(id) }
        }
        var ranges: [ClosedRange<UInt16>] = []
        for vid in vids.sorted().map(UInt16.init) {
            if let last = ranges.last, last.upperBound + 1 == vid {
                ranges[ranges.count - 1] = last.lowerBound...vid
            } else {
                ranges.append(vid...vid)
            }
        }
        return ranges
    }
}

/// What DEL and GC need to find an attachment's links, leases and firewall entries, and
/// nothing more: keys that only ADD acts on, however wrong, never keep a pod from going.
struct Teardown: AttachmentNamed {
    /// The reference's bridge when the config names none.
    static let defaultBridge = "cni0"

    var attachment: Attachment
    /// GC looks for stale links on it; nil when the config names no usable bridge.
    var bridgeName: String?
    /// Read when it is used, so that a broken `ipam` section fails the release alone.
    var ipam: Result<IPAMRelease, CNIError>

    init(attachment: Attachment, bridgeName: String?, ipam: Result<IPAMRelease, CNIError>) {
        self.attachment = attachment
        self.bridgeName = bridgeName
        self.ipam = ipam
    }

    init(call: Call) throws(CNIError) {
        let bridge = ((try? call.document.string("bridge")) ?? nil).flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.defaultBridge
        self.init(attachment: try call.attachment(),
                  bridgeName: Names.interfaceNameProblem(bridge) == nil ? bridge : nil,
                  ipam: Result { () throws(CNIError) in try IPAMRelease(teardown: call) })
    }
}

/// The names a plan uses, all from its attachment.
protocol AttachmentNamed {
    var attachment: Attachment { get }
}

extension AttachmentNamed {
    var network: String { attachment.network }
    var containerIfname: String { attachment.ifname }
    var hostVethName: String { attachment.hostVeth }
    var ifbName: String { attachment.ifb }
}
