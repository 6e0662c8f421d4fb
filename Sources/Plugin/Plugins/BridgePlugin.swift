import Addressing
import AttachmentRecord
import CNI
import Firewall
import IPAM
import Identity
import Namespaces
import Netlink
import RouteNetlink
import Syscall

/// Bridge mode: each pod gets a veth pair, its host end on a Linux bridge, its pod end in
/// the pod's netns with addresses from IPAM. The reference `bridge` plugin's keys and results.
public struct BridgePlugin: Plugin {
    public init() {}

    public var about: String {
        "podwire \(PodwireVersion.string): Linux bridge CNI plugin with in-process host-local IPAM"
    }

    // MARK: ADD

    public func add(_ call: Call) throws -> CNIResult {
        let plan = try BridgePlan(call: call)
        let namespace = try openNamespace(plan.netnsPath)
        let pod = try step("open a netlink socket in \(plan.netnsPath)") { try namespace.routeSocket() }
        let existing = try step("look up \(plan.containerIfname)") { try pod.link(named: plan.containerIfname) }
        if existing != nil {
            throw CNIError(CNIError.generic, "interface \(plan.containerIfname) already exists in \(plan.netnsPath)")
        }
        let host = NodeSide(socket: try step("open a netlink socket") { try RouteSocket() })
        let bridge = try step("set up bridge \(plan.bridgeName)") { try host.ensureBridge(plan) }

        var rollback = Rollback()
        do {
            // The host end's MAC is podwire's choice, random as the kernel's would be: the pod
            // end's lookup then tells all the result needs of the host end (its index is the
            // pod end's IFLA_LINK), and the host end needs no lookup of its own.
            let random = try step("pick the host end's MAC") { try Syscall.randomBytes(6) }
            let hostMAC = MACAddress.locallyAdministered(randomBytes: random)
            try createVeth(plan, bridge: bridge, namespace: namespace, host: host.socket, hostMAC: hostMAC)
            rollback.add { try host.socket.deleteLink(named: plan.hostVethName) }
            guard let podLink = try pod.link(named: plan.containerIfname),
                  let hostLink = try hostEnd(of: podLink, plan: plan, mac: hostMAC, host: host.socket) else {
                throw CNIError(CNIError.generic, "veth \(plan.hostVethName) vanished right after it was created")
            }
            // The link names its attachment, so that GC of one network never takes another's.
            try step("name \(plan.hostVethName)'s attachment in its alias") {
                try host.socket.setAlias(link: hostLink.index, plan.attachment.label)
            }
            if plan.hairpin {
                try step("set hairpin mode on \(plan.hostVethName)") {
                    try host.socket.setHairpin(port: hostLink.index)
                }
            }
            if plan.macSpoofCheck {
                guard let podMAC = podLink.mac else {
                    throw CNIError(CNIError.generic,
                                   "\(plan.containerIfname) has no MAC address to check frames against")
                }
                rollback.add { try SpoofCheck.remove(plan.attachment) }
                try step("check the source MAC of \(plan.hostVethName)'s frames") {
                    try SpoofCheck.add(plan.attachment, hostEnd: plan.hostVethName, podMAC: podMAC)
                }
            }
            if plan.portIsolation {
                try step("isolate bridge port \(plan.hostVethName)") {
                    try host.socket.setIsolated(port: hostLink.index)
                }
            }
            if plan.filtersVlans {
                try step("put \(plan.hostVethName) on its vlans") {
                    try setVlans(plan, port: hostLink.index, host: host.socket)
                }
            }
            if let limits = plan.bandwidth {
                rollback.add { _ = try host.socket.deleteLink(named: plan.ifbName) }
                try shape(plan, limits, hostLink: hostLink, host: host.socket)
            }

            // Undone after the release (undos run last first): the node's daemon restores the
            // entries of an attachment that still has its index entry, so that goes first.
            if plan.masquerade || !plan.ports.isEmpty { rollback.add { try PodFirewall.remove(plan.attachment) } }
            let addresses = AddressProvider(call: call)
            var result = try addresses.allocate(plan.ipam) { ips in
                Self.record(plan, ips: ips, bridgeMAC: bridge.mac, podMAC: podLink.mac)?.line
            }
            rollback.add { try addresses.release(plan.teardown.ipam.get()) }

            result = assemble(result, plan: plan, bridge: bridge, hostLink: hostLink, podLink: podLink)
            if !plan.disableContainerInterface {
                try step("configure \(plan.containerIfname) in \(plan.netnsPath)") {
                    try PodSide(socket: pod, link: podLink)
                        .configure(result, interfaceIndex: Self.podInterface, detectDuplicates: plan.detectDuplicates)
                }
            }
            if plan.isGateway {
                try step("give bridge \(plan.bridgeName) its gateway address") {
                    try host.ensureGatewayAddresses(on: bridge, for: result.ips, force: plan.forceAddress)
                }
                try host.enableForwarding(for: Set(result.ips.map(\.address.family)))
            }
            if plan.masquerade || !plan.ports.isEmpty { try addFirewallEntries(plan, ips: result.ips) }
            return result
        } catch {
            rollback.run()
            throw error
        }
    }

