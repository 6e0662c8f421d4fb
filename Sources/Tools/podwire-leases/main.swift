import ArgumentParser
import CNI
import IPAM
import Identity
import Syscall
#if canImport(Glibc)
import Glibc
#endif

@main
struct PodwireLeases: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "podwire-leases",
        abstract: "What podwire keeps on a node for its pods: leases, and the names of an attachment's links.",
        version: "podwire-leases \(PodwireVersion.string)",
        subcommands: [List.self, AttachmentNames.self], defaultSubcommand: List.self)
}

/// The names podwire gives an attachment on the node, as the plugin derives them: for an
/// operator looking for a pod's links, and for the tests, which ask rather than recompute.
struct AttachmentNames: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "names",
        abstract: "Print an attachment's host veth, ifb and label, one per line.")

    @Argument(help: "The network name, as in the conflist's \"name\".") var network: String
    @Argument(help: "The container ID (CNI_CONTAINERID).") var containerID: String
    @Argument(help: "The interface name in the pod (CNI_IFNAME).") var ifname: String

    func run() {
        let attachment = Attachment(network: network, containerID: containerID, ifname: ifname)
        print(attachment.hostVeth)
        print(attachment.ifb)
        print(attachment.label)
    }
}

/// What an operator asks of a node: which addresses are leased on a network, to whom, and
/// whether the pod's host veth still exists (a lease without one is a leak to look at).
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the host-local leases of a network: IP, container ID, ifname, host veth.")

    @Argument(help: "The network name, as in the conflist's \"name\".")
    var network: String

    @Option(help: "The IPAM data directory.")
    var dataDir = HostLocalConfig.defaultDataDir

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    struct Row {
        var ip: String
        var containerID: String
        var ifname: String
        var hostVeth: String
        var hostVethExists: Bool
    }

    func run() throws {
        guard Names.isSafeIdentifier(network, maxLength: 255) else {
            throw ValidationError("\"\(network)\" is not a valid network name")
        }
        let store = try LeaseStore(dataDir: dataDir, network: network, create: false)
        let rows = try store.locked { try store.leases() }.sorted { $0.address < $1.address }.map { lease in
            let containerID = lease.owner?.containerID ?? ""
            let ifname = lease.owner?.ifname ?? ""
            let veth = containerID.isEmpty ? "" : LinkNames.hostVeth(containerID: containerID, ifname: ifname)
            return Row(ip: lease.address.description, containerID: containerID, ifname: ifname,
                       hostVeth: veth, hostVethExists: !veth.isEmpty && Syscall.access("/sys/class/net/" + veth, F_OK))
        }
        if json {
            let list = JSONValue.array(rows.map { row in
                .object(["ip": .string(row.ip), "containerID": .string(row.containerID), "ifname": .string(row.ifname),
                         "hostVeth": .string(row.hostVeth), "hostVethExists": .bool(row.hostVethExists)])
            })
            print(String(decoding: JSONWriter.write(list), as: UTF8.self))
            return
        }
        let header = Row(ip: "IP", containerID: "CONTAINER", ifname: "IFNAME", hostVeth: "HOST VETH",
                         hostVethExists: true)
        let widths = (rows + [header]).reduce(into: (0, 0, 0)) { w, row in
            w = (max(w.0, row.ip.count), max(w.1, min(row.containerID.count, 64)), max(w.2, row.ifname.count))
        }
        func pad(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        print("\(pad("IP", widths.0))  \(pad("CONTAINER", widths.1))  \(pad("IFNAME", widths.2))  HOST VETH")
        for row in rows {
            let state = row.hostVeth.isEmpty ? "-" : row.hostVeth + (row.hostVethExists ? "" : " (missing)")
            let container = pad(String(row.containerID.prefix(64)), widths.1)
            print("\(pad(row.ip, widths.0))  \(container)  \(pad(row.ifname, widths.2))  \(state)")
        }
        print("\(rows.count) leases")
    }
}
