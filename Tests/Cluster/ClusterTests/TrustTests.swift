import Addressing
import Identity
import Testing
@testable import ClusterModel

/// A cluster in a `ClusterView`, as etcd would hold it: records and the subnet keys naming them.
struct ViewBuilder {
    var view = ClusterView()
    static let config = ClusterConfig(networks: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!])

    static func record(_ name: String, _ index: Int, address: String? = nil) -> NodeRecord {
        NodeRecord(name: name, addresses: [IPAddress(address ?? "192.168.1.\(index)")!], vtepMAC: VTEP.mac(node: name),
                   subnets: [IPNetwork("10.244.\(index).0/24")!, IPNetwork("fd44:0:0:\(index)::/64")!])
    }

    /// The record under its own name, with its subnet keys.
    mutating func add(_ record: NodeRecord, key: String? = nil, holders: Bool = true) {
        view.revision += 1
        view.records[key ?? record.name] = Array(record.json.utf8)
        view.created[key ?? record.name] = view.revision
        if holders { for subnet in record.subnets { view.holders[subnet] = record.name } }
    }

    mutating func put(_ key: String, _ json: String) {
        view.records[key] = Array(json.utf8)
        view.revision += 1
    }
}

@Suite struct PeerValidationTests {
    let me = ViewBuilder.record("me", 1)

    func verdict(_ build: (inout ViewBuilder) -> Void) -> PeerValidation.Verdict {
        var builder = ViewBuilder()
        builder.add(me)
        builder.add(ViewBuilder.record("good", 2))
        build(&builder)
        return PeerValidation.judge(builder.view, config: ViewBuilder.config, node: me)
    }

    func rejection(_ build: (inout ViewBuilder) -> Void) -> Rejection? {
        let verdict = verdict(build)
        #expect(verdict.peers.map(\.name).contains("good"), "one bad record spoils only itself")
        return verdict.rejected.first
    }

    @Test func aSoundPeerIsBelieved() {
        let verdict = verdict { _ in }
        #expect(verdict.peers.map(\.name) == ["good"] && verdict.rejected.isEmpty)
    }

    @Test func aDefaultRouteClaimIsRejected() {
        var bad = ViewBuilder.record("bad", 3)
        bad.subnets = [IPNetwork("0.0.0.0/0")!]
        #expect(rejection { $0.add(bad) }?.reason == .subnet)
        bad.subnets = [IPNetwork("169.254.169.254/32")!]
        #expect(rejection { $0.add(bad) }?.reason == .subnet)
        bad.subnets = [IPNetwork("10.244.3.0/25")!]
        #expect(rejection { $0.add(bad) }?.reason == .subnet)
        bad.subnets = [IPNetwork("10.244.3.0/24")!, IPNetwork("10.244.4.0/24")!]
        #expect(rejection { $0.add(bad) }?.detail.contains("more than one IPv4") == true)
    }

    @Test func aClaimOnAnotherNodesSubnetIsRejected() {
        var thief = ViewBuilder.record("thief", 3)
        thief.subnets = ViewBuilder.record("good", 2).subnets
        let found = rejection { $0.add(thief, holders: false) }
        #expect(found?.reason == .holder && found?.detail.contains("held by good") == true)
        #expect(rejection { $0.add(ViewBuilder.record("keyless", 4), holders: false) }?.reason == .holder)
    }

    @Test func aRecordUnderAnotherNamesKeyIsRejected() {
        let found = rejection { $0.add(ViewBuilder.record("good", 2), key: "zz") }
        #expect(found?.reason == .nameMismatch && found?.name == "zz")
    }