    /// The reference's order: the bridge's default VLAN off the port (unless kept), the pod's
    /// own VLAN untagged, the trunk tagged, and with a trunk but no VLAN of its own, VLAN 1
    /// as the port's native one.
    private func setVlans(_ plan: BridgePlan, port: Int32, host: RouteSocket) throws {
        if !plan.preserveDefaultVlan { try host.deleteVlan(port: port, vid: 1) }
        if let vid = plan.vlan { try host.addVlan(port: port, vid: vid) }
        guard !plan.vlanTrunk.isEmpty else { return }
        try host.addTrunk(port: port, plan.vlanTrunk)
        if plan.vlan == nil { try host.addVlan(port: port, vid: 1) }
    }

    /// Pod ingress leaves the host end towards the pod, so its bucket sits there; pod egress
    /// arrives on the host end and goes through the pod's ifb, whose bucket shapes it.
    private func shape(_ plan: BridgePlan, _ limits: BandwidthLimits, hostLink: HostEnd, host: RouteSocket) throws {
        if let ingress = limits.ingress {
            try step("limit ingress bandwidth on \(plan.hostVethName)") {
                try host.shape(link: hostLink.index, with: ingress)
            }
        }
        guard let egress = limits.egress else { return }
        try step("create ifb \(plan.ifbName)") { try replaceIFB(plan.ifbName, host: host) }
        guard let ifb = try step("look up \(plan.ifbName)", { try host.link(named: plan.ifbName) }) else {
            throw CNIError(CNIError.generic, "ifb \(plan.ifbName) vanished right after it was created")
        }
        try step("limit egress bandwidth on \(plan.ifbName)") { try host.shape(link: ifb.index, with: egress) }
        try step("redirect \(plan.hostVethName)'s ingress to \(plan.ifbName)") {
            try host.redirectIngress(from: hostLink.index, to: ifb.index)
        }
    }

    private func replaceIFB(_ name: String, host: RouteSocket) throws(NetlinkError) {
        do {
            try host.addIFB(named: name)
        } catch where error.alreadyExists {
            // Left by an ADD of this attachment that was killed midway.
            _ = try host.deleteLink(named: name)
            try host.addIFB(named: name)
        }
    }

    /// What the attachment puts on the node besides its leases, for the node's daemon to put
    /// back (see `AttachmentRecord`). None for a bridge that filters VLANs: the daemon does
    /// not make those.
    static func record(_ plan: BridgePlan, ips: [CNIResult.IPConfig], bridgeMAC: MACAddress?,
                       podMAC: MACAddress?) -> AttachmentRecord? {
        guard !plan.filtersVlans else { return nil }
        let (masquerade, targets) = firewallEntries(plan, ips: ips)
        let gateways = plan.isGateway ? ips.compactMap { ip in
            (ip.gateway ?? ip.address.first.advanced(by: 1)).flatMap {
                IPNetwork(address: $0, prefixLength: ip.address.prefixLength)
            }
        } : []
        return AttachmentRecord(attachment: plan.attachment, bridge: plan.bridgeName, bridgeMAC: bridgeMAC,
                                mtu: plan.mtu, promiscuous: plan.promiscuous, gateways: gateways, hairpin: plan.hairpin,
                                isolated: plan.portIsolation, podMAC: plan.macSpoofCheck ? podMAC : nil,
                                masquerade: masquerade, ports: targets)
    }

