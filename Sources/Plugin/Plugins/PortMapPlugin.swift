import Addressing
import CNI
import Firewall
import Identity

/// `podwire-portmap`: the `portMappings` capability as a chained plugin, after podwire or
/// after the reference `bridge` or `ptp`. It reads the pod's addresses from `prevResult`
/// and passes that result on unchanged; the mappings live in podwire's nftables table.
public struct PortMapPlugin: Plugin {
    public init() {}

    public var about: String {
        "podwire-portmap \(PodwireVersion.string): host port mappings in nftables, chained after a main plugin"
    }

    /// What ADD and CHECK act on; DEL reads only the attachment, which the plan contains.
    struct Plan {
        var attachment: Attachment
        var previous: CNIResult?
        var targets: [PortTarget]
        var snat: Bool
        /// The node-side interface of the result, where localhost reaches IPv4 host ports (the
        /// bridge or, after ptp, the host veth); nil when no such port is mapped.
        var hostInterface: String?

        init(_ call: Call) throws(CNIError) {
            let config = call.document
            attachment = try call.attachment()
            previous = try config.prevResult()
            // The reference's key: masquerade hairpin and localhost clients.
            snat = try config.bool("snat") ?? true
            let mappings = try PortMappingsConfig.mappings(config.object("runtimeConfig")?.list("portMappings"))
            targets = PortMappingsConfig.targets(mappings, for: previous?.ips ?? [])
            guard snat, targets.contains(where: { $0.podAddress.family == .v4 }) else { return }
            hostInterface = previous?.interfaces.first(where: { ($0.sandbox ?? "").isEmpty })?.name
            // The name becomes part of a sysctl path: "all" would open every interface of the node.
            if let name = hostInterface, let problem = Names.sysctlInterfaceProblem(name) {
                throw CNIError.config("prevResult's host interface \"\(name.prefix(32))\" \(problem)")
            }
        }

        func requirePrevious() throws(CNIError) -> CNIResult {
            guard let previous else {
                throw CNIError.config("podwire-portmap must be chained after a plugin that gives the pod addresses: "
                                      + "the config has no prevResult")
            }
            return previous
        }
    }

    public func add(_ call: Call) throws -> CNIResult {
        let plan = try Plan(call)
        let previous = try plan.requirePrevious()
        guard !plan.targets.isEmpty else { return previous }
        // The reference lets localhost reach host ports through the node-side interface.
        if let hostInterface = plan.hostInterface { try NodeSide.routeLocalnet(on: hostInterface) }
        do {
            try PodFirewall.add(plan.attachment, ports: plan.targets, hairpin: plan.snat)
        } catch {
            throw error.cniError("add port mappings to nftables table \(PodFirewall.table)")
        }
        return previous
    }

    /// DEL removes the pod's entries by its attachment alone, whatever else the config says.
    public func del(_ call: Call) throws {
        let attachment = try call.attachment()
        try step("remove port mappings from nftables table \(PodFirewall.table)") { try PodFirewall.remove(attachment) }
    }

    public func check(_ call: Call) throws {
        let plan = try Plan(call)
        _ = try plan.requirePrevious()
        let missing = try step("read nftables table \(PodFirewall.table)") {
            try PodFirewall.missingEntry(plan.attachment, masquerade: [], ports: plan.targets)
        }
        if let missing {
            throw CNIError(CNIError.generic,
                           "a host port of \(plan.attachment.containerID) is missing from nftables set \(missing)")
        }
    }

    public func status(_ call: Call) throws {}

    public func gc(_ call: Call) throws {
        try collectFirewallGarbage(network: call.header.validatedNetworkName(), keeping: ValidAttachments(call).list)
    }
}

/// GC of podwire's nftables table for one network, shared by podwire and podwire-portmap.
func collectFirewallGarbage(network: String, keeping valid: [Attachment]) throws {
    let keep = Set(valid)
    try step("remove stale entries from nftables table \(PodFirewall.table)") {
        try PodFirewall.collectGarbage(network: network, keeping: keep)
    }
    try step("remove stale entries from nftables table bridge \(SpoofCheck.table)") {
        try SpoofCheck.collectGarbage(network: network, keeping: keep)
    }
}
