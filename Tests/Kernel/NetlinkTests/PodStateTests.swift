#if canImport(Glibc)
import Glibc
#endif
import Addressing
import AttachmentRecord
import Firewall
import IPAM
import Identity
import Namespaces
import NodeAgent
import RouteNetlink
import Testing

/// The daemon puts back a pod's bridge, gateway, port and firewall entries from its record,
/// in a throwaway namespace, and acts on no record that is not a live attachment's own.
@Suite("pod state restored from records", .enabled(if: isRoot, "needs root to make network namespaces"))
struct PodStateTests {
    let namespace: NetworkNamespace
    let socket: RouteSocket
    let pod: NetworkNamespace
    let dataDir: String
    let attachment = Attachment(network: "net1", containerID: "c1", ifname: "eth0")
    let bridgeMAC = MACAddress("02:00:00:00:01:01")!

    init() throws {
        namespace = try NetworkNamespace.throwaway()
        socket = try namespace.routeSocket()
        pod = try NetworkNamespace.throwaway()
        var template = Array("/tmp/podwire-podstate-XXXXXX".utf8CString)
        dataDir = String(cString: mkdtemp(&template)!)
    }

    var record: AttachmentRecord {
        AttachmentRecord(attachment: attachment, bridge: "br0", bridgeMAC: bridgeMAC,
                         gateways: [IPNetwork("10.1.0.1/24")!], hairpin: true,
                         podMAC: MACAddress("02:00:00:00:01:05"),
                         masquerade: [PodFirewall.Masquerade(address: IPAddress("10.1.0.5")!,
                                                             subnet: IPNetwork("10.1.0.0/24")!)])
    }

    @Test func putsBackWhatARecordNames() throws {
        defer { system("rm -rf '\(dataDir)'") }
        try socket.addBridge(named: "br0", mtu: nil, promiscuous: false, vlanFiltering: false)
        let bridge = try #require(try socket.link(named: "br0"))
        try socket.setMAC(link: bridge.index, bridgeMAC)
        try socket.addVeth(VethPair(hostName: attachment.hostVeth, bridgeIndex: bridge.index, peerName: "eth0",
                                    peerNamespace: pod))
        let host = try #require(try socket.link(named: attachment.hostVeth))
        try socket.setAlias(link: host.index, attachment.label)
        let store = try LeaseStore(dataDir: dataDir, network: "net1")
        try store.recordIndex(containerID: "c1", ifname: "eth0", addresses: [IPAddress("10.1.0.5")!],
                              note: record.line)
        // Filed under another attachment's entry, and one of a pod that has no host end.
        try store.recordIndex(containerID: "c2", ifname: "eth0", addresses: [], note: record.line)
        var gone = record
        gone.attachment = Attachment(network: "net1", containerID: "c3", ifname: "eth0")
        try store.recordIndex(containerID: "c3", ifname: "eth0", addresses: [], note: gone.line)

        let state = PodState(socket: socket, dataDir: dataDir, settling: 0)
        try socket.deleteLink(named: "br0")
        let first = try namespace.perform { state.restore() }
        #expect(first.attachments == 1)
        #expect(first.problems == ["record \(LeaseStore.indexName("c2", "eth0")) of network net1 names another "
                                   + "attachment"])
        #expect(first.repairs["bridge"] == ["br0"])
        #expect(first.repairs["bridge address"] == ["10.1.0.1/24 on br0"])
        #expect(first.repairs["bridge port"] == ["\(attachment.hostVeth) on br0"])
        #expect(first.repairs["nftables"] == ["inet podwire \(attachment.label)", "bridge podwire \(attachment.label)"])
        let made = try #require(try socket.link(named: "br0"))
        #expect(made.mac == bridgeMAC && made.isUp)
        #expect(try socket.addresses(link: made.index).contains(IPNetwork("10.1.0.1/24")!))
        #expect(try socket.link(named: attachment.hostVeth)?.masterIndex == made.index)
        let labels = try namespace.perform { try PodFirewall.labels() }
        #expect(labels?["masq4"] == [attachment.label])
        #expect(try namespace.perform { try SpoofCheck.labels() } == [attachment.label])
        #expect(labels?["masq4"]?.contains(gone.attachment.label) == false)

        // Nothing missing: nothing done.
        let second = try namespace.perform { state.restore() }
        #expect(second.repairs.isEmpty, "\(second.repairs)")
    }
}