    private static func firewallEntries(_ plan: BridgePlan, ips: [CNIResult.IPConfig])
        -> (masquerade: [PodFirewall.Masquerade], ports: [PortTarget]) {
        let masquerade = plan.masquerade
            ? ips.map {
                PodFirewall.Masquerade(address: $0.address.address, subnet: $0.address.network,
                                       exempt: plan.noMasqueradeDestinations)
            } : []
        return (masquerade, PortMappingsConfig.targets(plan.ports, for: ips))
    }

    private func addFirewallEntries(_ plan: BridgePlan, ips: [CNIResult.IPConfig]) throws {
        let (masquerade, targets) = Self.firewallEntries(plan, ips: ips)
        if targets.contains(where: { $0.podAddress.family == .v4 }) {
            try NodeSide.routeLocalnet(on: plan.bridgeName)
        }
        do {
            try PodFirewall.add(plan.attachment, masquerade: masquerade, ports: targets)
        } catch {
            throw error.cniError("add \(plan.containerIfname)'s entries to nftables table \(PodFirewall.table)")
        }
    }

    /// What an ADD needs of the host end: its index, and its name and MAC for the result.
    struct HostEnd {
        var index: Int32
        var name: String
        var mac: MACAddress?
    }

    /// The host end as it was made: the pod end names its index (IFLA_LINK) and podwire chose
    /// its MAC, so it is looked up only when either is missing.
    private func hostEnd(of podLink: Link, plan: BridgePlan, mac: MACAddress?, host: RouteSocket) throws -> HostEnd? {
        guard podLink.peerIndex > 0, let mac else {
            return try host.link(named: plan.hostVethName).map { HostEnd(index: $0.index, name: $0.name, mac: $0.mac) }
        }
        return HostEnd(index: podLink.peerIndex, name: plan.hostVethName, mac: mac)
    }

    /// The pod's interface in the result, after the bridge and the host end.
    static let podInterface = 2

    private func createVeth(_ plan: BridgePlan, bridge: Link, namespace: NetworkNamespace, host: RouteSocket,
                            hostMAC: MACAddress?) throws {
        let pair = VethPair(hostName: plan.hostVethName, bridgeIndex: bridge.index, peerName: plan.containerIfname,
                            peerNamespace: namespace, mtu: plan.mtu, hostMAC: hostMAC, peerMAC: plan.mac)
        do {
            try host.addVeth(pair)
        } catch let error where error.alreadyExists {
            // The pod has no such interface (checked above), so a host end of this name is
            // left from an ADD of the same attachment that was killed midway: replace it.
            try step("remove stale \(plan.hostVethName)") { try host.deleteLink(named: plan.hostVethName) }
            try step("create veth \(plan.hostVethName)") { try host.addVeth(pair) }
        } catch {
            throw CNIError.failed("create veth \(plan.hostVethName) for \(plan.containerIfname)", error)
        }
    }

    /// The reference bridge's result: interfaces [bridge, host veth, pod interface], the
    /// IPs bound to the pod interface, gateways filled in and a default route when asked.
    private func assemble(_ ipam: CNIResult, plan: BridgePlan, bridge: Link, hostLink: HostEnd,
                          podLink: Link) -> CNIResult {
        var result = ipam
        result.interfaces = [
            CNIResult.Interface(name: bridge.name, mac: bridge.mac?.description),
            CNIResult.Interface(name: hostLink.name, mac: hostLink.mac?.description),
            CNIResult.Interface(name: podLink.name, mac: podLink.mac?.description, sandbox: plan.netnsPath),
        ]
        var defaultRouteFamilies = Set(result.routes.filter { $0.dst.prefixLength == 0 }.map(\.dst.family))
        for index in result.ips.indices {
            result.ips[index].interface = Self.podInterface
            let address = result.ips[index].address
            if result.ips[index].gateway == nil, plan.isGateway {
                result.ips[index].gateway = address.first.advanced(by: 1)
            }
            if plan.isDefaultGateway, let gateway = result.ips[index].gateway,
               !defaultRouteFamilies.contains(address.family) {
                let anywhere = IPNetwork(address: address.family == .v4 ? .v4(0) : .v6(0), prefixLength: 0)!
                result.routes.append(CNIResult.Route(dst: anywhere, gw: gateway))
                defaultRouteFamilies.insert(address.family)
            }
        }
        if let dns = plan.dns { result.dns = dns }
        return result
    }

