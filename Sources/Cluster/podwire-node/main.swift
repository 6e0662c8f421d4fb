import Addressing
import ArgumentParser
import ClusterModel
import Etcd
import Logging
import NodeAgent
import Identity
import RouteNetlink
import ServiceLifecycle

@main
struct PodwireNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "podwire-node",
        abstract: "Connects the pods of every node: subnets leased in etcd, routes and VXLAN to peers.",
        version: "podwire-node \(PodwireVersion.string)",
        subcommands: [Run.self, Guard.self, SetConfig.self, Nodes.self, Status.self, Remove.self])
}

/// Where etcd is, as every subcommand is told.
struct EtcdOptions: ParsableArguments {
    @Option(help: "etcd client URLs, comma-separated; tried in turn.")
    var endpoints: String = "http://127.0.0.1:2379"
    @Option(help: "CA certificate that signed etcd's.") var cacert: String?
    @Option(help: "Client certificate, for etcd's --client-cert-auth.") var cert: String?
    @Option(help: "The client certificate's key.") var key: String?

    /// The store; `spreadBy` (the node's name) picks the member this client asks first.
    func store(spreadBy: String = "") throws -> EtcdClusterStore {
        let urls = endpoints.split(separator: ",").map(String.init)
        return EtcdClusterStore(client: try EtcdClient(EtcdEndpoints(urls, caFile: cacert, certificateFile: cert,
                                                                     keyFile: key, spreadBy: spreadBy)))
    }
}

/// Runs `body` with the store, and shuts its client down whatever happens.
func withStore<T>(_ options: EtcdOptions, spreadBy: String = "",
                  _ body: (EtcdClusterStore) async throws -> T) async throws -> T {
    let store = try options.store(spreadBy: spreadBy)
    do {
        let result = try await body(store)
        try await store.client.shutdown()
        return result
    } catch {
        try? await store.client.shutdown()
        throw error
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run",
                                                    abstract: "Runs the node's daemon until SIGTERM.")
    @OptionGroup var etcd: EtcdOptions
    @Option(help: "This node's name.") var name: String
    @Option(help: "The link towards the other nodes.") var underlay: String
    @Option(help: "Where to write the node's conflist (the unit's: /etc/cni/net.d/05-podwire-node.conflist).")
    var conflist: String?
    @Option(help: "The pods' bridge.") var bridge: String = "podwire0"
    @Option(help: "The host-local store the conflist names (host-local's default if not given).")
    var dataDir: String?
    @Option(help: "With the bgp backend: where BIRD's config, control socket, PID file and log are kept.")
    var bgpDir = "/run/podwire/bird"
    @OptionGroup var service: ServiceOptions

    func run() async throws {
        var logger = service.logger()
        logger[metadataKey: "node"] = "\(name)"
        try await withStore(etcd, spreadBy: name) { store in
            let metrics = NodeMetrics(), health = Health()
            let daemon = NodeDaemon(options: NodeOptions(name: name, underlay: underlay, conflist: conflist,
                                                         bridge: bridge, dataDir: dataDir, bgpDirectory: bgpDir,
                                                         resync: service.resync),
                                    store: store, logger: logger, metrics: metrics, health: health)
            try await service.run(daemon, named: "node-daemon", logger: logger, metrics: metrics, health: health)
        }
    }
}

struct Guard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guard",
        abstract: "Without a cluster: puts back the pods' bridge, ports and firewall entries when something else "
            + "removes them, until SIGTERM.")
    @Option(help: "The host-local store the plugin's configs name.") var dataDir = "/var/lib/cni/networks"
    @OptionGroup var service: ServiceOptions

    func run() async throws {
        let logger = service.logger()
        let metrics = NodeMetrics(), health = Health()
        let guardian = PodGuard(dataDir: dataDir, resync: service.resync, logger: logger, metrics: metrics,
                                health: health)
        try await service.run(guardian, named: "pod-guard", logger: logger, metrics: metrics, health: health)
    }
}

/// What every long-running command is told: its timer, its status page, its log level.
struct ServiceOptions: ParsableArguments {
    @Option(help: "Seconds between passes that read everything afresh when nothing else triggers one (at least 1).")
    var resync: Int = 60
    @Option(help: "Where /metrics and /healthz are served (HOST:PORT).") var statusAddress = "127.0.0.1:9750"
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String = "info"

    func validate() throws {
        guard resync >= 1 else { throw ValidationError("--resync must be at least 1 second") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel) is not a level")
        }
        _ = try status()
    }

    /// Runs `main` beside the status page until SIGTERM or SIGINT.
    func run(_ main: some Service, named name: String, logger: Logger, metrics: NodeMetrics,
             health: Health) async throws {
        let (host, port) = try status()
        let status = StatusServer(host: host, port: port, metrics: metrics, health: health, logger: logger)
        // Named here: the group would otherwise describe each service by reflection, which
        // costs the daemon's start a few milliseconds of the runtime's conformance lookups.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: main, serviceName: name), .init(service: status, serviceName: "status-server")],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    func logger() -> Logger {
        var logger = Logger(label: "podwire-node")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }

    /// `--status-address`, brackets around an IPv6 host allowed.
    func status() throws -> (host: String, port: Int) {
        guard let colon = statusAddress.lastIndex(of: ":"),
              let port = Int(statusAddress[statusAddress.index(after: colon)...]) else {
            throw ValidationError("--status-address must be HOST:PORT")
        }
        return (String(statusAddress[..<colon].filter { $0 != "[" && $0 != "]" }), port)
    }
}

