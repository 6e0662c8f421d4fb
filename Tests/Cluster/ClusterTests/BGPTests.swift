#if canImport(Glibc)
import Glibc
#endif
import Addressing
import Foundation
import Testing
@testable import BGP
@testable import ClusterModel
@testable import NodeAgent

@Suite struct BGPSettingsTests {
    static let base = #""network4":"10.244.0.0/16","network6":"fd44::/48","backend":"bgp""#

    @Test func readsAndWrites() throws {
        let text = "{\(Self.base),\"natOutgoing4\":false,\"bgp\":{\"asn\":64512,\"nodeASN\":{\"c\":64513},"
            + "\"peers\":[{\"address\":\"192.168.1.254\",\"asn\":65000},"
            + "{\"address\":\"fd01::254\",\"asn\":65000,\"node\":\"a\"}],\"mesh\":true,\"bfd\":true}}"
        let config = try ClusterConfig(json: Array(text.utf8))
        let bgp = try #require(config.bgp)
        #expect(bgp.asn == 64512 && bgp.asn(of: "c") == 64513 && bgp.asn(of: "a") == 64512)
        #expect(bgp.gracefulRestart == 120 && bgp.mesh && bgp.bfd)
        #expect(bgp.peers(of: "a").map(\.address) == [IPAddress("192.168.1.254")!, IPAddress("fd01::254")!])
        #expect(bgp.peers(of: "b").map(\.address) == [IPAddress("192.168.1.254")!])
        #expect(!config.natOutgoing4 && config.natOutgoing6 && !config.usesVXLAN)
        #expect(try ClusterConfig(json: Array(config.json.utf8)) == config)
    }

