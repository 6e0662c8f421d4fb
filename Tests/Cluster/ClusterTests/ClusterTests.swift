import Addressing
import Testing
@testable import ClusterModel
@testable import NodeAgent
import RouteNetlink

@Suite struct ClusterConfigTests {
    @Test func readsAndWrites() throws {
        let text = #"{"network4":"10.244.0.0/16","network6":"fd44::/48","backend":"vxlan"}"#
        let config = try ClusterConfig(json: Array(text.utf8))
        #expect(config.networks == [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!])
        #expect(config.subnetLength4 == 24 && config.subnetLength6 == 64 && config.backend == .vxlan)
        #expect(try ClusterConfig(json: Array(config.json.utf8)) == config)
    }

    @Test(arguments: [
        (#"[]"#, "must be an object"),
        (#"{}"#, "network4 or network6 is needed"),
        (#"{"network4":"10.244.0.1/16"}"#, "is not an IPv4 network"),
        (#"{"network4":"fd44::/48"}"#, "is not an IPv4 network"),
        (#"{"network4":"10.244.0.0/16","subnetLength4":8}"#, "shorter than"),
        (#"{"network4":"10.244.0.0/16","subnetLength4":31}"#, "from 8 to 30"),
        (#"{"network4":"10.244.0.0/16","backend":"ospf"}"#, "is not auto, direct, vxlan or bgp"),
        (#"{"network4":"10.244.0.0/16","vni":0}"#, "vni must be"),
        (#"{"network4":7}"#, "must be a string"),
        (#"{"network4":"10.244.0.0/16","vni":1e300}"#, "vni must be"),
        (#"{"network4":"10.244.0.0/16","port":-1e300}"#, "port must be"),
        (#"{"network4":"10.244.0.0/16","subnetlength4":24}"#, "unknown key \"subnetlength4\""),
        (#"{"network4":"0.0.0.0/0"}"#, "overlaps 0.0.0.0/8"),
        (#"{"network4":"127.0.0.0/8"}"#, "overlaps 127.0.0.0/8"),
        (#"{"network4":"169.254.0.0/16"}"#, "overlaps 169.254.0.0/16"),
        (#"{"network6":"ff00::/8"}"#, "overlaps ff00::/8"),
        (#"{"network6":"fe80::/64"}"#, "overlaps fe80::/10"),
    ])
    func refusesBadConfigs(json: String, reason: String) {
        #expect {
            _ = try ClusterConfig(json: Array(json.utf8))
        } throws: { error in
            "\(error)".contains(reason)
        }
    }
}

@Suite struct NodeRecordTests {
    let record = NodeRecord(name: "node-1.example", addresses: [IPAddress("192.168.1.10")!, IPAddress("fd00::10")!],
                            vtepMAC: MACAddress("02:00:00:00:00:01")!,
                            subnets: [IPNetwork("10.244.3.0/24")!, IPNetwork("fd44:0:0:3::/64")!])

    @Test func roundTrips() throws {
        #expect(try NodeRecord(json: Array(record.json.utf8)) == record)
        #expect(record.address(.v6) == IPAddress("fd00::10") && record.subnet(.v4) == IPNetwork("10.244.3.0/24"))
    }

    @Test(arguments: ["", "Node", "-a", "a-", "a_b", String(repeating: "a", count: 254), "a/b", "../x"])
    func refusesBadNames(name: String) {
        #expect(!NodeRecord.isValidName(name))
    }

    @Test func refusesBadRecords() {
        for bad in [#"{"name":"n","addresses":["x"],"vtepMAC":"02:00:00:00:00:01","subnets":[]}"#,
                    #"{"name":"n","addresses":[],"vtepMAC":"nope","subnets":[]}"#,
                    #"{"name":"n","addresses":[],"vtepMAC":"02:00:00:00:00:01","subnets":["10.0.0.1/24"]}"#,
                    #"{"name":"N","addresses":[],"vtepMAC":"02:00:00:00:00:01","subnets":[]}"#,
                    #"{"name":"n","addresses":"x","vtepMAC":"02:00:00:00:00:01","subnets":[]}"#, "not json"] {
            #expect(throws: ClusterError.self, "\(bad)") { _ = try NodeRecord(json: Array(bad.utf8)) }
        }
    }

    @Test func keys() {
        #expect(ClusterKeys.subnet(IPNetwork("10.244.3.0/24")!) == "/podwire/subnets/10.244.3.0-24")
        #expect(ClusterKeys.subnet(IPNetwork("fd44:0:0:3::/64")!) == "/podwire/subnets/fd44_0_0_3__-64")
        #expect(ClusterKeys.node("n1") == "/podwire/nodes/n1")
    }

    @Test func keysReadBackAsTheyWereMadeAndNothingElse() {
        for text in ["10.244.3.0/24", "fd44:0:0:3::/64", "0.0.0.0/0"] {
            let subnet = IPNetwork(text)!
            #expect(ClusterKeys.subnet(ClusterKeys.subnet(subnet)) == subnet)
        }
        #expect(ClusterKeys.nodeName(ClusterKeys.node("n1")) == "n1")
        #expect(ClusterKeys.aliveName(ClusterKeys.alive("n1")) == "n1")
        for key in ["/podwire/subnets/10.244.3.1-24", "/podwire/subnets/10.244.3.0-33", "/podwire/subnets/x-24",
                    "/podwire/subnets/fd44:0:0:3::-64", "/podwire/nodes/10.244.3.0-24", "/podwire/subnets/"] {
            #expect(ClusterKeys.subnet(key) == nil, "\(key)")
        }
        for key in ["/podwire/nodes/", "/podwire/nodes/N1", "/podwire/alive/n1", "/podwire/nodes/a/b"] {
            #expect(ClusterKeys.nodeName(key) == nil, "\(key)")
        }
    }
}

@Suite struct SubnetAllocatorTests {
    @Test func firstFree() throws {
        let network = IPNetwork("10.244.0.0/22")!
        #expect(SubnetAllocator.subnets(of: network, length: 24).map(\.description)
                == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"])
        let taken: Set = [IPNetwork("10.244.0.0/24")!, IPNetwork("10.244.2.0/24")!]
        #expect(try SubnetAllocator.firstFree(in: network, length: 24, taken: taken) == IPNetwork("10.244.1.0/24"))
        // Overlap, not equality: a /23 held from an older config covers two /24s.
        #expect(try SubnetAllocator.firstFree(in: network, length: 24, taken: [IPNetwork("10.244.0.0/23")!])
                == IPNetwork("10.244.2.0/24"))
        #expect(try SubnetAllocator.firstFree(in: network, length: 23, taken: [IPNetwork("10.244.1.0/24")!])
                == IPNetwork("10.244.2.0/23"))
        let all = Set(SubnetAllocator.subnets(of: network, length: 24))
        #expect(throws: ClusterError.exhausted(network)) {
            _ = try SubnetAllocator.firstFree(in: network, length: 24, taken: all)
        }
        #expect(SubnetAllocator.subnets(of: IPNetwork("fd44::/48")!, length: 64, limit: 3).map(\.description)
                == ["fd44::/64", "fd44:0:0:1::/64", "fd44:0:0:2::/64"])
    }
}

@Suite struct DataPathPlanTests {
    let config = ClusterConfig(networks: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!])
    func node(_ name: String, _ v4: String, _ index: Int) -> NodeRecord {
        NodeRecord(name: name, addresses: [IPAddress(v4)!], vtepMAC: MACAddress("02:00:00:00:00:0\(index)")!,
                   subnets: [IPNetwork("10.244.\(index).0/24")!, IPNetwork("fd44:0:0:\(index)::/64")!])
    }

    @Test func directWhereOnLinkVXLANElsewhere() {
        let me = node("a", "192.168.1.1", 1), near = node("b", "192.168.1.2", 2), far = node("c", "192.168.2.3", 3)
        let plan = DataPathPlan.make(node: me, peers: [me, far, near], config: config,
                                     onLink: { $0 == IPAddress("192.168.1.2") ? 7 : nil }, vxlan: 9)
        #expect(plan.paths == ["b": .direct, "c": .vxlan])
        let tag = RouteProtocol.podwire
        #expect(plan.routes.contains(RouteEntry(destination: IPNetwork("10.244.2.0/24")!,
                                                gateway: IPAddress("192.168.1.2"), linkIndex: 7, protocolNumber: tag)))
        // b has no IPv6 underlay address: its IPv6 subnet goes over VXLAN.
        #expect(plan.routes.contains(RouteEntry(destination: IPNetwork("fd44:0:0:2::/64")!,
                                                gateway: IPAddress("fd44:0:0:2::"),
                                                linkIndex: 9, protocolNumber: tag, onLink: true)))
        #expect(plan.routes.contains(RouteEntry(destination: IPNetwork("10.244.3.0/24")!,
                                                gateway: IPAddress("10.244.3.0"),
                                                linkIndex: 9, protocolNumber: tag, onLink: true)))
        #expect(plan.neighbours.contains(Neighbour(.neighbour, link: 9, address: IPAddress("10.244.3.0")!,
                                                   mac: far.vtepMAC)))
        #expect(plan.forwarding.filter { $0.mac == far.vtepMAC }
                == [Neighbour(.forwarding, link: 9, address: IPAddress("192.168.2.3")!, mac: far.vtepMAC)])
        #expect(plan.routes.count == 4 && !plan.routes.contains { $0.destination == IPNetwork("10.244.1.0/24") })
    }

    @Test func backends() {
        let me = node("a", "192.168.1.1", 1), near = node("b", "192.168.1.2", 2), far = node("c", "192.168.2.3", 3)
        var vxlanOnly = config
        vxlanOnly.backend = .vxlan
        #expect(DataPathPlan.make(node: me, peers: [near, far], config: vxlanOnly, onLink: { _ in 7 }, vxlan: 9).paths
                == ["b": .vxlan, "c": .vxlan])
        var directOnly = config
        directOnly.backend = .direct
        let plan = DataPathPlan.make(node: me, peers: [near, far], config: directOnly,
                                     onLink: { $0 == IPAddress("192.168.1.2") ? 7 : nil }, vxlan: 9)
        #expect(plan.paths == ["b": .direct, "c": .unreachable])
    }

    @Test func changes() {
        let changes = Changes(wanted: [1, 2, 3], present: [3, 4])
        #expect(changes.add == [1, 2] && changes.remove == [4] && !changes.isEmpty)
        #expect(Changes(wanted: [1], present: [1]).isEmpty)
    }
}
