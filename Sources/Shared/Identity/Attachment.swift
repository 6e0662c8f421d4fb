/// One attachment of a pod to a network, as CNI identifies it: the network's name, the
/// container ID and the interface name in the pod. Everything podwire names after it on
/// the node is derived here, once, for the plugin, the daemon and the tools alike.
public struct Attachment: Hashable, Sendable {
    public let network: String
    public let containerID: String
    public let ifname: String
    /// The host end of the pod's veth.
    public let hostVeth: String
    /// The ifb device that shapes the pod's egress.
    public let ifb: String

    public init(network: String, containerID: String, ifname: String) {
        self.network = network
        self.containerID = containerID
        self.ifname = ifname
        hostVeth = LinkNames.hostVeth(containerID: containerID, ifname: ifname)
        ifb = LinkNames.ifb(containerID: containerID, ifname: ifname)
    }

    /// The host end's alias and the comment on the attachment's firewall entries.
    public var label: String { AttachmentLabel.make(network: network, containerID: containerID, ifname: ifname) }
}

/// The names of an attachment's links: a function of container ID and ifname alone, so a DEL
/// finds them even after the pod's netns is gone, and never needs to look inside it.
public enum LinkNames {
    // Every `+` here joins two Strings: String + Substring goes through the stdlib's
    // unspecialised generic, whose first call in a process scans every protocol conformance
    // in the binary (about 50k instructions, a tenth of an ADD's own).
    public static func hostVeth(containerID: String, ifname: String) -> String {
        // "pw" and 13 hex digits: the 15 bytes an interface name may have.
        "pw" + String(hash(containerID, ifname).prefix(13))
    }

    /// "pwi" and the first 12 hex digits of its host end's name ("i" is never a hex digit, so
    /// the two cannot be confused).
    public static func ifb(containerID: String, ifname: String) -> String {
        "pwi" + String(hash(containerID, ifname).prefix(12))
    }

    /// The host end an ifb belongs to starts with this.
    public static func hostEndPrefix(ofIFB name: String) -> String? {
        guard name.utf8.count == 15, name.hasPrefix("pwi"), isHex(name.utf8.dropFirst(3)) else { return nil }
        return "pw" + String(name.dropFirst(3))
    }

    /// Whether a link name has the form podwire gives host ends.
    public static func isHostVeth(_ name: String) -> Bool {
        name.utf8.count == 15 && name.hasPrefix("pw") && isHex(name.utf8.dropFirst(2))
    }

    private static func isHex(_ bytes: Substring.UTF8View.SubSequence) -> Bool {
        bytes.allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
        }
    }

    /// FNV-1a of container ID, NUL and ifname.
    private static func hash(_ containerID: String, _ ifname: String) -> String {
        FNV1a.hex(containerID.utf8, ifname.utf8)
    }
}
