import Testing
import Addressing
@testable import NetfilterNetlink
@testable import Firewall

private let pod = PortTarget(mapping: PortMapping(hostPort: 8080, containerPort: 80, proto: .tcp, hostIP: nil),
                             podAddress: IPAddress("10.1.0.5")!, subnet: IPNetwork("10.1.0.0/24")!)

@Suite struct ElementsTests {
    @Test func podLocalCoversTheSubnetAndTheNetworksLeftUnmasqueraded() {
        let entry = PodFirewall.Masquerade(address: IPAddress("10.244.3.5")!, subnet: IPNetwork("10.244.3.0/24")!,
                                           exempt: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!,
                                                    IPNetwork("192.168.0.0/16")!, IPNetwork("192.168.1.0/24")!])
        // The subnet lies inside the cluster network, and 192.168.1.0/24 inside 192.168.0.0/16:
        // the set refuses overlapping ranges, so only the wider ones stay; the IPv6 one is
        // another family's.
        #expect(entry.keepsSource.map(\.description) == ["10.244.0.0/16", "192.168.0.0/16"])
        let elements = Elements.podLocal(entry, comment: "c")
        #expect(elements.count == 2)
        #expect(elements[0].key == [10, 244, 3, 5, 10, 244, 0, 0])
        #expect(elements[0].keyEnd == [10, 244, 3, 5, 10, 244, 255, 255])
        let plain = PodFirewall.Masquerade(address: IPAddress("10.1.0.5")!, subnet: IPNetwork("10.1.0.0/24")!)
        #expect(plain.keepsSource == [IPNetwork("10.1.0.0/24")!])
        let twice = PodFirewall.Masquerade(address: IPAddress("10.1.0.5")!, subnet: IPNetwork("10.1.0.0/24")!,
                                           exempt: [IPNetwork("10.1.0.0/24")!])
        #expect(twice.keepsSource == [IPNetwork("10.1.0.0/24")!])
    }

    @Test func portKeysAndValuesArePaddedTo32BitFields() {
        let element = Elements.portMap(pod, comment: "net ctr eth0")
        #expect(element.key == [6, 0, 0, 0, 0x1f, 0x90, 0, 0])
        #expect(element.value == [10, 1, 0, 5, 0, 80, 0, 0])
        var onAddress = pod
        onAddress.mapping.hostIP = IPAddress("127.0.0.1")
        #expect(Elements.portMap(onAddress, comment: "").key == [127, 0, 0, 1, 6, 0, 0, 0, 0x1f, 0x90, 0, 0])
    }

    @Test func aHostPortConflictsOnTheSameAddressOrOnAny() {
        let any = Elements.portKey(pod.mapping)
        #expect(Elements.conflict(pod, set: "hostports4", key: any))
        #expect(!Elements.conflict(pod, set: "hostports6", key: any), "another family")
        var udp = pod
        udp.mapping.proto = .udp
        #expect(!Elements.conflict(udp, set: "hostports4", key: any), "another protocol")
        var onLoopback = pod
        onLoopback.mapping.hostIP = IPAddress("127.0.0.1")
        let loopbackKey = Elements.portKey(onLoopback.mapping)
        #expect(Elements.conflict(pod,
                                  set: "hostaddrports4", key: loopbackKey), "any address takes the loopback one too")
        #expect(Elements.conflict(onLoopback, set: "hostaddrports4", key: loopbackKey))
        var elsewhere = onLoopback
        elsewhere.mapping.hostIP = IPAddress("192.0.2.1")
        #expect(!Elements.conflict(elsewhere, set: "hostaddrports4", key: loopbackKey), "another address")
    }

    @Test func hairpinCoversThePodSubnetAndIPv4Localhost() {
        let elements = Elements.hairpin([pod, pod], comment: "c")
        #expect(elements.count == 2, "one pair per pod address, not per mapping")
        #expect(elements[0].key == [10, 1, 0, 0, 10, 1, 0, 5] && elements[0].keyEnd == [10, 1, 0, 255, 10, 1, 0, 5])
        #expect(elements[1].key == [127, 0, 0, 0, 10, 1, 0, 5] && elements[1].keyEnd == [127, 255, 255, 255, 10, 1, 0,
                                                                                         5])
    }

    @Test func commentsRoundTripThroughNftsUserdata() {
        let data = NFTables.commentUserdata("net ctr eth0")
        #expect(data.prefix(2) == [0, 13])
        #expect(NFTables.comment(fromUserdata: data) == "net ctr eth0")
        #expect(NFTables.comment(fromUserdata: [1, 2, 9, 9] + data) == "net ctr eth0", "other TLVs first")
        #expect(NFTables.comment(fromUserdata: [0, 40, 1]) == nil, "a length past the end")
    }
}
