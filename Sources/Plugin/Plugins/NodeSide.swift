#if canImport(Glibc)
import Glibc
#endif
import Addressing
import CNI
import Namespaces
import Netlink
import RouteNetlink

/// The node's side of bridge mode: the bridge itself, its gateway addresses, forwarding.
struct NodeSide {
    let socket: RouteSocket

    /// Finds or creates the bridge, up, with the flags the plan asks for. Concurrent ADDs
    /// may race to create it; the loser finds the winner's bridge.
    func ensureBridge(_ plan: BridgePlan) throws -> Link {
        do {
            return try findOrCreateBridge(plan)
        } catch let error as NetlinkError where plan.filtersVlans && error.isUnsupported {
            throw CNIError(CNIError.generic, "bridge \(plan.bridgeName) cannot filter VLANs: "
                           + "this kernel lacks CONFIG_BRIDGE_VLAN_FILTERING (\(error))")
        }
    }

    private func findOrCreateBridge(_ plan: BridgePlan) throws -> Link {
        if let existing = try socket.link(named: plan.bridgeName) {
            guard existing.kind == "bridge" else {
                throw CNIError.config("\"\(plan.bridgeName)\" already exists but is not a bridge")
            }
            if !existing.isUp || (plan.promiscuous && !existing.isPromiscuous) {
                let flags: LinkFlags = plan.promiscuous ? [.up, .promiscuous] : .up
                try socket.setFlags(link: existing.index, flags, mask: flags)
            }
            if plan.filtersVlans { try socket.enableVlanFiltering(bridge: existing.index) }
            return existing
        }
        var createdHere = true
        do {
            try socket.addBridge(named: plan.bridgeName, mtu: plan.mtu, promiscuous: plan.promiscuous,
                                 vlanFiltering: plan.filtersVlans)
        } catch {
            // Another ADD may have created it first; then read the winner's bridge.
            guard error.alreadyExists else { throw error }
            createdHere = false
        }
        guard let created = try socket.link(named: plan.bridgeName) else {
            throw CNIError(CNIError.generic, "bridge \(plan.bridgeName) vanished right after it was created")
        }
        if createdHere, let mac = created.mac { try socket.setMAC(link: created.index, mac) }
        return created
    }

    /// Gives the bridge the gateway address of each IP, as the reference does with
    /// `isGateway`: an IPv4 bridge has one address, IPv6 ones may have several that do not
    /// overlap; a different address is replaced only with `forceAddress`.
    func ensureGatewayAddresses(on bridge: Link, for ips: [CNIResult.IPConfig], force: Bool) throws {
        for ip in ips {
            guard let gateway = ip.gateway,
                  let wanted = IPNetwork(address: gateway, prefixLength: ip.address.prefixLength) else { continue }
            var present = false
            for existing in try socket.addresses(link: bridge.index, family: wanted.family) {
                if existing == wanted { present = true; break }
                let conflicts = wanted.family == .v4 || existing.contains(wanted.address)
                    || wanted.contains(existing.address)
                guard conflicts else { continue }
                guard force else {
                    throw CNIError(CNIError.generic, "\"\(bridge.name)\" already has an IP address different from "
                                   + "\(wanted): \(existing) (set forceAddress to replace it)")
                }
                try socket.deleteAddress(existing, link: bridge.index)
            }
            guard !present else { continue }
            do {
                try socket.addAddress(wanted, link: bridge.index)
            } catch {
                // A concurrent ADD may have added the same gateway.
                guard error.alreadyExists else { throw error }
            }
        }
    }

    /// A gateway forwards: turn on IPv4/IPv6 forwarding for the families it serves.
    func enableForwarding(for families: Set<IPAddress.Family>) throws {
        for family in families {
            do {
                try Sysctl.ensure(Sysctl.forwarding(ipv6: family == .v6), is: "1")
            } catch {
                throw CNIError(CNIError.ioFailure, "cannot enable forwarding: \(error)")
            }
        }
    }

    /// Lets the node's own 127.0.0.1 reach a pod through a host port: the kernel otherwise
    /// drops a packet with a loopback source once DNAT sends it out of the bridge.
    static func routeLocalnet(on interface: String) throws {
        do {
            try Sysctl.ensure("/proc/sys/net/ipv4/conf/\(interface)/route_localnet", is: "1")
        } catch {
            throw CNIError(CNIError.ioFailure, "cannot let localhost reach host ports through \(interface): \(error)")
        }
    }
}
