#if canImport(Glibc)
import Glibc
#endif
import Addressing
import AttachmentRecord
import Firewall
import IPAM
import Identity
import Namespaces
import Netlink
import RouteNetlink
import Syscall

/// What the node's pods need outside their netns, put back from their attachments' records
/// (see `AttachmentRecord`) when something else removed it: the bridge with its MAC and
/// gateway addresses, each pod's host end as a port of it with the port's settings,
/// forwarding and `route_localnet`, the firewall entries in `inet podwire` and the spoof check.
///
/// A record is acted on only when it is filed under its own attachment's index entry and
/// that attachment's host end exists with its label: a record left by a pod that is gone,
/// or one written by hand, restores nothing. Each network is restored under its store's
/// lock, which a DEL takes to drop the entry before it removes the firewall entries: an
/// entry this finds is never of a pod whose entries were removed already. A record written
/// in the last `settling` seconds is left to its ADD, which may not have made all of it yet.
public struct PodState: @unchecked Sendable {
    // Used by one pass at a time, on its loop's single pool thread: the socket is never shared.
    let socket: RouteSocket
    /// Where host-local keeps the leases and podwire's index (`ipam.dataDir`).
    let dataDir: String

    let settling: Int
    /// Whether a record's gateway may go back on its bridge: a cluster node's daemon refuses
    /// one of a subnet the node no longer holds (see `BridgeGateways`).
    let allows: @Sendable (IPNetwork) -> Bool

    public init(socket: RouteSocket, dataDir: String, settling: Int = 2,
                allows: @escaping @Sendable (IPNetwork) -> Bool = { _ in true }) {
        self.socket = socket
        self.dataDir = dataDir
        self.settling = settling
        self.allows = allows
    }

    /// What a restore did and could not do.
    public struct Outcome: Equatable, Sendable {
        /// By kind ("bridge", "bridge address", "bridge port", "sysctl", "nftables"), each named.
        public var repairs: [String: [String]] = [:]
        /// Records refused and steps that failed, in words.
        public var problems: [String] = []
        /// Attachments whose records were acted on.
        public var attachments = 0
    }

    public func restore() -> Outcome {
        var outcome = Outcome()
        let networks: [String]
        do {
            let directory = try Syscall.open(dataDir, O_RDONLY | O_DIRECTORY)
            defer { Syscall.close(directory) }
            networks = try Syscall.listDirectory(directory, subject: dataDir).filter { !$0.hasPrefix(".") }.sorted()
        } catch where error.errno == ENOENT {
            return outcome
        } catch {
            outcome.problems.append("list \(dataDir): \(error)")
            return outcome
        }
        let links: [Link]
        do { links = try socket.links() } catch {
            outcome.problems.append("list links: \(error)")
            return outcome
        }
        for network in networks {
            let index = (dataDir.hasSuffix("/") ? dataDir : dataDir + "/") + LeaseStore.indexDirectoryName(network)
            guard Syscall.access(index, F_OK) else { continue }
            do {
                let store = try LeaseStore(dataDir: dataDir, network: network, create: false)
                try store.locked {
                    let settled = time(nil) - settling
                    let notes = store.indexNotes().filter { $0.value.written <= settled }.mapValues(\.note)
                    let records = Self.records(notes, network: network, links: links, problems: &outcome.problems)
                    outcome.attachments += records.count
                    restore(records, links: links, into: &outcome)
                }
            } catch {
                outcome.problems.append("network \(network): \(error)")
            }
        }
        return outcome
    }

    /// The notes that are sound records of live attachments of `network`.
    static func records(_ notes: [String: String], network: String, links: [Link],
                        problems: inout [String]) -> [AttachmentRecord] {
        var records: [AttachmentRecord] = []
        for (name, note) in notes.sorted(by: { $0.key < $1.key }) {
            let record: AttachmentRecord
            do { record = try AttachmentRecord(line: note) } catch {
                problems.append("record \(name) of network \(network): \(error)")
                continue
            }
            let attachment = record.attachment
            guard attachment.network == network,
                  LeaseStore.indexName(attachment.containerID, attachment.ifname) == name else {
                problems.append("record \(name) of network \(network) names another attachment")
                continue
            }
            // The pod is gone (or going): nothing of it is put back.
            guard links.contains(where: { $0.name == attachment.hostVeth && $0.alias == attachment.label }) else {
                continue
            }
            records.append(record)
        }
        return records
    }

    private func restore(_ records: [AttachmentRecord], links: [Link], into outcome: inout Outcome) {
        for (name, group) in Dictionary(grouping: records, by: \.bridge).sorted(by: { $0.key < $1.key }) {
            do {
                try restoreBridge(name, group, links: links, into: &outcome)
            } catch {
                outcome.problems.append("bridge \(name): \(error)")
            }
        }
        restoreFirewall(records, into: &outcome)
    }

