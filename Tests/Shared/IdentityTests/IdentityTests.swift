import Addressing
import Identity
import Testing

@Suite struct AttachmentLabelTests {
    @Test func aLabelThatFitsIsTheAttachmentSpelledOut() {
        #expect(AttachmentLabel.make(network: "net", containerID: "ctr", ifname: "eth0") == "net ctr eth0")
        #expect(AttachmentLabel.network(of: "net ctr eth0", is: "net"))
        #expect(!AttachmentLabel.network(of: "net ctr eth0", is: "ne"))
        #expect(!AttachmentLabel.network(of: "network ctr eth0", is: "net"))
    }

    @Test func longFieldsBecomeDigestsWithinTheKernelsLimit() {
        let id = String(repeating: "c", count: 1024), network = String(repeating: "n", count: 255)
        let shortNetwork = AttachmentLabel.make(network: "net", containerID: id, ifname: "eth0")
        #expect(shortNetwork.utf8.count <= AttachmentLabel.limit)
        #expect(shortNetwork.hasPrefix("net #"))
        #expect(AttachmentLabel.network(of: shortNetwork, is: "net"))
        let long = AttachmentLabel.make(network: network, containerID: id, ifname: "eth0")
        #expect(long.utf8.count <= AttachmentLabel.limit)
        #expect(AttachmentLabel.network(of: long, is: network))
        #expect(!AttachmentLabel.network(of: long, is: network + "x"))
        // Distinct attachments keep distinct labels.
        #expect(long != AttachmentLabel.make(network: network, containerID: id + "d", ifname: "eth0"))
        #expect(long != AttachmentLabel.make(network: network, containerID: id, ifname: "eth1"))
    }

    @Test func theDigestIsFNV1a() {
        // FNV-1a 64 of "abc", as published with the algorithm.
        #expect(FNV1a.hex("abc".utf8) == "e71fa2190541574b")
    }
}

@Suite struct InterfaceNameTests {
    @Test func theIFBNameFollowsTheHostEndName() {
        let veth = LinkNames.hostVeth(containerID: "abc", ifname: "eth0")
        let ifb = LinkNames.ifb(containerID: "abc", ifname: "eth0")
        #expect(ifb.count == 15 && ifb.hasPrefix("pwi"))
        #expect(veth.hasPrefix(LinkNames.hostEndPrefix(ofIFB: ifb)!))
        #expect(!LinkNames.isHostVeth(ifb))
        #expect(LinkNames.hostEndPrefix(ofIFB: veth) == nil)
    }
}

@Suite struct AttachmentTests {
    @Test func namesComeFromContainerAndIfnameAndTheLabelFromAllThree() {
        let a = Attachment(network: "net", containerID: "ctr1", ifname: "eth0")
        #expect(a.hostVeth == LinkNames.hostVeth(containerID: "ctr1", ifname: "eth0"))
        #expect(a.hostVeth == Attachment(network: "other", containerID: "ctr1", ifname: "eth0").hostVeth)
        #expect(a.hostVeth != Attachment(network: "net", containerID: "ctr1", ifname: "eth1").hostVeth)
        #expect(a.hostVeth.utf8.count == 15 && LinkNames.isHostVeth(a.hostVeth))
        #expect(a.label == "net ctr1 eth0")
    }

    /// The host end's name is on every node with pods: it may never change.
    @Test func theHostEndNameIsStable() {
        #expect(LinkNames.hostVeth(containerID: "abc", ifname: "eth0") == "pw540c4ae81be81")
        #expect(LinkNames.ifb(containerID: "abc", ifname: "eth0") == "pwi540c4ae81be8")
    }

    /// Peers hold a node's VTEP MAC in their neighbour entries: it may never change either.
    @Test func theVTEPMACIsStableAndLocallyAdministered() {
        let mac = VTEP.mac(node: "node1")
        #expect(mac.description == "16:2f:23:07:72:ba")
        #expect(mac != VTEP.mac(node: "node2"))
        #expect(mac.bytes[0] & 0x03 == 0x02)
    }
}
