import Addressing
import CNI
import Namespaces
import Netlink
import RouteNetlink

/// CHECK: compares what is live with the `prevResult` the runtime kept, and names the
/// first difference.
struct Checker {
    let plan: BridgePlan
    let expected: CNIResult

    func run() throws {
        guard let slot = expected.interfaces.firstIndex(where: { $0.name == plan.containerIfname }) else {
            throw mismatch("prevResult has no interface \(plan.containerIfname)")
        }
        let declared = expected.interfaces[slot]
        if let sandbox = declared.sandbox, sandbox != plan.netnsPath {
            throw mismatch("prevResult puts \(plan.containerIfname) in \(sandbox), not in CNI_NETNS \(plan.netnsPath)")
        }

        let host = try RouteSocket()
        guard let bridge = try host.link(named: plan.bridgeName), bridge.kind == "bridge" else {
            throw mismatch("bridge \(plan.bridgeName) does not exist")
        }
        guard let hostLink = try host.link(named: plan.hostVethName) else {
            throw mismatch("host veth \(plan.hostVethName) does not exist")
        }
        guard hostLink.masterIndex == bridge.index else {
            throw mismatch("host veth \(plan.hostVethName) is not attached to \(plan.bridgeName)")
        }

        let namespace = try NetworkNamespace(path: plan.netnsPath)
        let pod = try namespace.routeSocket()
        guard let link = try pod.link(named: plan.containerIfname) else {
            throw mismatch("interface \(plan.containerIfname) does not exist in \(plan.netnsPath)")
        }
        if let mac = declared.mac, let want = MACAddress(mac), link.mac != want {
            let mac = link.mac?.description ?? "none"
            throw mismatch("\(plan.containerIfname) has MAC \(mac), prevResult says \(want)")
        }
        let live = try pod.addresses(link: link.index)
        for ip in expected.ips where ip.interface == slot && !live.contains(ip.address) {
            throw mismatch("\(plan.containerIfname) lacks address \(ip.address)")
        }
        for family in Set(expected.routes.map(\.dst.family)) {
            let routes = try pod.routes(family: family)
            for route in expected.routes where route.dst.family == family {
                let found = routes.contains {
                    $0.destination == route.dst.network && (route.gw == nil || $0.gateway == route.gw)
                }
                if !found {
                    let via = route.gw.map { " via \($0)" } ?? ""
                    throw mismatch("route to \(route.dst)\(via) is missing in \(plan.netnsPath)")
                }
            }
        }
    }

    private func mismatch(_ text: String) -> CNIError {
        CNIError(CNIError.generic, "CHECK failed: \(text)")
    }
}
