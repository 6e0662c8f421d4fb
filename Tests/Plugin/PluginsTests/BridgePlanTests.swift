import Testing
import CNI
@testable import Plugins
import Identity

private func plan(_ keys: String,
                  args: String = "", ifname: String = "eth0", id: String = "ctr1") throws -> BridgePlan {
    let text = #"{"cniVersion":"1.0.0","name":"net1","type":"podwire"\#(keys)}"#
    let environment = try CNIEnvironment(command: .add, variables: [
        "CNI_CONTAINERID": id, "CNI_NETNS": "/var/run/netns/p", "CNI_IFNAME": ifname, "CNI_ARGS": args,
        "CNI_PATH": "/bin"])
    let bytes = Array(text.utf8)
    return try BridgePlan(call: Call(environment: environment, config: bytes, version: .v1_0_0))
}

private func code(_ body: () throws -> Void) -> Int? {
    do { try body(); return nil } catch { return (error as? CNIError)?.code }
}

@Suite struct BridgePlanTests {
    @Test func usesTheReferenceDefaults() throws {
        let p = try plan("")
        #expect(p.bridgeName == "cni0")
        #expect(!p.isGateway)
        #expect(p.mtu == nil)
        #expect(!p.detectDuplicates)
        guard case .none = p.ipam else { Issue.record("a config without ipam should be layer 2 only"); return }
    }

    @Test func isDefaultGatewayImpliesIsGateway() throws {
        #expect(try plan(#","isDefaultGateway":true"#).isGateway)
    }

    @Test func refusesHairpinWithPromiscuousAndOutOfRangeValues() {
        #expect(code { _ = try plan(#","hairpinMode":true,"promiscMode":true"#) } == 7)
        #expect(code { _ = try plan(#","mtu":20"#) } == 7)
        #expect(code { _ = try plan(#","vlan":4095"#) } == 7)
        #expect(code { _ = try plan(#","bridge":"a/b""#) } == 7)
        #expect(code { _ = try plan(#","bridge":"much-too-long-bridge""#) } == 7)
        #expect(code { _ = try plan(#","mtu":"big""#) } == 6)
        #expect(code { _ = try plan(#","ipam":{"subnet":"10.0.0.0/24"}"#) } == 7)
        #expect(code { _ = try plan(#","ipam":[]"#) } == 6)
    }

    @Test func readsTheNetworksMasqueradeLeavesAlone() throws {
        let networks = #","noMasqueradeDestinations":["10.244.0.0/16","fd44::/48"]"#
        #expect(try plan(networks).noMasqueradeDestinations.map(\.description) == ["10.244.0.0/16", "fd44::/48"])
        #expect(try plan("").noMasqueradeDestinations.isEmpty)
        #expect(code { _ = try plan(#","noMasqueradeDestinations":["10.244.0.1/16"]"#) } == 7)
        #expect(code { _ = try plan(#","noMasqueradeDestinations":["nowhere"]"#) } == 7)
        #expect(code { _ = try plan(#","noMasqueradeDestinations":"10.244.0.0/16""#) } == 6)
    }

