import Addressing
import Identity
import Netlink
import NetfilterNetlink

/// `macspoofchk`: frames a pod sends with a source MAC other than its own are dropped on the
/// bridge, as the reference bridge's spoof check drops them. Like the rest of podwire's
/// firewall these are set elements, each commented with its attachment, in one table of
/// fixed rules, `bridge podwire`:
///
///     set ports { type ifname; }                  the host ends under the check
///     set macs { type ifname . ether_addr; }      each with its pod's MAC
///     chain prerouting { type filter hook prerouting priority -300;
///         iifname @ports iifname . ether saddr != @macs drop }
public enum SpoofCheck {
    public static let table = "podwire"
    static let family = NFTables.Family.bridge

    enum SetName {
        static let ports = "ports"
        static let macs = "macs"
        static let all = [ports, macs]
    }

    /// Puts the host end under the check with the pod's MAC, replacing what a killed ADD of
    /// the same attachment left.
    public static func add(_ attachment: Attachment, hostEnd: String,
                           podMAC: MACAddress) throws(NetlinkError) {
        let tables = try NFTables(family: family, table: table)
        let label = attachment.label, port = name(hostEnd)
        let stale = try tables.elements(of: SetName.macs)?.filter { $0.comment == label } ?? []
        func stage(_ tables: NFTables) throws(NetlinkError) {
            tables.deleteElements(SetName.macs, stale)
            tables.addElements(SetName.ports, [NFTables.Element(key: port, comment: label)])
            tables.addElements(SetName.macs, [NFTables.Element(key: macKey(port, podMAC), comment: label)])
        }
        do throws(NetlinkError) {
            try stage(tables)
            try tables.commit()
        } catch where error.isNotFound {
            try declare(tables)
            try stage(tables)
            try tables.commit()
        }
    }

    /// Removes every element of `attachment`. No table: nothing to do.
    public static func remove(_ attachment: Attachment) throws(NetlinkError) {
        let label = attachment.label
        try removeElements { $0 == label }
    }

    /// Removes the elements of `network` whose attachment is not in `valid`.
    public static func collectGarbage(network: String,
                                      keeping valid: Set<Attachment>) throws(NetlinkError) {
        let keep = Set(valid.map(\.label))
        try removeElements { AttachmentLabel.network(of: $0, is: network) && !keep.contains($0) }
    }

    /// For CHECK: whether the host end is under the check with this MAC.
    public static func isInPlace(_ attachment: Attachment, hostEnd: String,
                                 podMAC: MACAddress) throws(NetlinkError) -> Bool {
        let tables = try NFTables(family: family, table: table)
        let label = attachment.label, port = name(hostEnd), key = macKey(port, podMAC)
        let checked = try tables.elements(of: SetName.ports)?.contains { $0.key == port } ?? false
        let mac = try tables.elements(of: SetName.macs)?.contains { $0.key == key && $0.comment == label } ?? false
        return checked && mac
    }

    /// The attachments whose host end is under the check with its MAC.
    public static func labels() throws(NetlinkError) -> Set<String> {
        let tables = try NFTables(family: family, table: table)
        let ports = Set(try tables.elements(of: SetName.ports)?.compactMap(\.comment) ?? [])
        return ports.intersection(try tables.elements(of: SetName.macs)?.compactMap(\.comment) ?? [])
    }

    private static func removeElements(where matches: (String) -> Bool) throws(NetlinkError) {
        let tables = try NFTables(family: family, table: table)
        try tables.removeElements(of: SetName.all, commentedAs: matches)
    }

    /// A `macs` key: the port's name, then the MAC padded to the 8 bytes of its registers.
    static func macKey(_ port: [UInt8], _ mac: MACAddress) -> [UInt8] { port + mac.bytes + [0, 0] }

    /// An interface name as `meta iifname` loads it: NUL-padded to 16 bytes.
    static func name(_ interface: String) -> [UInt8] {
        let bytes = Array(interface.utf8.prefix(15))
        return bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
    }

    private static func declare(_ tables: NFTables) throws(NetlinkError) {
        tables.addTable()
        tables.addSet(SetName.ports, key: .interfaceName)
        tables.addSet(SetName.macs, key: .interfaceName + .etherAddress)
        // Before the bridge's own filtering, at the priority the reference uses.
        tables.addChain("prerouting", type: "filter", hook: .prerouting, priority: .bridgeDestinationNAT)
        tables.flushChain("prerouting")
        tables.addRule("prerouting", Rules.spoofCheck)
    }
}
