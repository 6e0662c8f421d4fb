#if canImport(Glibc)
import Glibc
#endif
import Addressing
import Namespaces
import Netlink
import NetfilterNetlink
import RouteNetlink
import Testing

let isRoot = geteuid() == 0

/// Each test makes its requests inside network namespaces of its own, with no name, which go
/// when the test ends: there is nothing to clean up, on success or failure.
@Suite("requests in throwaway namespaces", .enabled(if: isRoot, "needs root to make network namespaces"))
struct NamespaceTests {
    let namespace: NetworkNamespace
    let socket: RouteSocket
    /// The namespaces the veths' other ends live in, kept for the test's whole run: a veth
    /// goes when the namespace of either end does.
    let peers = Peers()

    final class Peers {
        var namespaces: [NetworkNamespace] = []
    }

    init() throws {
        namespace = try NetworkNamespace.throwaway()
        socket = try namespace.routeSocket()
    }

    /// A veth whose other end is in a namespace of its own, as an underlay or a stand-in link.
    func underlay(_ name: String, address: String? = nil) throws -> Link {
        let peer = try NetworkNamespace.throwaway()
        peers.namespaces.append(peer)
        try socket.addVeth(VethPair(hostName: name, bridgeIndex: 0, peerName: "peer", peerNamespace: peer))
        let link = try #require(try socket.link(named: name))
        if let address { try socket.addAddress(IPNetwork(address)!, link: link.index) }
        return link
    }