    private func restoreBridge(_ name: String, _ records: [AttachmentRecord], links: [Link],
                               into outcome: inout Outcome) throws {
        let first = records[0]
        var bridge: Link
        if let existing = try links.first(where: { $0.name == name }) ?? socket.link(named: name) {
            guard existing.kind == "bridge" else { throw Problem("\(name) is not a bridge") }
            bridge = existing
            if !bridge.isUp {
                Self.skipDuplicateDetection(name)
                try socket.setUp(link: bridge.index)
                outcome.repairs["bridge", default: []].append("\(name) up")
            }
        } else {
            // Made with its pinned MAC, so that its link-local address is the one the pods knew.
            try ignoringExisting { () throws(NetlinkError) in
                try socket.addBridge(named: name, mtu: first.mtu, promiscuous: first.promiscuous, vlanFiltering: false,
                                     mac: records.lazy.compactMap(\.bridgeMAC).first, up: false)
            }
            guard let made = try socket.link(named: name) else { throw Problem("\(name) vanished") }
            bridge = made
            Self.skipDuplicateDetection(name)
            try socket.setUp(link: made.index)
            outcome.repairs["bridge", default: []].append(name)
        }
        let present = Set(try socket.addresses(link: bridge.index))
        let gateways = Set(records.flatMap(\.gateways).filter(allows))
        for gateway in gateways.subtracting(present).sorted(by: { "\($0)" < "\($1)" }) {
            if try ignoringExisting({ () throws(NetlinkError) in try socket.addAddress(gateway, link: bridge.index) }) {
                outcome.repairs["bridge address", default: []].append("\(gateway) on \(name)")
            }
        }
        for family in Set(gateways.map(\.family)) {
            let path = Sysctl.forwarding(ipv6: family == .v6)
            if try Sysctl.ensure(path, is: "1") { outcome.repairs["sysctl", default: []].append(path) }
        }
        if records.contains(where: \.needsRouteLocalnet) {
            let path = "/proc/sys/net/ipv4/conf/\(name)/route_localnet"
            if try Sysctl.ensure(path, is: "1") { outcome.repairs["sysctl", default: []].append(path) }
        }
        for record in records {
            guard let port = links.first(where: { $0.name == record.attachment.hostVeth }),
                  port.masterIndex != bridge.index else { continue }
            do {
                try socket.setMaster(link: port.index, bridge.index)
                if record.hairpin { try socket.setHairpin(port: port.index) }
                if record.isolated { try socket.setIsolated(port: port.index) }
                outcome.repairs["bridge port", default: []].append("\(port.name) on \(name)")
            } catch {
                outcome.problems.append("attach \(port.name) to \(name): \(error)")
            }
        }
    }

    /// Before a bridge comes up: its link-local address is then usable at once. Until that
    /// address is past duplicate detection (a second or two) the kernel sends no neighbour
    /// solicitation for a forwarded packet, and the pods' IPv6 from other nodes waits. The
    /// address derives from the bridge's own MAC, which podwire chose. (No IPv6: no file.)
    private static func skipDuplicateDetection(_ bridge: String) {
        _ = try? Sysctl.ensure("/proc/sys/net/ipv6/conf/\(bridge)/accept_dad", is: "0")
    }

    /// Runs `make`; something made meanwhile (by a concurrent ADD) is no error. True when it made it.
    @discardableResult
    private func ignoringExisting(_ make: () throws(NetlinkError) -> Void) throws(NetlinkError) -> Bool {
        do {
            try make()
            return true
        } catch where error.alreadyExists {
            return false
        }
    }

    struct Problem: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private func restoreFirewall(_ records: [AttachmentRecord], into outcome: inout Outcome) {
        let firewalled = records.filter(\.hasFirewallEntries)
        if !firewalled.isEmpty {
            do {
                let labels = try PodFirewall.labels() ?? [:]
                for record in firewalled where !PodFirewall.isComplete(record.attachment, masquerade: record.masquerade,
                                                                       ports: record.ports, in: labels) {
                    do {
                        try PodFirewall.add(record.attachment, masquerade: record.masquerade, ports: record.ports)
                        outcome.repairs["nftables", default: []].append("inet \(PodFirewall.table) "
                                                                        + record.attachment.label)
                    } catch {
                        outcome.problems.append("put back \(record.attachment.label)'s firewall entries: \(error)")
                    }
                }
            } catch {
                outcome.problems.append("read nftables table inet \(PodFirewall.table): \(error)")
            }
        }
        let checked = records.filter { $0.podMAC != nil }
        guard !checked.isEmpty else { return }
        do {
            let labels = try SpoofCheck.labels()
            for record in checked where !labels.contains(record.attachment.label) {
                do {
                    try SpoofCheck.add(record.attachment, hostEnd: record.attachment.hostVeth, podMAC: record.podMAC!)
                    outcome.repairs["nftables", default: []].append("bridge \(SpoofCheck.table) "
                                                                    + record.attachment.label)
                } catch {
                    outcome.problems.append("put back \(record.attachment.label)'s spoof check: \(error)")
                }
            }
        } catch {
            outcome.problems.append("read nftables table bridge \(SpoofCheck.table): \(error)")
        }
    }
}