struct SetConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Sets the cluster's config; refuses a change that would invalidate registered nodes' subnets.")
    @OptionGroup var etcd: EtcdOptions
    @Option(help: "The config, as JSON: {\"network4\":\"10.244.0.0/16\",\"network6\":\"fd44::/48\",…}")
    var json: String

    func run() async throws {
        let config = try ClusterConfig(json: Array(json.utf8))
        try await withStore(etcd) { store in
            let previous: ClusterConfig?
            do {
                previous = try await store.config()
            } catch ClusterStoreError.noConfig {
                previous = nil
            }
            let problems = ConfigChange.problems(config, view: try await store.view())
            guard problems.isEmpty else {
                let lines = ["the new config would leave registered nodes with subnets it does not allow:"]
                    + problems.map { "  " + $0 }
                    + ["remove those nodes first (podwire-node remove NAME) and start their daemons again to "
                       + "register anew; see docs/cluster.md, Changing the config"]
                throw ClusterError.invalid(lines.joined(separator: "\n"))
            }
            guard try await store.setConfig(config, previous: previous) else {
                throw ClusterStoreError.conflict("the config changed while this one was checked: run the command again")
            }
        }
        print(config.json)
    }
}

struct Nodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Lists the nodes, their subnets and liveness, the records not believed and why, and subnet keys "
            + "whose holder has no record.")
    @OptionGroup var etcd: EtcdOptions

    func run() async throws {
        try await withStore(etcd) { store in
            let view = try await store.view()
            let config = try await store.config()
            // Judged as a node outside the cluster sees them: by the rules, the keys and each other.
            let outsider = NodeRecord(name: "", addresses: [], vtepMAC: MACAddress(bytes: [2, 0, 0, 0, 0, 0])!,
                                      subnets: [])
            let verdict = PeerValidation.judge(view, config: config, node: outsider)
            let alive = { (name: String) in view.alive[name] != nil ? "alive" : "not alive" }
            for record in verdict.peers {
                print("\(record.name)  \(record.subnets.map(\.description).joined(separator: ","))  "
                      + "\(record.addresses.map(\.description).joined(separator: ","))  \(alive(record.name))")
            }
            for rejection in verdict.rejected {
                print("\(rejection.name)  rejected: \(rejection.reason.rawValue): \(rejection.detail)  "
                      + alive(rejection.name))
            }
            for (subnet, holder) in view.orphans {
                print("orphan subnet key \(subnet): held by \(holder), which has no record (podwire-node remove "
                      + "\(holder) frees it)")
            }
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "On a node: how it reaches each peer, the records it does not believe, the peers its daemon "
            + "reports degraded, and what its kernel holds that etcd does not say (drift).")
    @OptionGroup var etcd: EtcdOptions
    @Option(help: "This node's name.") var name: String
    @Option(help: "The daemon's status address (HOST:PORT), asked for the peers it reports degraded.")
    var statusAddress = "127.0.0.1:9750"

    func run() async throws {
        let drift = try await withStore(etcd) { store -> Bool in
            let config = try await store.config()
            let view = try await store.view()
            guard let bytes = view.records[name], let node = try? NodeRecord(json: bytes) else {
                throw ClusterStoreError.notFound(name)
            }
            let verdict = PeerValidation.judge(view, config: config, node: node)
            let socket = try RouteSocket()
            let vxlan = try socket.link(named: VXLANEndpoint.name)?.index
            let reconciler = Reconciler(socket: socket)
            let plan = DataPathPlan.make(node: node, peers: verdict.peers, config: config,
                                         onLink: { try? reconciler.onLink($0) }, vxlan: vxlan)
            for peer in verdict.peers {
                let path = plan.paths[peer.name]?.rawValue ?? "-"
                print("\(peer.name)  \(peer.subnets.map(\.description).joined(separator: ","))  \(path)  "
                      + (view.alive[peer.name] != nil ? "alive" : "not alive"))
            }
            for rejection in verdict.rejected { print("rejected: \(rejection)") }
            if let report = try? await store.client.getText("http://\(statusAddress)/healthz") {
                for line in report.split(separator: "\n")
                where line.hasPrefix("degraded peer") || line.hasPrefix("bgp ") {
                    print(line)
                }
            }
            let drift = try reconciler.drift(from: plan, vxlan: vxlan)
            var deviceProblem: String?
            if config.usesVXLAN {
                let device = try socket.link(named: VXLANEndpoint.name)
                let underlayIndex = device?.vxlan?.underlayIndex
                if device != nil, let underlay = try socket.links().first(where: { $0.index == underlayIndex }) {
                    deviceProblem = try VXLANEndpoint.problem(socket: socket, node: node, config: config,
                                                              underlay: underlay)
                } else {
                    deviceProblem = device == nil ? "\(VXLANEndpoint.name) missing"
                        : "\(VXLANEndpoint.name) made otherwise (its underlay link is gone)"
                }
            }
            if let deviceProblem { print("drift: \(deviceProblem)") }
            for route in drift.routes.add {
                print("drift: missing route \(route.destination) via \(route.gateway.map { "\($0)" } ?? "-")")
            }
            for route in drift.routes.remove { print("drift: extra route \(route.destination)") }
            for entry in drift.neighbours.add + drift.forwarding.add {
                print("drift: missing \(entry.kind) \(entry.address)")
            }
            for entry in drift.neighbours.remove + drift.forwarding.remove {
                print("drift: extra \(entry.kind) \(entry.address)")
            }
            if drift.isEmpty && deviceProblem == nil { print("no drift: the kernel holds what etcd says") }
            return !drift.isEmpty || deviceProblem != nil
        }
        if drift { throw ExitCode(1) }
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Forgets a node: every subnet key naming it returns to the pool, whatever its record holds, and "
            + "every node drops its routes.")
    @OptionGroup var etcd: EtcdOptions
    @Argument(help: "The node's name.") var name: String

    func run() async throws {
        try await withStore(etcd) { try await $0.remove(name: name) }
    }
}
