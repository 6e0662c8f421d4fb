import Addressing
import AttachmentRecord
import Firewall
import Identity
import Testing

@Suite struct AttachmentRecordTests {
    let attachment = Attachment(network: "net1", containerID: "c1", ifname: "eth0")

    var full: AttachmentRecord {
        let mapping = PortMapping(hostPort: 8080, containerPort: 80, proto: .tcp, hostIP: IPAddress("127.0.0.1"))
        return AttachmentRecord(
            attachment: attachment, bridge: "cni0", bridgeMAC: MACAddress("0a:58:0a:01:00:01"), mtu: 1450,
            gateways: [IPNetwork("10.1.0.1/24")!, IPNetwork("fd00::1/64")!], hairpin: true, isolated: true,
            podMAC: MACAddress("0a:58:0a:01:00:05"),
            masquerade: [PodFirewall.Masquerade(address: IPAddress("10.1.0.5")!, subnet: IPNetwork("10.1.0.0/24")!,
                                                exempt: [IPNetwork("10.0.0.0/8")!])],
            ports: [PortTarget(mapping: mapping, podAddress: IPAddress("10.1.0.5")!,
                               subnet: IPNetwork("10.1.0.0/24")!)])
    }

    @Test func readsBackWhatItWrites() throws {
        #expect(try AttachmentRecord(line: full.line) == full)
        let bare = AttachmentRecord(attachment: attachment, bridge: "cni0")
        #expect(try AttachmentRecord(line: bare.line) == bare)
        #expect(!full.line.contains("\n"))
        #expect(IPAddress(full.line) == nil, "an old reader of the index takes no address from it")
    }

    /// Each claim is checked: what the record names must be what its attachment names, and
    /// every field of its kind.
    @Test(arguments: [
        ("[]", "not a JSON object"),
        (#"{"network":"net1"}"#, "no format version"),
        (#"{"v":2}"#, "format version 2.0, not 1"),
        (#"{"v":1,"network":"net1","containerID":"c1","ifname":"eth0","bridge":"cni0","hostEnd":"pw0"}"#,
         "its host end is not the one its attachment names"),
    ])
    func refuses(line: String, reason: String) throws {
        let error = try #require(throws: AttachmentRecord.Refusal.self) { try AttachmentRecord(line: line) }
        #expect(error.reason == reason)
    }

    @Test(arguments: [
        (#""bridge":"../etc""#, #"bridge name "../etc" is not an interface name"#),
        (#""bridge":"a-name-too-long-for-a-link""#, "is not an interface name"),
        (#""mtu":1e9"#, "mtu must be a whole number in 68...65535"),
        (#""gateways":["10.1.0.1"]"#, #""10.1.0.1" is not a prefix"#),
        (#""hairpin":"yes""#, "hairpin must be true or false"),
        (#""podMAC":"zz""#, #"podMAC "zz" is not a MAC"#),
        (#""masquerade":[{"address":"10.2.0.5","subnet":"10.1.0.0/24"}]"#, "10.2.0.5 is not in 10.1.0.0/24"),
        (#""ports":[{"hostPort":0,"containerPort":80,"protocol":"tcp","podAddress":"10.1.0.5","#
         + #""subnet":"10.1.0.0/24"}]"#, "hostPort must be a whole number"),
        (#""ports":[{"hostPort":80,"containerPort":80,"protocol":"icmp","podAddress":"10.1.0.5","#
         + #""subnet":"10.1.0.0/24"}]"#, "protocol is not tcp"),
    ])
    func refusesAField(field: String, reason: String) throws {
        let bridge = field.hasPrefix(#""bridge""#) ? field : #""bridge":"cni0","# + field
        let line = #"{"v":1,"network":"net1","containerID":"c1","ifname":"eth0","hostEnd":"\#(attachment.hostVeth)","#
            + bridge
        let error = try #require(throws: AttachmentRecord.Refusal.self) { try AttachmentRecord(line: line + "}") }
        #expect(error.reason.contains(reason), "\(error)")
    }
}