    @Test func bridgesVethsAndIFBs() throws {
        try socket.addBridge(named: "br0", mtu: 1400, promiscuous: true, vlanFiltering: false)
        let bridge = try #require(try socket.link(named: "br0"))
        #expect(bridge.kind == "bridge" && bridge.mtu == 1400 && bridge.isUp && bridge.isPromiscuous)

        let pod = try NetworkNamespace.throwaway()
        peers.namespaces.append(pod)
        let podMAC = MACAddress("02:00:00:00:00:02")!
        try socket.addVeth(VethPair(hostName: "h0", bridgeIndex: bridge.index, peerName: "eth0", peerNamespace: pod,
                                    mtu: 1400, hostMAC: MACAddress("02:00:00:00:00:01"), peerMAC: podMAC))
        let host = try #require(try socket.link(named: "h0"))
        #expect(host.kind == "veth" && host.masterIndex == bridge.index && host.isUp && host.mtu == 1400)
        let inside = try #require(try pod.routeSocket().link(named: "eth0"))
        #expect(inside.mac == podMAC && inside.mtu == 1400)
        #expect(try socket.link(named: "eth0") == nil)

        try socket.addIFB(named: "ifb0")
        #expect(try socket.link(named: "ifb0")?.kind == "ifb")

        let names = Set(try socket.links().map(\.name))
        #expect(names.isSuperset(of: ["lo", "br0", "h0", "ifb0"]))
        for name in ["h0", "ifb0", "br0"] { #expect(try socket.deleteLink(named: name)) }
        #expect(try !socket.deleteLink(named: "h0"))
        #expect(try socket.links().map(\.name) == ["lo"])
    }

    @Test func vxlan() throws {
        let link = try underlay("u0", address: "192.168.50.1/24")
        let mac = MACAddress("02:00:00:00:00:05")!
        try socket.addVXLAN(VXLANDevice(name: "vx0", vni: 7, local: IPAddress("192.168.50.1")!,
                                        underlayIndex: link.index, mtu: 1450, mac: mac))
        let device = try #require(try socket.link(named: "vx0"))
        #expect(device.kind == "vxlan" && device.mtu == 1450 && device.mac == mac && device.isUp)
        // Read back as set: what tells a device made for another VNI, port, address or link.
        #expect(device.vxlan == Link.VXLANSettings(vni: 7, port: 4789, local: IPAddress("192.168.50.1"),
                                                   underlayIndex: link.index))
        try socket.addVXLAN(VXLANDevice(name: "vx6", vni: 8, local: IPAddress("fd50::1")!, underlayIndex: link.index,
                                        port: 8472))
        #expect(try socket.link(named: "vx6")?.vxlan == Link.VXLANSettings(vni: 8, port: 8472,
                                                                           local: IPAddress("fd50::1"),
                                                                           underlayIndex: link.index))
        #expect(try socket.deleteLink(named: "vx0") && socket.deleteLink(named: "vx6"))
    }

    /// Many links: the dump spans several datagrams, each read and matched to its request.
    @Test func groupDeletionAndLongDumps() throws {
        let names = (0..<40).map { "g\($0)" }
        for name in names { _ = try underlay(name) }
        #expect(Set(try socket.links().map(\.name)).isSuperset(of: names))
        try socket.deleteLinks(named: names + ["absent"])
        #expect(try socket.links().map(\.name) == ["lo"])
    }

    @Test func addressesAndRoutes() throws {
        let link = try underlay("u0")
        try socket.setUp(link: link.index)
        let v4 = IPNetwork("10.9.0.1/24")!, v6 = IPNetwork("fd09::1/64")!
        try socket.addAddress(v4, link: link.index)
        try socket.addAddress(v6, link: link.index)
        #expect(try socket.addresses(link: link.index, family: .v4) == [v4])
        #expect(try socket.addresses(link: link.index).contains(v6))

        let tag: UInt8 = 77
        let route = RouteEntry(destination: IPNetwork("10.244.1.0/24")!, gateway: IPAddress("10.9.0.2"),
                               linkIndex: link.index, protocolNumber: tag)
        let route6 = RouteEntry(destination: IPNetwork("fd44:1::/64")!, gateway: IPAddress("fd09::2"),
                                linkIndex: link.index, protocolNumber: tag)
        try socket.addRoute(route)
        try socket.addRoute(route6)
        #expect(try socket.routes(family: .v4).contains(route))
        #expect(try socket.routes(family: .v6).contains(route6))
        #expect(try socket.routes(family: .v4).filter { $0.protocolNumber == tag } == [route])
        // The lookup podwire-node tells a neighbour from a peer behind a router by, both families.
        let lookups: [(String, String?)] = [("10.9.0.7", nil), ("fd09::7", nil), ("10.244.1.9", "10.9.0.2"),
                                            ("fd44:1::9", "fd09::2")]
        for (address, gateway) in lookups {
            let found = try #require(try socket.route(to: IPAddress(address)!), "no route to \(address)")
            #expect(found.linkIndex == link.index && found.gateway == gateway.flatMap { IPAddress($0) }, "\(address)")
        }
        #expect(try socket.route(to: IPAddress("192.0.2.1")!) == nil)
        #expect(try socket.route(to: IPAddress("2001:db8::1")!) == nil)
        try socket.deleteRoute(route)
        try socket.deleteRoute(route)
        #expect(try !socket.routes(family: .v4).contains(route))
        try socket.deleteAddress(v4, link: link.index)
        #expect(try socket.addresses(link: link.index, family: .v4).isEmpty)
    }

    @Test func neighboursAndForwardingEntries() throws {
        let link = try underlay("u0", address: "192.168.50.1/24")
        try socket.addVXLAN(VXLANDevice(name: "vx0", vni: 7, local: IPAddress("192.168.50.1")!,
                                        underlayIndex: link.index))
        let device = try #require(try socket.link(named: "vx0"))
        let peerMAC = MACAddress("02:00:00:00:00:09")!
        let neighbour = Neighbour(.neighbour, link: device.index, address: IPAddress("10.244.1.0")!, mac: peerMAC)
        let forwarding = Neighbour(.forwarding, link: device.index, address: IPAddress("192.168.50.2")!, mac: peerMAC)
        try socket.replaceNeighbour(neighbour)
        try socket.replaceNeighbour(neighbour)
        try socket.replaceNeighbour(forwarding)
        #expect(try socket.neighbours(.neighbour, link: device.index) == [neighbour])
        #expect(try socket.neighbours(.forwarding, link: device.index) == [forwarding])

        let route = RouteEntry(destination: IPNetwork("10.244.1.0/24")!, gateway: IPAddress("10.244.1.0"),
                               linkIndex: device.index, protocolNumber: 77, onLink: true)
        try socket.addRoute(route)
        #expect(try socket.routes(family: .v4).contains(route))

        try socket.deleteNeighbour(neighbour)
        try socket.deleteNeighbour(forwarding)
        try socket.deleteNeighbour(forwarding)
        #expect(try socket.neighbours(.neighbour, link: device.index).isEmpty)
        #expect(try socket.neighbours(.forwarding, link: device.index).isEmpty)
    }

    /// A socket subscribed to state changes is told of a link that comes up and goes, of an
    /// address and a route removed, and of forwarding turned off.
    @Test(.timeLimit(.minutes(1))) func stateEvents() throws {
        let events = try namespace.perform { try RouteSocket.stateEvents() }
        try events.limitWaits(to: 10)
        var seen: [StateEvent] = []
        func until(_ wanted: StateEvent) throws {
            while !seen.contains(wanted) { seen += try events.nextStateEvents() }
        }
        let link = try underlay("u0")
        try socket.setUp(link: link.index)
        func isUp(_ event: StateEvent) -> Bool {
            if case let .link(up, false) = event { up.name == "u0" && up.isUp } else { false }
        }
        while !seen.contains(where: isUp) { seen += try events.nextStateEvents() }
        let address = IPNetwork("10.77.0.1/24")!
        try socket.addAddress(address, link: link.index)
        try until(.address(address, link: link.index, removed: false))
        let route = RouteEntry(destination: IPNetwork("10.244.1.0/24")!, gateway: IPAddress("10.77.0.2"),
                               linkIndex: link.index, protocolNumber: 112)
        try socket.addRoute(route)
        try socket.deleteRoute(route)
        try until(.route(route, removed: true))
        try socket.deleteAddress(address, link: link.index)
        try until(.address(address, link: link.index, removed: true))
        _ = try namespace.perform { try Sysctl.ensure("/proc/sys/net/ipv4/ip_forward", is: "1") }
        _ = try namespace.perform { try Sysctl.ensure("/proc/sys/net/ipv4/ip_forward", is: "0") }
        try until(.forwarding(.v4, link: nil, on: false))
        try socket.deleteLink(named: "u0")
        while !seen.contains(where: { if case let .link(gone, true) = $0 { gone.name == "u0" } else { false } }) {
            seen += try events.nextStateEvents()
        }
    }

    /// A socket subscribed to nf_tables is told of a set and a table removed, by table; the
    /// table's `exists` follows.
    @Test(.timeLimit(.minutes(1))) func tableRemovals() throws {
        let events = try namespace.perform { try NetfilterSocket.tableEvents() }
        try events.limitWaits(to: 10)
        let tables = try namespace.perform { try NFTables(table: "podwire") }
        #expect(try !tables.exists())
        tables.addTable()
        tables.addSet("masq4", key: .ipv4)
        try tables.commit()
        #expect(try tables.exists())
        var seen: [TableRemoval] = []
        let other = try namespace.perform { try NFTables(family: .bridge, table: "podwire") }
        other.addTable()
        try other.commit()
        // nft, forked from the thread that is in the namespace, runs in it.
        #expect(try namespace.perform { system("nft flush ruleset") } == 0)
        let wanted = [TableRemoval(object: .set, family: .inet, table: "podwire"),
                      TableRemoval(object: .table, family: .inet, table: "podwire"),
                      TableRemoval(object: .table, family: .bridge, table: "podwire")]
        while !wanted.allSatisfy(seen.contains) { seen += try events.nextTableRemovals() }
        #expect(try !tables.exists())
    }

    /// A link made a port of a bridge names it as its master.
    @Test func setMaster() throws {
        let port = try underlay("u0")
        try socket.addBridge(named: "br0", mtu: nil, promiscuous: false, vlanFiltering: false)
        let bridge = try #require(try socket.link(named: "br0"))
        try socket.setMaster(link: port.index, bridge.index)
        #expect(try socket.link(named: "u0")?.masterIndex == bridge.index)
    }

    /// The kernel's own words for a refusal reach the error: a gateway that is not on any link.
    @Test func extendedAcknowledgement() throws {
        let link = try underlay("u0")
        let route = RouteEntry(destination: IPNetwork("10.244.1.0/24")!, gateway: IPAddress("10.77.0.1"),
                               linkIndex: link.index)
        let error = try #require(throws: NetlinkError.self) { try socket.addRoute(route) }
        #expect(error.kernelMessage == "Nexthop has invalid gateway")
        #expect("\(error)".hasSuffix(": Network is unreachable: Nexthop has invalid gateway"), "\(error)")
    }

    @Test func nftablesBatches() throws {
        let tables = try namespace.perform { try NFTables(table: "podwire") }
        tables.addTable()
        tables.addSet("masq4", key: .ipv4)
        tables.addChain("postrouting", type: "nat", hook: .postrouting, priority: .sourceNAT)
        tables.addRule("postrouting", [.payload(base: .network, offset: 12, length: 4, into: .one),
                                       .lookup(set: "masq4", register: .one), .masquerade])
        try tables.commit()
        #expect(try tables.elements(of: "masq4") == [])
        #expect(try tables.elements(of: "absent") == nil)

        let element = NFTables.Element(key: [10, 0, 0, 5], comment: "net c1 eth0")
        tables.addElements("masq4", [element])
        try tables.commit()
        #expect(try tables.elements(of: "masq4") == [element])

        // The second request fails: the kernel applies neither, and the error names it.
        tables.deleteElements("masq4", [element])
        tables.addElements("absent", [element])
        let error = try #require(throws: NetlinkError.self) { try tables.commit() }
        #expect(error.isNotFound && error.operation == "nf_tables podwire: add to absent", "\(error)")
        #expect(try tables.elements(of: "masq4") == [element])

        // An element already there, added exclusively: refused, and nothing else applied.
        tables.deleteElements("masq4", [element])
        tables.addElements("masq4", [NFTables.Element(key: [10, 0, 0, 6])])
        tables.addElements("masq4", [NFTables.Element(key: [10, 0, 0, 6])], exclusive: true)
        #expect(throws: NetlinkError.self) { try tables.commit() }
        #expect(try tables.elements(of: "masq4") == [element])
    }
}