    // MARK: DEL

    /// Removes the firewall entries, releases the addresses and deletes the host end (which
    /// takes the pod end with it). Everything already gone is fine; the pod's netns is never
    /// needed, and of the config only what finds the attachment is read.
    public func del(_ call: Call) throws {
        let plan = try Teardown(call: call)
        // The veth's teardown is nearly all of a DEL: the kernel waits out RCU grace periods
        // before the request returns. This thread starts it at once; a second one removes
        // the lease and then removes the firewall entries meanwhile, well within that wait.
        // In that order: the node's daemon puts back the entries of an attachment whose
        // index entry it finds, under the store's lock. An address released first may go
        // to a new pod before the old pod's entries go; the new pod's ADD replaces those
        // keyed by the address. Every part runs even when another fails; the first failure
        // is the one reported.
        var release: Result<Void, any Error> = .success(())
        var firewall: Result<Void, any Error> = .success(())
        let meanwhile = try step("start a thread") {
            try JoinableThread {
                release = Result { try AddressProvider(call: call).release(plan.ipam.get()) }
                // Whatever the config says now, entries an earlier config made go with the pod.
                firewall = Result {
                    try step("remove \(plan.containerIfname)'s entries from nftables table \(PodFirewall.table)") {
                        try PodFirewall.remove(plan.attachment)
                        try SpoofCheck.remove(plan.attachment)
                    }
                }
            }
        }
        let links = Result {
            let host = try step("open a netlink socket") { try RouteSocket() }
            try step("delete \(plan.hostVethName)") { try host.deleteLinks(named: [plan.hostVethName, plan.ifbName]) }
        }
        meanwhile.join()
        try release.get()
        try links.get()
        try firewall.get()
    }

    // MARK: CHECK

    public func check(_ call: Call) throws {
        let plan = try BridgePlan(call: call)
        guard let previous = plan.prevResult else {
            throw CNIError.config("CHECK needs prevResult and the config has none")
        }
        try AddressProvider(call: call).check(plan.ipam)
        try step("check") { try Checker(plan: plan, expected: previous).run() }
        try checkShaping(plan)
        try checkFirewallEntries(plan, ips: previous.ips)
        if plan.macSpoofCheck { try checkSpoofCheck(plan, previous: previous) }
    }

    private func checkSpoofCheck(_ plan: BridgePlan, previous: CNIResult) throws {
        let podInterface = previous.interfaces.first { $0.name == plan.containerIfname && !($0.sandbox ?? "").isEmpty }
        guard let text = podInterface?.mac, let mac = MACAddress(text) else {
            throw CNIError(CNIError.generic, "prevResult has no MAC of \(plan.containerIfname) to check frames against")
        }
        let inPlace = try step("read nftables table bridge \(SpoofCheck.table)") {
            try SpoofCheck.isInPlace(plan.attachment, hostEnd: plan.hostVethName, podMAC: mac)
        }
        if !inPlace {
            throw CNIError(CNIError.generic, "\(plan.hostVethName) is not under the MAC spoof check for \(mac)")
        }
    }