    @Test(arguments: [
        (#"{BASE}"#, "backend bgp needs a bgp object"),
        (#"{"network4":"10.244.0.0/16","bgp":{"asn":1,"mesh":true}}"#, "bgp is set, but backend is not bgp"),
        (#"{BASE,"bgp":{"asn":64512}}"#, "needs peers, or mesh: true"),
        (#"{BASE,"bgp":{"asn":0,"mesh":true}}"#, "bgp.asn must be an AS number"),
        (#"{BASE,"bgp":{"asn":23456,"mesh":true}}"#, "bgp.asn must be an AS number"),
        (#"{BASE,"bgp":{"asn":4294967295,"mesh":true}}"#, "bgp.asn must be an AS number"),
        (#"{BASE,"bgp":{"asn":1.5,"mesh":true}}"#, "bgp.asn must be an AS number"),
        (#"{BASE,"bgp":{"asn":1,"mesh":"yes"}}"#, "bgp.mesh must be true or false"),
        (#"{BASE,"bgp":{"asn":1,"mesh":true,"gracefulRestart":4096}}"#, "from 0 (off) to 4095"),
        (#"{BASE,"bgp":{"asn":1,"mesh":true,"routeReflector":1}}"#, "bgp: unknown key \"routeReflector\""),
        (#"{BASE,"bgp":{"asn":1,"peers":{}}}"#, "bgp.peers must be a list"),
        (#"{BASE,"bgp":{"asn":1,"peers":[{"address":"10.0.0.300","asn":2}]}}"#, "must be an IP address"),
        (#"{BASE,"bgp":{"asn":1,"peers":[{"address":"127.0.0.1","asn":2}]}}"#, "lies in 127.0.0.0/8"),
        (#"{BASE,"bgp":{"asn":1,"peers":[{"address":"10.0.0.1"}]}}"#, "peers[0].asn must be an AS number"),
        (#"{BASE,"bgp":{"asn":1,"peers":[{"address":"10.0.0.1","asn":2,"node":"A_"}]}}"#, "node must be a node name"),
        (#"{BASE,"bgp":{"asn":1,"peers":[{"address":"10.0.0.1","asn":2,"port":179}]}}"#, "unknown key \"port\""),
        (#"{BASE,"bgp":{"asn":1,"peers":[{"address":"10.0.0.1","asn":2},{"address":"10.0.0.1","asn":3}]}}"#,
         "listed twice"),
        (#"{BASE,"bgp":{"asn":1,"mesh":true,"nodeASN":{"a":0}}}"#, "bgp.nodeASN.a must be an AS number"),
        (#"{BASE,"bgp":{"asn":1,"mesh":true},"natOutgoing6":1}"#, "natOutgoing6 must be true or false"),
    ])
    func refusesBadSettings(json: String, reason: String) {
        let text = json.replacingOccurrences(of: "BASE", with: Self.base)
        #expect {
            _ = try ClusterConfig(json: Array(text.utf8))
        } throws: { error in
            "\(error)".contains(reason)
        }
    }
}

@Suite struct BGPPlanTests {
    func node(_ name: String, _ v4: String, _ index: Int) -> NodeRecord {
        NodeRecord(name: name, addresses: [IPAddress(v4)!, IPAddress("fd0\(v4.split(separator: ".")[2])::\(index)")!],
                   vtepMAC: MACAddress("02:00:00:00:00:0\(index)")!,
                   subnets: [IPNetwork("10.244.\(index).0/24")!, IPNetwork("fd44:0:0:\(index)::/64")!])
    }
    func config(_ bgp: BGPSettings) -> ClusterConfig {
        ClusterConfig(networks: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!], backend: .bgp, bgp: bgp)
    }

    /// Routers that every node peers with cover every pair: podwire adds no route. A node
    /// without a router of its own is routed directly where on-link, and not otherwise.
    @Test func routersCoverPeersThatPeerWithThem() {
        let me = node("a", "192.168.1.1", 1), near = node("b", "192.168.1.2", 2), far = node("c", "192.168.2.3", 3)
        let router = BGPSettings.Peer(address: IPAddress("192.168.1.254")!, asn: 65000)
        let onLink: (IPAddress) -> Int32? = {
            $0.bytes.starts(with: [192, 168, 1]) || $0 == IPAddress("fd01::2") ? 7 : nil
        }
        let everyone = DataPathPlan.make(node: me, peers: [near, far],
                                         config: config(BGPSettings(asn: 1, peers: [router])), onLink: onLink,
                                         vxlan: nil)
        #expect(everyone.paths == ["b": .bgp, "c": .bgp] && everyone.routes.isEmpty && everyone.meshPeers.isEmpty)
        var perNode = router
        perNode.node = "a"
        let some = DataPathPlan.make(node: me, peers: [near, far],
                                     config: config(BGPSettings(asn: 1, peers: [perNode])), onLink: onLink, vxlan: nil)
        #expect(some.paths == ["b": .direct, "c": .unreachable] && some.routes.count == 2)
    }

    /// The mesh joins peers on this node's link; peers off it go over VXLAN.
    @Test func meshJoinsTheLink() {
        let me = node("a", "192.168.1.1", 1), near = node("b", "192.168.1.2", 2), far = node("c", "192.168.2.3", 3)
        let mesh = config(BGPSettings(asn: 1, mesh: true))
        #expect(mesh.usesVXLAN)
        let plan = DataPathPlan.make(node: me, peers: [far, near], config: mesh,
                                     onLink: { $0 == IPAddress("192.168.1.2") ? 7 : nil }, vxlan: 9)
        #expect(plan.paths == ["b": .bgp, "c": .vxlan] && plan.meshPeers.map(\.name) == ["b"])
    }

    @Test func conflistKeepsPodsAddressesWhereNATIsOff() throws {
        var cluster = config(BGPSettings(asn: 1, mesh: true))
        cluster.natOutgoing6 = false
        let text = Conflist.make(node: node("a", "192.168.1.1", 1), config: cluster, bridge: "br", mtu: 1500)
        #expect(text.contains(#""ipMasq":true"#))
        #expect(text.contains(#""noMasqueradeDestinations":["10.244.0.0/16","fd44::/48","::/0"]"#))
        cluster.natOutgoing4 = false
        let none = Conflist.make(node: node("a", "192.168.1.1", 1), config: cluster, bridge: "br", mtu: 1500)
        #expect(none.contains(#""ipMasq":false"#))
    }
}

@Suite struct BirdConfigTests {
    let me = NodeRecord(name: "node-a.rack1", addresses: [IPAddress("192.168.1.1")!, IPAddress("fd01::1")!],
                        vtepMAC: MACAddress("02:00:00:00:00:01")!,
                        subnets: [IPNetwork("10.244.1.0/24")!, IPNetwork("fd44:0:0:1::/64")!])
    let peer = NodeRecord(name: "b", addresses: [IPAddress("192.168.1.2")!], vtepMAC: MACAddress("02:00:00:00:00:02")!,
                          subnets: [IPNetwork("10.244.2.0/24")!, IPNetwork("fd44:0:0:2::/64")!])
    var cluster: ClusterConfig {
        ClusterConfig(networks: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!], backend: .bgp)
    }
    var settings: BGPSettings {
        BGPSettings(asn: 64512, peers: [BGPSettings.Peer(address: IPAddress("192.168.1.254")!, asn: 65000),
                                        BGPSettings.Peer(address: IPAddress("fd09::254")!, asn: 65000)], mesh: true)
    }

    func make(announce: Bool = true, held: [IPNetwork]? = nil) -> BirdConfig {
        BirdConfig.make(node: me, config: cluster, settings: settings, held: held ?? peer.subnets, mesh: [peer],
                        onLink: { $0 != IPAddress("fd09::254") }, logFile: "/run/bird.log", announce: announce)
    }

    /// The whole text, as BIRD reads it: a change here is a change to every node's BIRD.
    @Test func text() {
        let config = make()
        #expect(config.sessions.map(\.name) == ["router_192_168_1_254", "mesh_b_4"])
        #expect(config.problems == ["bgp peer fd09::254: not on this node's link (only neighbours are peered with)"])
        #expect(config.text.contains("""
            protocol static podwire_subnets4 {
              ipv4;
              route 10.244.1.0/24 blackhole;
            }

            filter podwire_import4 {
              if net ~ [ 10.244.2.0/24 ] then accept;
              reject;
            }
            """))
        #expect(config.text.contains("""
            protocol bgp router_192_168_1_254 {
              local 192.168.1.1 as 64512;
              neighbor 192.168.1.254 as 65000;
              direct;
              \(BirdConfig.timers)
              graceful restart on; graceful restart time 120;
              allow local as;
              ipv4 {
                import filter podwire_import4;
                export filter podwire_export;
                next hop self;
                gateway direct;
              };
            }
            """))
        #expect(config.text.contains("protocol bgp mesh_b_4 {\n  local 192.168.1.1 as 64512;\n"
                                     + "  neighbor 192.168.1.2 as 64512;\n  direct;"))
        #expect(!config.text.contains("mesh_b_4 {\n  local 192.168.1.1 as 64512;\n  neighbor 192.168.1.2 as 64512;"
                                      + "\n  direct;\n  \(BirdConfig.timers)\n  graceful restart on; graceful restart "
                                      + "time 120;\n  allow local as;"))
        #expect(config.text.hasPrefix("# podwire-node's BIRD config for node-a.rack1"))
        #expect(config.text.contains("router id 192.168.1.1;"))
    }

    /// A peer joining changes its subnets' lines only; withdrawing keeps every session.
    @Test func stableAcrossChanges() {
        let joined = make(held: peer.subnets + [IPNetwork("10.244.3.0/24")!])
        let before = make().text.split(separator: "\n"), after = joined.text.split(separator: "\n")
        #expect(zip(before, after).filter { $0 != $1 }.count == 1 && before.count == after.count)
        let withdrawn = make(announce: false)
        #expect(!withdrawn.text.contains("route 10.244.1.0/24 blackhole;") && withdrawn.sessions == make().sessions)
    }

    @Test func names() {
        #expect(BirdConfig.protocolName(node: "b") == "b")
        #expect(BirdConfig.protocolName(node: "a-b") != BirdConfig.protocolName(node: "a.b"))
        #expect(BirdConfig.protocolName(node: String(repeating: "x", count: 253)).count == 49)
        #expect(BirdConfig.protocolName(address: IPAddress("fd01::1")!) == "fd01__1")
        let v6only = NodeRecord(name: "c", addresses: [IPAddress("fd01::3")!],
                                vtepMAC: MACAddress("02:00:00:00:00:03")!, subnets: [])
        #expect(BirdConfig.routerID(v6only) == BirdConfig.routerID(v6only) && BirdConfig.routerID(v6only) != "0.0.0.0")
    }

    @Test func sessionWithoutAnAddressOfItsFamilyIsAProblem() {
        let v4only = NodeRecord(name: "a", addresses: [IPAddress("192.168.1.1")!],
                                vtepMAC: MACAddress("02:00:00:00:00:01")!, subnets: me.subnets)
        let config = BirdConfig.make(node: v4only, config: cluster, settings: settings, held: [], mesh: [],
                                     onLink: { _ in true }, logFile: "/l")
        #expect(config.problems == ["bgp peer fd09::254: this node has no IPv6 underlay address"])
        #expect(config.sessions.map(\.name) == ["router_192_168_1_254"])
    }
}

@Suite struct BGPSessionTests {
    /// What BIRD 2.0.12 answered to `show protocols all`, cut down: a session up, one refused.
    @Test func parsesShowProtocolsAll() {
        let lines: [BirdControl.Line] = [
            (2002, "Name       Proto      Table      State  Since         Info"),
            (1002, "podwire_device Device     ---        up     16:02:29.016  "),
            (1002, "router_192_168_77_254 BGP        ---        up     16:02:32.941  Established   "),
            (1006, "  BGP state:          Established"), (1006, "    Neighbor address: 192.168.77.254"),
            (1006, "    Neighbor AS:      65000"), (1006, "  Channel ipv4"),
            (1006, "    Routes:         2 imported, 1 filtered, 1 exported, 2 preferred"),
            (1002, "mesh_b_4   BGP        ---        start  16:02:32.941  Active        Received: Bad peer AS"),
            (1006, "  BGP state:          Active"), (1006, "    Neighbor address: 192.168.1.2"),
            (1006, "    Neighbor AS:      64513"), (1006, "    Last error:       Received: Bad peer AS"),
            (0, ""),
        ].map { BirdControl.Line(code: $0.0, text: $0.1) }
        let sessions = BGPSession.parse(lines)
        #expect(sessions.map(\.summary) == [
            "bgp session router_192_168_77_254 (192.168.77.254 AS 65000): Established, 2 received, 1 announced",
            "bgp session mesh_b_4 (192.168.1.2 AS 64513): Active, 0 received, 0 announced; last error: Received: "
                + "Bad peer AS",
        ])
    }
}

/// Every variant podwire-node writes is one BIRD's parser takes: routers and a mesh, BFD,
/// graceful restart off, withdrawn subnets, a node with IPv6 only.
@Suite struct BirdParsesWhatIsWritten {
    @Test(.enabled(if: access("/usr/sbin/bird", X_OK) == 0))
    func everyVariant() throws {
        let tests = BirdConfigTests()
        var variants = [tests.make(), tests.make(announce: false), tests.make(held: [])]
        var settings = tests.settings
        settings.bfd = true
        settings.gracefulRestart = 0
        settings.nodeASN = ["b": 64513]
        let v6only = NodeRecord(name: "c", addresses: [IPAddress("fd01::3")!],
                                vtepMAC: MACAddress("02:00:00:00:00:03")!, subnets: [IPNetwork("fd44:0:0:3::/64")!])
        for node in [tests.me, v6only] {
            variants.append(BirdConfig.make(node: node, config: tests.cluster, settings: settings,
                                            held: tests.peer.subnets, mesh: [tests.peer], onLink: { _ in true },
                                            logFile: "/tmp/bird.log"))
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bird-\(getpid()).conf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        for variant in variants {
            try variant.text.write(toFile: path, atomically: true, encoding: .utf8)
            let check = Process()
            check.executableURL = URL(fileURLWithPath: "/usr/sbin/bird")
            check.arguments = ["-p", "-c", path]
            let output = Pipe()
            check.standardError = output
            try check.run()
            check.waitUntilExit()
            let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(check.terminationStatus == 0, "\(said)\n\(variant.text)")
        }
    }
}

/// The real BIRD: a config it refuses is reported in its words and changes nothing; a good
/// one is loaded by the running BIRD. Only a device protocol: nothing is touched.
@Suite(.serialized) struct BirdTests {
    @Test(.enabled(if: access("/usr/sbin/bird", X_OK) == 0 && getuid() == 0))
    func checksThenLoads() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bird-\(getpid())").path
        let bird = Bird(directory: directory)
        defer {
            if let pid = try? String(contentsOfFile: bird.pidPath, encoding: .utf8),
               let number = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(number, SIGTERM)
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
        let good = "router id 10.0.0.1;\nprotocol device podwire_device {\n}\n"
        #expect(bird.problem() == .notRunning("connect \(bird.socketPath): No such file or directory"))
        #expect(try bird.apply(good, recover: false) == .started)
        #expect(try bird.apply(good, recover: false) == .unchanged)
        #expect {
            try bird.apply("router id 10.0.0.1;\nprotocol device { scan time nonsense; }\n", recover: false)
        } throws: { error in
            "\(error)".contains("BIRD refused:") && "\(error)".contains("bird.conf.new:2")
        }
        #expect(try String(contentsOfFile: bird.configPath, encoding: .utf8) == good)
        #expect(bird.problem() == nil)
        let second = good + "protocol static second {\n  ipv4;\n}\n"
        #expect(try bird.apply(second, recover: false) == .reloaded)
        let reply = try BirdControl.ask(bird.socketPath, "show protocols")
        #expect(reply.contains { $0.text.hasPrefix("second ") })
    }
}