    @Test func readsTheReferenceKeysForPortsAndVLANs() throws {
        let p = try plan(#","macspoofchk":true,"portIsolation":true,"preserveDefaultVlan":true,"#
            + #""vlanTrunk":[{"id":7},{"minID":3,"maxID":5},{"id":9},{"minID":8,"maxID":8}]"#)
        #expect(p.macSpoofCheck && p.portIsolation && p.preserveDefaultVlan && p.filtersVlans)
        #expect(p.vlanTrunk == [3...5, 7...9])
        let plain = try plan("")
        #expect(!plain.macSpoofCheck && !plain.portIsolation && !plain.preserveDefaultVlan && !plain.filtersVlans)
        for bad in [#"[{"id":0}]"#, #"[{"id":4095}]"#, #"[{"minID":5}]"#, #"[{"maxID":5}]"#,
                    #"[{"minID":6,"maxID":5}]"#] {
            #expect(code { _ = try plan(#","vlanTrunk":"# + bad) } == 7, "\(bad)")
        }
        #expect(code { _ = try plan(#","vlanTrunk":[{"id":"5"}]"#) } == 6)
    }

    @Test func disableContainerInterfaceIsLayer2Only() throws {
        #expect(try plan(#","disableContainerInterface":true"#).disableContainerInterface)
        #expect(try plan(#","disableContainerInterface":true,"ipam":{}"#).disableContainerInterface)
        let withIPAM = #","disableContainerInterface":true,"ipam":{"type":"host-local","subnet":"10.0.0.0/24"}"#
        #expect(code { _ = try plan(withIPAM) } == 7)
    }

    @Test func refusesAnIPAMMasqueradeBackendItDoesNotKnow() {
        #expect(code { _ = try plan(#","ipMasqBackend":"ebtables""#) } == 7)
        #expect(code { _ = try plan(#","ipMasq":true,"ipMasqBackend":"nftables""#) } == nil)
    }

    @Test func takesTheMACFromRuntimeConfigOverArgsOverCNIArgs() throws {
        #expect(try plan("", args: "MAC=0a:00:00:00:00:01").mac?.description == "0a:00:00:00:00:01")
        let fromArgs = try plan(#","args":{"cni":{"mac":"0a:00:00:00:00:02"}}"#, args: "MAC=0a:00:00:00:00:01")
        #expect(fromArgs.mac?.description == "0a:00:00:00:00:02")
        let fromRuntime = try plan(#","args":{"cni":{"mac":"0a:00:00:00:00:02"}},"#
                                   + #""runtimeConfig":{"mac":"0a:00:00:00:00:03"}"#)
        #expect(fromRuntime.mac?.description == "0a:00:00:00:00:03")
        #expect(code { _ = try plan(#","runtimeConfig":{"mac":"01:00:5e:00:00:01"}"#) } == 7)
    }

    @Test func servesHostLocalInProcessAndDelegatesTheRest() throws {
        guard case .hostLocal = try plan(#","ipam":{"type":"host-local","subnet":"10.0.0.0/24"}"#).ipam else {
            Issue.record("host-local should be served in process"); return
        }
        guard case .delegate("true") = try plan(#","ipam":{"type":"true"}"#).ipam else {
            Issue.record("other IPAM types should be delegated"); return
        }
        #expect(code { _ = try plan(#","ipam":{"type":"no-such-ipam-plugin"}"#) } == 7)
    }

    @Test func namesTheHostEndFromContainerAndIfnameAlone() throws {
        let a = try plan("").hostVethName
        #expect(a == (try plan(#","bridge":"other""#).hostVethName))
        #expect(a != (try plan("", ifname: "eth1").hostVethName))
        #expect(a != (try plan("", id: "ctr2").hostVethName))
        #expect(a.utf8.count == 15)
        #expect(a.hasPrefix("pw"))
        #expect(LinkNames.hostVeth(containerID: "ctr1", ifname: "eth0") == a)
    }

    @Test func refusesAnInvalidNetworkName() {
        let text = #"{"cniVersion":"1.0.0","name":"../../etc","type":"podwire"}"#
        #expect(code {
            let header = try ConfigHeader(JSONNode.document(Array(text.utf8), what: "network config"))
            _ = try header.validatedNetworkName()
        } == 7)
    }
}

@Suite struct TeardownTests {
    private func teardown(_ keys: String, command: Command = .del) throws -> Teardown {
        let text = #"{"cniVersion":"1.1.0","name":"net1","type":"podwire"\#(keys)}"#
        let environment = try CNIEnvironment(command: command, variables: [
            "CNI_CONTAINERID": "ctr1", "CNI_NETNS": "", "CNI_IFNAME": "eth0", "CNI_PATH": "/bin"])
        return try Teardown(call: Call(environment: environment, config: Array(text.utf8), version: .v1_1_0))
    }

    /// Every key here makes ADD fail; none may keep a pod from being deleted.
    @Test func readsNothingThatOnlyAddActsOn() throws {
        let keys = #","mtu":5,"hairpinMode":true,"promiscMode":true,"vlan":5000,"macspoofchk":true,"#
            + #""vlanTrunk":[{"id":5}],"ipMasqBackend":"pf","prevResult":{"ips":"no"},"#
            + #""runtimeConfig":{"portMappings":[{"containerPort":80}],"bandwidth":{"ingressBurst":5}},"#
            + #""ipam":{"type":"host-local","ranges":"no","resolvConf":"/nonexistent","dataDir":"/var/lib/x"}"#
        #expect(code { _ = try plan(keys) } != nil)
        let t = try teardown(keys)
        guard case .hostLocal(let location) = try t.ipam.get() else {
            Issue.record("host-local should be released through its store")
            return
        }
        #expect(location.dataDir == "/var/lib/x")
        #expect(location.network == "net1")
        #expect(t.hostVethName == LinkNames.hostVeth(containerID: "ctr1", ifname: "eth0"))
    }

    @Test func aBrokenIPAMSectionFailsOnlyTheRelease() throws {
        let t = try teardown(#","bridge":"a/b","ipam":{"type":"host-local","dataDir":"relative"}"#)
        #expect(t.bridgeName == nil)
        #expect(code { _ = try t.ipam.get() } == 7)
        #expect(code { _ = try teardown(#","ipam":{"subnet":"10.0.0.0/24"}"#).ipam.get() } == 7)
    }
}