    @Test func badAddressesAndMACsAreRejected() {
        for address in ["127.0.0.1", "224.0.0.1", "255.255.255.255", "169.254.1.1", "0.0.0.0", "192.168.1.1"] {
            #expect(rejection { $0.add(ViewBuilder.record("bad", 3, address: address)) }?.reason == .address,
                    "\(address)")
        }
        for mac in ["00:00:00:00:00:00", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "\(me.vtepMAC)"] {
            var bad = ViewBuilder.record("bad", 3)
            bad.vtepMAC = MACAddress(mac)!
            #expect(rejection { $0.add(bad) }?.reason == .mac, "\(mac)")
        }
    }

    @Test func duplicatesKeepTheLiveOrNameDerivedClaim() {
        // Same underlay address: the live node keeps it.
        let verdict = verdict { builder in
            builder.add(ViewBuilder.record("old", 3, address: "192.168.1.2"))
        }
        #expect(verdict.peers.map(\.name) == ["good"] && verdict.rejected.map(\.name) == ["old"])
        // Neither alive (liveness is read with listings only): the record made first keeps it,
        // whatever the names.
        let forged = self.verdict { builder in
            builder.add(ViewBuilder.record("aaa", 3, address: "192.168.1.2"))
        }
        #expect(forged.peers.map(\.name) == ["good"] && forged.rejected.map(\.name) == ["aaa"])
        let alive = self.verdict { builder in
            builder.add(ViewBuilder.record("new", 3, address: "192.168.1.2"))
            builder.view.alive["new"] = "192.168.1.2"
        }
        #expect(alive.peers.map(\.name) == ["new"] && alive.rejected.map(\.reason) == [.address])
        // A MAC copied from another node: the node whose name it derives from keeps it.
        var copy = ViewBuilder.record("copy", 3)
        copy.vtepMAC = VTEP.mac(node: "good")
        let mac = self.verdict { $0.add(copy) }
        #expect(mac.peers.map(\.name) == ["good"] && mac.rejected.map(\.reason) == [.mac])
    }

    @Test func unreadableRecordsAreNamed() {
        for json in ["not json", #"{"name":"bad"}"#,
                     #"{"name":"bad","addresses":[],"vtepMAC":"02:00:00:00:00:09","subnets":["#
                        + Array(repeating: #""10.244.9.0/24""#, count: 9).joined(separator: ",") + "]}"] {
            let found = rejection { $0.put("bad", json) }
            #expect(found?.reason == .unreadable && found?.name == "bad", "\(json.prefix(40))")
        }
    }
}

@Suite struct RegistrationPlanTests {
    let here = [IPAddress("192.168.1.9")!]

    func plan(_ name: String, _ view: ClusterView, config: ClusterConfig = ViewBuilder.config) throws -> Registration {
        try Registration.plan(name: name, addresses: here, vtepMAC: VTEP.mac(node: name), config: config, view: view)
    }

    @Test func aNewNodeGetsTheFirstFreeSubnetOfEachFamily() throws {
        var builder = ViewBuilder()
        builder.add(ViewBuilder.record("a", 0))
        let registration = try plan("b", builder.view)
        #expect(registration.record.subnets.map(\.description) == ["10.244.1.0/24", "fd44:0:0:1::/64"])
        #expect(registration.claims == registration.record.subnets && registration.previous == nil)
    }

    @Test func aKnownNodeKeepsItsSubnetsAndMendsItsKeys() throws {
        var builder = ViewBuilder()
        let a = ViewBuilder.record("a", 5)
        builder.add(a)
        builder.view.holders[a.subnets[1]] = nil
        let registration = try plan("a", builder.view)
        #expect(registration.record.subnets == a.subnets && registration.claims == [a.subnets[1]])
    }

    @Test func aCorruptRecordIsRebuiltFromItsSubnetKeys() throws {
        var builder = ViewBuilder()
        builder.add(ViewBuilder.record("a", 5))
        builder.put("a", #"{"name":"zz"}"#)
        let registration = try plan("a", builder.view)
        #expect(registration.record.subnets == ViewBuilder.record("a", 5).subnets && registration.claims.isEmpty)
        #expect(registration.previous == Array(#"{"name":"zz"}"#.utf8))
    }

    @Test func aNewFamilyIsGainedAndSubnetsOutsideAChangedNetworkGo() throws {
        var builder = ViewBuilder()
        var a = ViewBuilder.record("a", 5)
        a.subnets = [a.subnets[0]]
        builder.add(a)
        // IPv6 added to the config: the node gets an IPv6 subnet at its next registration.
        let gained = try plan("a", builder.view)
        #expect(gained.record.subnets.count == 2 && gained.claims.map(\.family) == [.v6])
        // The IPv4 network moved: the old subnet is released, a new one claimed.
        let moved = ClusterConfig(networks: [IPNetwork("10.250.0.0/16")!])
        let registration = try plan("a", builder.view, config: moved)
        #expect(registration.record.subnets.map(\.description) == ["10.250.0.0/24"])
        #expect(registration.releases == [a.subnets[0]])
    }

    @Test func aConfigThatInvalidatesRegisteredSubnetsNamesTheNodes() {
        var builder = ViewBuilder()
        builder.add(ViewBuilder.record("a", 5))
        var longer = ViewBuilder.config
        longer.subnetLength4 = 26
        #expect(ConfigChange.problems(longer, view: builder.view) == ["node a: 10.244.5.0/24 is not a /26, the "
                                                                      + "cluster's subnet length"])
        #expect(ConfigChange.problems(ViewBuilder.config, view: builder.view).isEmpty)
    }
}
