import Testing
import Addressing
import CNI
import Firewall
@testable import Plugins

private func plan(_ runtimeConfig: String, command: Command = .add) throws -> BridgePlan {
    let text = #"{"cniVersion":"1.0.0","name":"net1","type":"podwire","runtimeConfig":\#(runtimeConfig)}"#
    let environment = try CNIEnvironment(command: command, variables: [
        "CNI_CONTAINERID": "ctr1", "CNI_NETNS": "/var/run/netns/p", "CNI_IFNAME": "eth0", "CNI_PATH": "/bin"])
    let bytes = Array(text.utf8)
    return try BridgePlan(call: Call(environment: environment, config: bytes, version: .v1_0_0))
}

private func message(_ body: () throws -> Void) -> (code: Int, text: String)? {
    do { try body(); return nil } catch { return (error as? CNIError).map { ($0.code, $0.msg) } }
}

@Suite struct PortMappingConfigTests {
    @Test func readsMappingsAsTheReferencePortmapDoes() throws {
        let p = try plan(#"{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP"},"#
                         + #"{"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"},"#
                         + #"{"hostPort":9,"containerPort":9,"hostIP":"0.0.0.0"}]}"#)
        #expect(p.ports == [
            PortMapping(hostPort: 8080, containerPort: 80, proto: .tcp, hostIP: nil),
            PortMapping(hostPort: 53, containerPort: 53, proto: .udp, hostIP: IPAddress("127.0.0.1")),
            PortMapping(hostPort: 9, containerPort: 9, proto: .tcp, hostIP: nil),
        ])
    }

    @Test func refusesBadMappingsWithCode7() {
        for bad in [#"{"hostPort":0,"containerPort":80}"#, #"{"hostPort":80,"containerPort":70000}"#,
                    #"{"hostPort":80,"containerPort":80,"protocol":"icmp"}"#,
                    #"{"hostPort":80,"containerPort":80,"hostIP":"nowhere"}"#,
                    #"{"containerPort":80}"#] {
            let failure = message { _ = try plan(#"{"portMappings":[\#(bad)]}"#) }
            #expect(failure?.code == 7, "\(bad)")
            #expect(failure?.text.hasPrefix("portMappings:") == true, "\(bad)")
        }
    }

    /// containerd's go-cni marshals structs without JSON tags; Go plugins match keys
    /// case-insensitively, so the reference reads these, and so must podwire.
    @Test func readsTheGoFieldNamesContainerdSends() throws {
        let p = try plan(#"{"portMappings":[{"HostPort":18080,"ContainerPort":80,"Protocol":"tcp","HostIP":""}],"#
                         + #""bandwidth":{"IngressRate":8000000,"IngressBurst":80000,"EgressRate":0,"EgressBurst":0}}"#)
        #expect(p.ports == [PortMapping(hostPort: 18080, containerPort: 80, proto: .tcp, hostIP: nil)])
        #expect(p.bandwidth?.ingress != nil)
        #expect(p.bandwidth?.egress == nil)
    }

    @Test func bindsEachMappingToThePodAddressesOfItsFamily() throws {
        let ips = [CNIResult.IPConfig(address: IPNetwork("10.1.0.5/24")!),
                   CNIResult.IPConfig(address: IPNetwork("fd00::5/64")!)]
        let any = PortMapping(hostPort: 80, containerPort: 80, proto: .tcp, hostIP: nil)
        let v6Only = PortMapping(hostPort: 81, containerPort: 81, proto: .tcp, hostIP: IPAddress("fd00::1"))
        let targets = PortMappingsConfig.targets([any, v6Only], for: ips)
        #expect(targets.map(\.podAddress.description) == ["10.1.0.5", "fd00::5", "fd00::5"])
        #expect(targets[0].subnet == IPNetwork("10.1.0.0/24"))
    }
}

@Suite struct BandwidthConfigTests {
    @Test func convertsBitsToTheReferenceTokenBucket() throws {
        let p = try plan(#"{"bandwidth":{"ingressRate":8000000,"ingressBurst":800000,"#
                         + #""egressRate":16000000,"egressBurst":80000}}"#)
        // 1 MB/s, a 100 kB burst, and a queue of 25 ms at the rate plus the burst.
        #expect(p.bandwidth?.ingress?.rate == 1_000_000)
        #expect(p.bandwidth?.ingress?.burst == 100_000)
        #expect(p.bandwidth?.ingress?.limit == 125_000)
        #expect(p.bandwidth?.egress?.rate == 2_000_000)
    }

    @Test func noRatesMeansNoShaping() throws {
        #expect(try plan(#"{"bandwidth":{}}"#).bandwidth == nil)
        #expect(try plan(#"{}"#).bandwidth == nil)
    }

    @Test func refusesARateWithoutABurstAndTheOtherWayRound() {
        #expect(message { _ = try plan(#"{"bandwidth":{"ingressRate":1000}}"#) }?.code == 7)
        #expect(message { _ = try plan(#"{"bandwidth":{"egressBurst":1000}}"#) }?.code == 7)
        #expect(message { _ = try plan(#"{"bandwidth":{"egressRate":800000000000,"egressBurst":1000}}"#) }?.code == 7)
    }
}
