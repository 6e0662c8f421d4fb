import Addressing
import CNetlink
import Namespaces
import Testing
@testable import Firewall
@testable import NetfilterNetlink
@testable import Netlink
@testable import RouteNetlink
@testable import NodeAgent

/// Every kind of message podwire sends, byte for byte against what `ip`, `bridge`, `tc` or `nft`
/// sends for the same change (References/capture.sh). The socket records instead of sending,
/// and answers as a kernel would that found nothing; no root needed.
@Suite("golden bytes")
struct GoldenTests {
    static let link = MemoryLayout<ifinfomsg>.size
    static let address = MemoryLayout<ifaddrmsg>.size
    static let route = MemoryLayout<rtmsg>.size
    static let neighbour = MemoryLayout<ndmsg>.size
    static let tc = MemoryLayout<tcmsg>.size
    static let netfilter = MemoryLayout<nfgenmsg>.size

    /// The datagrams the requests in `body` sent.
    func sent(_ body: (RouteSocket) throws -> Void) -> [[UInt8]] {
        let socket = RouteSocket(recording: ())
        _ = try? body(socket)
        return socket.recorded
    }

    func expectSame(_ actual: [UInt8]?, _ name: String, header: Int,
                    sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reference = try Reference(name)
        let expected = reference.expected(familyHeader: header)
        let got = Reference.normalized(actual ?? [])
        #expect(got == expected, "\(name): \(reference.command)\n\(hexDiff(got, expected))",
                sourceLocation: sourceLocation)
    }

    func index(_ name: String, header offset: Int = 4) throws -> Int32 {
        try Reference(name).headerIndex(at: offset)
    }

    // MARK: links

    @Test func linkQueries() throws {
        try expectSame(sent { _ = try $0.link(named: "lo") }.first, "link-get", header: Self.link)
        try expectSame(sent { _ = try $0.links() }.first, "link-dump", header: Self.link)
    }

    @Test func bridges() throws {
        try expectSame(sent { try $0.addBridge(named: "br1", mtu: 1400, promiscuous: false, vlanFiltering: false) }
            .first, "bridge-add", header: Self.link)
        try expectSame(sent { try $0.addBridge(named: "br2", mtu: nil, promiscuous: true, vlanFiltering: true) }
            .first, "bridge-add-promiscuous-vlan", header: Self.link)
        let bridge = try index("bridge-vlan-filtering")
        try expectSame(sent { try $0.enableVlanFiltering(bridge: bridge) }.first, "bridge-vlan-filtering",
                       header: Self.link)
    }

    @Test func veth() throws {
        let reference = try Reference("veth-add")
        let master = Int32(reference.u32(at: [IFLA_MASTER], familyHeader: Self.link) ?? 0)
        let namespace = try NetworkNamespace(path: "/proc/self/ns/net")
        let pair = VethPair(hostName: "hv", bridgeIndex: master, peerName: "eth0", peerNamespace: namespace,
                            mtu: 1400, hostMAC: MACAddress("02:00:00:00:00:01"),
                            peerMAC: MACAddress("02:00:00:00:00:02"))
        // The namespace's descriptor is the one number that differs between two processes.
        let fd = withUnsafeBytes(of: UInt32(namespace.descriptor).littleEndian) { Array($0) }
        let ipFD = withUnsafeBytes(of: reference.bytes.netnsFD.littleEndian) { Array($0) }
        var message = sent { try $0.addVeth(pair) }.first ?? []
        if let range = message.firstRange(of: [8, 0, UInt8(IFLA_NET_NS_FD), 0] + fd) {
            message.replaceSubrange(range, with: [8, 0, UInt8(IFLA_NET_NS_FD), 0] + ipFD)
        }
        try expectSame(message, "veth-add", header: Self.link)
    }

    @Test func ifbAndVxlan() throws {
        try expectSame(sent { try $0.addIFB(named: "ifb0") }.first, "ifb-add", header: Self.link)
        let devices: [(String, UInt32, String, Int?, String?)] = [("vx0", 7, "192.168.50.1", 1450, "02:00:00:00:00:05"),
                                                                   ("vx6", 8, "fd50::1", nil, nil)]
        for (name, vni, local, mtu, mac) in devices {
            let reference = try Reference(name == "vx0" ? "vxlan-add" : "vxlan6-add")
            let underlay = reference.u32(at: [IFLA_LINKINFO, IFLA_INFO_DATA, IFLA_VXLAN_LINK], familyHeader: Self.link)
            let device = VXLANDevice(name: name, vni: vni, local: IPAddress(local)!,
                                     underlayIndex: Int32(underlay ?? 0), mtu: mtu, mac: mac.flatMap(MACAddress.init))
            try expectSame(sent { try $0.addVXLAN(device) }.first, reference.name, header: Self.link)
        }
    }

    @Test func linkSettings() throws {
        let bridge = try index("link-set-mac")
        try expectSame(sent { try $0.setMAC(link: bridge, MACAddress("02:00:00:00:00:03")!) }.first, "link-set-mac",
                       header: Self.link)
        let port = try index("link-set-alias")
        try expectSame(sent { try $0.setAlias(link: port, "net c1 eth0") }.first, "link-set-alias", header: Self.link)
        try expectSame(sent { try $0.setUp(link: port) }.first, "link-set-up", header: Self.link)
        try expectSame(sent { try $0.setFlags(link: port, [.up, .promiscuous], mask: [.up, .promiscuous]) }.first,
                       "link-set-up-promiscuous", header: Self.link)
    }

    @Test func linkDeletion() throws {
        let group = sent { try $0.deleteLinks(named: ["g0"]) }
        try expectSame(group.first, "link-set-group", header: Self.link)
        try expectSame(group.dropFirst().first, "link-delete-group", header: Self.link)
        try expectSame(sent { try $0.deleteLink(named: "d1") }.first, "link-delete", header: Self.link)
    }

    @Test func bridgePorts() throws {
        let port = try index("port-hairpin")
        try expectSame(sent { try $0.setHairpin(port: port) }.first, "port-hairpin", header: Self.link)
        try expectSame(sent { try $0.setIsolated(port: port) }.first, "port-isolated", header: Self.link)
        try expectSame(sent { try $0.addVlan(port: port, vid: 5) }.first, "port-vlan-pvid", header: Self.link)
        try expectSame(sent { try $0.addTrunk(port: port, [10...20]) }.first, "port-vlan-trunk", header: Self.link)
        try expectSame(sent { try $0.deleteVlan(port: port, vid: 1) }.first, "port-vlan-delete", header: Self.link)
    }

    // MARK: addresses, routes, neighbours

    @Test func addresses() throws {
        let bridge = try index("address-add4")
        try expectSame(sent { try $0.addAddress(IPNetwork("10.1.0.1/24")!, link: bridge) }.first, "address-add4",
                       header: Self.address)
        try expectSame(sent { try $0.addAddress(IPNetwork("fd00::1/64")!, link: bridge) }.first, "address-add6",
                       header: Self.address)
        try expectSame(sent { try $0.deleteAddress(IPNetwork("10.1.0.1/24")!, link: bridge) }.first,
                       "address-delete", header: Self.address)
        try expectSame(sent { _ = try $0.addresses(link: bridge, family: .v4) }.first, "address-dump",
                       header: Self.address)
    }

    @Test func routes() throws {
        let bridge = Int32(try Reference("route-add-gateway").u32(at: [Int(RTA_OIF.rawValue)],
                                                                  familyHeader: Self.route) ?? 0)
        let gateway = RouteEntry(destination: IPNetwork("10.2.0.0/24")!, gateway: IPAddress("10.1.0.9"),
                                 linkIndex: bridge)
        try expectSame(sent { try $0.addRoute(gateway) }.first, "route-add-gateway", header: Self.route)
        let onLink = RouteEntry(destination: IPNetwork("10.3.0.0/24")!, gateway: nil, linkIndex: bridge)
        try expectSame(sent { try $0.addRoute(onLink) }.first, "route-add-link", header: Self.route)
        let vxlan = Int32(try Reference("route-add-onlink").u32(at: [Int(RTA_OIF.rawValue)],
                                                                familyHeader: Self.route) ?? 0)
        let peer = RouteEntry(destination: IPNetwork("10.244.1.0/24")!, gateway: IPAddress("10.244.1.0"),
                              linkIndex: vxlan, protocolNumber: 77, onLink: true)
        try expectSame(sent { try $0.addRoute(peer) }.first, "route-add-onlink", header: Self.route)
        try expectSame(sent { try $0.deleteRoute(peer) }.first, "route-delete", header: Self.route)
        try expectSame(sent { _ = try $0.routes(family: .v4) }.first, "route-dump", header: Self.route)
        try expectSame(sent { _ = try $0.route(to: IPAddress("10.1.0.9")!) }.first, "route-get", header: Self.route)
        try expectSame(sent { _ = try $0.route(to: IPAddress("fd00::9")!) }.first, "route-get6", header: Self.route)
    }

    @Test func neighbours() throws {
        let vxlan = try index("neighbour-add")
        let mac = MACAddress("02:00:00:00:00:09")!
        let neighbour = Neighbour(.neighbour, link: vxlan, address: IPAddress("10.244.1.0")!, mac: mac)
        try expectSame(sent { try $0.replaceNeighbour(neighbour) }.first, "neighbour-add", header: Self.neighbour)
        try expectSame(sent { try $0.deleteNeighbour(neighbour) }.first, "neighbour-delete", header: Self.neighbour)
        try expectSame(sent { _ = try $0.neighbours(.neighbour, link: vxlan) }.first, "neighbour-dump",
                       header: Self.neighbour)
        let forwarding = Neighbour(.forwarding, link: vxlan, address: IPAddress("192.168.50.2")!, mac: mac)
        try expectSame(sent { try $0.replaceNeighbour(forwarding) }.first, "fdb-add", header: Self.neighbour)
        try expectSame(sent { try $0.deleteNeighbour(forwarding) }.first, "fdb-delete", header: Self.neighbour)
        try expectSame(sent { _ = try $0.neighbours(.forwarding, link: vxlan) }.first, "fdb-dump",
                       header: Self.neighbour)
    }

    // MARK: traffic control

    @Test func trafficControl() throws {
        let port = try index("qdisc-tbf")
        let bucket = TokenBucket(rate: 125_000, burst: 100_000, limit: 200_000)
        try expectSame(sent { try $0.shape(link: port, with: bucket) }.first, "qdisc-tbf", header: Self.tc)
        let ifb = Int32(try Reference("filter-redirect").bytes.mirredTarget)
        let redirect = sent { try $0.redirectIngress(from: port, to: ifb) }
        try expectSame(redirect.first, "qdisc-ingress", header: Self.tc)
        try expectSame(redirect.dropFirst().first, "filter-redirect", header: Self.tc)
        try expectSame(sent { _ = try $0.rootQdiscKind(link: port) }.first, "qdisc-dump", header: Self.tc)
    }

    // MARK: nf_tables

    /// The request inside the one batch `body` sent, between its BEGIN and END.
    func batched(family: NFTables.Family = .inet, _ body: (NFTables) throws -> Void) -> [UInt8]? {
        let socket = NetfilterSocket(recording: ())
        let tables = NFTables(family: family, table: "podwire", socket: socket)
        _ = try? body(tables)
        guard let datagram = socket.recorded.first else { return nil }
        var messages: [[UInt8]] = []
        var offset = 0
        while offset + 16 <= datagram.count {
            let length = Int(datagram[offset]) | Int(datagram[offset + 1]) << 8
            messages.append(Array(datagram[offset ..< offset + length]))
            offset += (length + 3) & ~3
        }
        return messages.count == 3 ? messages[1] : datagram
    }

    @Test func tablesChainsAndSets() throws {
        try expectSame(batched { $0.addTable(); try $0.commit() }, "nft-table-add", header: Self.netfilter)
        try expectSame(batched { $0.addSet("masq4", key: .ipv4); try $0.commit() }, "nft-set-add",
                       header: Self.netfilter)
        try expectSame(batched { $0.addSet("podlocal4", key: .ipv4 + .ipv4, interval: true); try $0.commit() },
                       "nft-set-add-interval", header: Self.netfilter)
        try expectSame(batched {
            $0.addSet("hostports4", key: .inetProtocol + .inetService, value: .ipv4 + .inetService)
            try $0.commit()
        }, "nft-map-add", header: Self.netfilter)
        try expectSame(batched { $0.addChain("postrouting", type: "nat", hook: .postrouting, priority: .sourceNAT)
            try $0.commit() }, "nft-chain-add", header: Self.netfilter)
        try expectSame(batched { $0.flushChain("postrouting"); try $0.commit() }, "nft-chain-flush",
                       header: Self.netfilter)
    }

    @Test func rules() throws {
        let masquerade = Rules.masquerade(.v4), forwarding = Rules.portForwarding(.v4)
        for (rule, chain, name) in [(masquerade[2], "postrouting", "nft-rule-masquerade"),
                                    (masquerade[0], "postrouting", "nft-rule-podlocal"),
                                    (masquerade[1], "postrouting", "nft-rule-multicast"),
                                    (Rules.hairpinMasquerade(.v4), "postrouting", "nft-rule-hairpin"),
                                    (forwarding[0], "prerouting", "nft-rule-hostaddrports"),
                                    (forwarding[1], "prerouting", "nft-rule-hostports")] {
            try expectSame(batched { $0.addRule(chain, rule); try $0.commit() }, name, header: Self.netfilter)
        }
        try expectSame(batched(family: .bridge) { $0.addRule("prerouting", Rules.spoofCheck); try $0.commit() },
                       "nft-rule-spoofcheck", header: Self.netfilter)
        let socket = NetfilterSocket(recording: ())
        let tables = NFTables(family: .inet, table: "podwire-node", socket: socket)
        tables.addRule("prerouting", Untracked.rule(port: 4789))
        try? tables.commit()
        let batch = socket.recorded.first ?? []
        let length = batch.count > 24 ? Int(batch[20]) | Int(batch[21]) << 8 : 0
        try expectSame(batch.count > 20 + length ? Array(batch[20 ..< 20 + length]) : nil, "nft-rule-notrack",
                       header: Self.netfilter)
    }

    @Test func elements() throws {
        let address = IPAddress("10.0.0.5")!.bytes
        try expectSame(batched {
            $0.addElements("masq4", [NFTables.Element(key: address, comment: "net c1 eth0")])
            try $0.commit()
        }, "nft-element-add", header: Self.netfilter)
        let subnet = IPNetwork("10.0.0.0/24")!
        try expectSame(batched {
            $0.addElements("podlocal4", [NFTables.Element(key: address + subnet.first.bytes,
                                                          keyEnd: address + subnet.last.bytes, comment: "net c1 eth0")])
            try $0.commit()
        }, "nft-element-add-interval", header: Self.netfilter)
        try expectSame(batched { $0.deleteElements("masq4", [NFTables.Element(key: address)]); try $0.commit() },
                       "nft-element-delete", header: Self.netfilter)
        let socket = NetfilterSocket(recording: ())
        _ = try? NFTables(family: .inet, table: "podwire", socket: socket).elements(of: "masq4")
        try expectSame(socket.recorded.first, "nft-element-dump", header: Self.netfilter)
    }
}

extension [UInt8] {
    /// The IFLA_NET_NS_FD value in a veth request: the descriptor number `ip` happened to use.
    var netnsFD: UInt32 {
        guard let range = firstRange(of: [8, 0, UInt8(IFLA_NET_NS_FD), 0]) else { return 0 }
        return self[range.upperBound ..< range.upperBound + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The target link of a mirred action (the `ifindex` field of its `tc_mirred`).
    var mirredTarget: UInt32 {
        // TCA_MIRRED_PARMS (2) holds struct tc_mirred, whose last field is the ifindex.
        guard let range = firstRange(of: [0x20, 0, 2, 0]) else { return 0 }
        let end = range.upperBound + MemoryLayout<tc_mirred>.size
        return self[end - 4 ..< end].reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }
}