    private func checkShaping(_ plan: BridgePlan) throws {
        guard let limits = plan.bandwidth else { return }
        let host = try step("open a netlink socket") { try RouteSocket() }
        var shaped: [(what: String, link: String)] = []
        if limits.ingress != nil { shaped.append(("ingress", plan.hostVethName)) }
        if limits.egress != nil { shaped.append(("egress", plan.ifbName)) }
        for (what, name) in shaped {
            let link = try step("look up \(name)") { try host.link(named: name) }
            let kind = try link.map { link in
                try step("read qdiscs of \(name)") { try host.rootQdiscKind(link: link.index) }
            }
            guard kind == "tbf" else {
                let why = link == nil ? "does not exist" : "has no tbf qdisc"
                throw CNIError(CNIError.generic, "\(what) bandwidth is not limited: \(name) \(why)")
            }
        }
    }

    private func checkFirewallEntries(_ plan: BridgePlan, ips: [CNIResult.IPConfig]) throws {
        let families = plan.masquerade ? Set(ips.map(\.address.family)) : []
        let missing = try step("read nftables table \(PodFirewall.table)") {
            try PodFirewall.missingEntry(plan.attachment, masquerade: families,
                                         ports: PortMappingsConfig.targets(plan.ports, for: ips))
        }
        if let missing {
            throw CNIError(CNIError.generic, "\(plan.containerIfname) has no entry in nftables set \(missing) "
                           + "of table \(PodFirewall.table)")
        }
    }

    // MARK: STATUS and GC

    public func status(_ call: Call) throws {
        let plan = try BridgePlan(call: call)
        try AddressProvider(call: call).status(plan.ipam)
    }

    /// Releases leases and removes podwire's host veths on this network's bridge that belong
    /// to no valid attachment: what a killed ADD or a lost DEL left. A host end names its
    /// attachment in its alias, so another network's pods on the same bridge are never
    /// touched. Keeps going past a link that cannot be removed, as the specification asks.
    public func gc(_ call: Call) throws {
        let plan = try Teardown(call: call)
        let valid = try ValidAttachments(call).list
        let release = Result { try AddressProvider(call: call).collectGarbage(plan.ipam.get(), keeping: valid) }
        try collectFirewallGarbage(network: plan.network, keeping: valid)
        if let bridgeName = plan.bridgeName { try collectLinks(on: bridgeName, network: plan.network, keeping: valid) }
        try release.get()
    }

    private func collectLinks(on bridgeName: String, network: String, keeping valid: [Attachment]) throws {
        let keep = Set(valid.map(\.label))
        let host = try step("open a netlink socket") { try RouteSocket() }
        let links = try step("list links") { try host.links() }
        let bridge = links.first { $0.name == bridgeName }
        let stale = Set(links.filter { link in
            guard let bridge, link.masterIndex == bridge.index, LinkNames.isHostVeth(link.name),
                  let alias = link.alias, AttachmentLabel.network(of: alias, is: network) else { return false }
            return !keep.contains(alias)
        }.map(\.name))
        // An ifb whose host end is gone shapes nothing: its pod was deleted or collected.
        let hostEnds = links.map(\.name).filter { LinkNames.isHostVeth($0) && !stale.contains($0) }
        let orphanIFBs = links.map(\.name).filter { name in
            guard let prefix = LinkNames.hostEndPrefix(ofIFB: name) else { return false }
            return !hostEnds.contains { $0.hasPrefix(prefix) }
        }
        // One batch; should the batch fail, one at a time, past any link that cannot go.
        let departing = stale.sorted() + orphanIFBs
        if (try? host.deleteLinks(named: departing)) == nil {
            for name in departing { _ = try? host.deleteLink(named: name) }
        }
    }

    // MARK: -

    private func openNamespace(_ path: String) throws -> NetworkNamespace {
        do {
            return try NetworkNamespace(path: path)
        } catch .missing {
            throw CNIError(CNIError.unknownContainer, "CNI_NETNS \(path) does not exist")
        } catch .notANetworkNamespace {
            throw CNIError.environment("CNI_NETNS \(path) is not a network namespace")
        } catch {
            throw CNIError.environment("cannot open CNI_NETNS \(path): \(error)")
        }
    }
}

/// Runs one step of a call and names what was being done when it fails: the error that
/// reaches the runtime says which step, not only what the kernel or the file system said.
@discardableResult
func step<T>(_ what: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as CNIError {
        throw error
    } catch {
        throw CNIError.failed(what(), error)
    }
}
