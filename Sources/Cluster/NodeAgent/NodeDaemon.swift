#if canImport(Glibc)
import Glibc
#endif
import Addressing
import BGP
import ClusterModel
import Etcd
import IPAM
import Identity
import Logging
import Netlink
import RouteNetlink
import ServiceLifecycle
import UnixSignals
import Syscall

/// What a node's daemon is told on its command line.
public struct NodeOptions: Sendable {
    public var name: String
    /// The link towards the other nodes; its addresses are the node's underlay addresses.
    public var underlay: String
    /// The conflist the daemon writes for the runtime, with the node's subnets in it.
    public var conflist: String?
    public var bridge: String
    /// The host-local store the conflist names; host-local's default when nil.
    public var dataDir: String?
    /// Seconds a node's liveness lasts without a renewal; renewed every quarter of it, as a
    /// Kubernetes node renews its 40-second lease every 10 s.
    public var livenessTTL: Int
    /// Seconds between reconciliations when nothing else triggers one.
    public var resync: Int
    /// With the `bgp` backend: the directory of the node's BIRD (config, control socket, log).
    public var bgpDirectory: String

    public init(name: String, underlay: String, conflist: String?, bridge: String = "podwire0", dataDir: String? = nil,
                bgpDirectory: String = "/run/podwire/bird", livenessTTL: Int = 40, resync: Int = 60) {
        self.bgpDirectory = bgpDirectory
        self.name = name
        self.underlay = underlay
        self.conflist = conflist
        self.bridge = bridge
        self.dataDir = dataDir
        self.livenessTTL = livenessTTL
        self.resync = resync
    }
}

/// The node's daemon: registers the node (its name checked first), prepares the node (bridge
/// addresses, the VXLAN device, the conflist), keeps its liveness, and runs the `NodeAgent`'s
/// loop with its triggers. It stops on SIGTERM and leaves the data path as it is, so pods
/// keep talking while it restarts.
public final class NodeDaemon: Service, Sendable {
    let options: NodeOptions
    let store: any ClusterStore
    let logger: Logger
    let metrics: NodeMetrics
    let health: Health

    public init(options: NodeOptions, store: any ClusterStore, logger: Logger, metrics: NodeMetrics = NodeMetrics(),
                health: Health = Health()) {
        self.options = options
        self.store = store
        self.logger = logger
        self.metrics = metrics
        self.health = health
    }

    public func run() async throws {
        var change: UnderlayChanged?
        repeat {
            change = try await session(after: change)
            if let change {
                logger.notice("the underlay's addresses changed: registering again with them", metadata: [
                    "from": "\(change.from.map(\.description))", "to": "\(change.to.map(\.description))",
                ])
            }
        } while change != nil
    }

    /// The underlay's addresses are not those the node registered with (DHCP, an operator).
    struct UnderlayChanged: Error {
        var from: [IPAddress]
        var to: [IPAddress]
    }

    /// One registration and all that follows it, until SIGTERM (nil) or until the underlay's
    /// addresses change (returned: the node registers again, with the new ones, and every peer
    /// follows its record). After a change, the session before's liveness may still be in etcd.
    private func session(after change: UnderlayChanged?) async throws -> UnderlayChanged? {
        let socket = try RouteSocket()
        guard let underlay = try socket.link(named: options.underlay) else {
            throw ClusterError.invalid("no underlay link \(options.underlay)")
        }
        let current = try Self.underlayAddresses(socket.addresses(link: underlay.index))
        let addresses = change.map { Self.published(registered: $0.to, now: current) } ?? current
        // One listing gives the config, the name's liveness and what registration starts from;
        // every retry lists afresh. The name is checked before anything is written under it;
        // the node announces itself once registered, so that its record reaches peers sooner.
        let ours = Liveness.value(addresses), earlier = change.map { Liveness.value($0.from) }, name = options.name
        guard let (config, record, view) = try await retrying("register", { () async throws in
                  let listed = try await self.store.view()
                  guard let raw = listed.config else { throw ClusterStoreError.noConfig }
                  if let held = listed.alive[name], held != ours, held != earlier {
                      throw ClusterStoreError.nameHeld(name: name, addresses: held)
                  }
                  let config = try ClusterConfig(json: raw)
                  let (record, view) = try await self.store.register(name: name, addresses: addresses,
                                                                     vtepMAC: VTEP.mac(node: name), config: config,
                                                                     read: listed)
                  return (config, record, view)
              }) else {
            logger.info("stopped before the node was registered")
            return nil
        }
        health.markRegistered()
        logger.info("registered", metadata: ["subnets": "\(record.subnets.map(\.description))",
                                             "addresses": "\(addresses.map(\.description))"])
        for address in try BridgeGateways.dropStale(socket: socket, bridge: options.bridge, node: record,
                                                    config: config) {
            logger.notice("removed an address of a subnet the node no longer holds from its bridge",
                          metadata: ["bridge": "\(options.bridge)", "address": "\(address)"])
        }
        let vxlan = !config.usesVXLAN ? nil
            : try VXLANEndpoint.ensure(socket: socket, node: record, config: config, underlay: underlay).index
        if vxlan != nil { try Untracked.ensure(port: config.port) }
        var conflist: (path: String, content: String)?
        if let path = options.conflist {
            let overhead = vxlan == nil ? 0 : DataPathPlan.vxlanOverhead(underlay: record.addresses[0].family)
            let mtu = underlay.mtu - overhead
            let content = Conflist.make(node: record, config: config, bridge: options.bridge, mtu: mtu,
                                        dataDir: options.dataDir)
            try Syscall.replaceFile(path, with: content)
            conflist = (path, content)
        }
        let pods = PodState(socket: socket, dataDir: options.dataDir ?? HostLocalConfig.defaultDataDir) { gateway in
            !BridgeGateways.isStale(gateway, node: record, config: config)
        }
        let bird = config.backend == .bgp ? Bird(directory: options.bgpDirectory) : nil
        let dataPath = KernelDataPath(socket: socket, node: record, config: config, underlay: options.underlay,
                                      vxlan: vxlan, conflist: conflist, pods: pods, bird: bird)
        let agent = NodeAgent(node: record, config: config, store: store, dataPath: dataPath, logger: logger,
                              metrics: metrics, health: health)

        // SIGTERM cancels the tasks; so does the first of them to fail (the node removed), which
        // the group then throws, and the process exits for its supervisor to start it again.
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await self.keepAlive(addresses: addresses, replacing: change?.from) }
                    group.addTask { try await Self.followUnderlay(index: underlay.index, registered: addresses) }
                    group.addTask { try await agent.follow(from: view) }
                    group.addTask {
                        do {
                            try await agent.loop()
                        } catch let error as NodeRemoved {
                            self.logger.error("\(error)")
                            throw error
                        }
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(self.options.resync))
                            agent.listAgain("timer")
                        }
                    }
                    group.addTask { await self.followKernel(agent) }
                    group.addTask { await KernelWatch.tables { agent.signal($0) } }
                    if let bird { group.addTask { await self.watch(bird, agent) } }
                    if let path = self.options.conflist { group.addTask { await Self.follow(file: path, agent) } }
                    group.addTask {
                        for await _ in await UnixSignalsSequence(trapping: .sighup) {
                            self.logger.info("SIGHUP: listing the peers again")
                            agent.listAgain("SIGHUP")
                        }
                    }
                }
            }
        } catch let change as UnderlayChanged {
            return change
        } catch is CancellationError where Task.isShuttingDownGracefully {}
        logger.info("stopped; the data path stays as it is")
        return nil
    }

    /// Throws `UnderlayChanged` once the underlay's addresses, as the kernel reports them
    /// changed, are not the registered ones (see `published`).
    private static func followUnderlay(index: Int32, registered: [IPAddress]) async throws {
        let (changes, continuation) = AsyncStream.makeStream(of: [IPAddress].self)
        _ = try? JoinableThread {
            defer { continuation.finish() }
            guard let events = try? RouteSocket.stateEvents(), let lookup = try? RouteSocket() else { return }
            while true {
                do {
                    let touched = try events.nextStateEvents().contains { event in
                        if case let .address(_, link, _) = event { link == index } else { false }
                    }
                    guard touched else { continue }
                } catch let error as NetlinkError where error.errno == ENOBUFS {
                } catch {
                    return
                }
                guard let now = try? lookup.addresses(link: index) else { continue }
                let published = Self.published(registered: registered, now: underlayAddresses(now))
                if published != registered {
                    continuation.yield(published)
                    return
                }
                // The registered addresses again, which the task passes over: the thread ends once
                // nobody listens.
                if case .terminated = continuation.yield(registered) { return }
            }
        }
        for await now in changes where now != registered { throw UnderlayChanged(from: registered, to: now) }
    }

    /// What the node publishes of its underlay's addresses: per family, the one it has now, or
    /// the registered one while the family has none. A link flap takes the IPv6 addresses with
    /// it and they come back; an address replaced by another is a change. Never an empty list.
    static func published(registered: [IPAddress], now: [IPAddress]) -> [IPAddress] {
        [IPAddress.Family.v4, .v6].compactMap { family in
            now.first { $0.family == family } ?? registered.first { $0.family == family }
        }
    }

    /// The kernel's notifications, as triggers of a pass that reads the kernel afresh: a link
    /// of the node's that comes back up (its routes went when it went down), or any of the
    /// node's state removed by something else: the VXLAN device, its addresses, neighbour or
    /// forwarding entries, a route of podwire's, forwarding turned off. The node's own removals
    /// trigger one pass that finds nothing to do. Notifications lost to a full socket buffer
    /// count as a removal.
    private func followKernel(_ agent: NodeAgent) async {
        let underlay = options.underlay, vxlanName = VXLANEndpoint.name, bridgeName = options.bridge
        await KernelWatch.stateEvents({ agent.signal($0) }) {
            var up: [String: Bool] = [:]
            // The indexes of the VXLAN device and the bridge, as the kernel last reported them
            // (they change when either is made again).
            let lookup = try? RouteSocket()
            var vxlan = (try? lookup?.link(named: vxlanName))??.index
            let pods = (try? lookup?.link(named: bridgeName)) ?? nil
            var bridge = pods?.index
            up[bridgeName] = pods?.isUp
            return { event in
                switch event {
                case let .link(link, removed):
                    guard [underlay, vxlanName, bridgeName].contains(link.name) else { return nil }
                    if link.name == vxlanName { vxlan = removed ? nil : link.index }
                    if link.name == bridgeName { bridge = removed ? nil : link.index }
                    let isUp = !removed && link.isUp, wasUp = up[link.name] == true
                    up[link.name] = isUp
                    if removed { return "kernel: link \(link.name) removed" }
                    if isUp && !wasUp { return "kernel: link \(link.name) up" }
                    return !isUp && link.name == bridgeName && wasUp ? "kernel: link \(link.name) down" : nil
                case let .address(address, link, removed) where removed && (link == vxlan || link == bridge):
                    return "kernel: address \(address) removed"
                case let .route(route, removed) where removed && route.protocolNumber == RouteProtocol.podwire:
                    return "kernel: route \(route.destination) removed"
                case let .neighbour(link, removed) where removed && link == vxlan:
                    return "kernel: an entry of \(vxlanName) removed"
                case let .forwarding(family, nil, on) where !on:
                    return "kernel: \(family) forwarding turned off"
                default:
                    return nil
                }
            }
        }
    }

    /// BIRD's sessions, read every second for `status` and `/metrics`, each change of state
    /// logged once. BIRD gone (killed, crashed) triggers a pass, which starts it again.
    private func watch(_ bird: Bird, _ agent: NodeAgent) async {
        let health = self.health, metrics = self.metrics, logger = self.logger
        await KernelWatch.onThread({ agent.signal($0) }) { reasons in
            // Each session's state and last error as last logged.
            var states: [String: String] = [:]
            var gone = false
            while reasons.isListening {
                do throws(BirdError) {
                    let sessions = try bird.sessions()
                    gone = false
                    health.setBGP(sessions.map(\.summary))
                    metrics.bgp(sessions)
                    for session in sessions where states[session.name] != session.state + session.lastError {
                        logger.notice("bgp session \(session.isEstablished ? "established" : "not established")",
                                      metadata: ["session": "\(session.name)", "state": "\(session.state)",
                                                 "neighbour": "\(session.neighbour)", "asn": "\(session.asn)",
                                                 "lastError": "\(session.lastError)"])
                    }
                    states = Dictionary(sessions.map { ($0.name, $0.state + $0.lastError) }) { $1 }
                } catch {
                    health.setBGP(["bgp daemon: \(error)"])
                    if case .notRunning = error, !gone {
                        gone = true
                        guard reasons.send("bgp: BIRD is not running") else { return }
                    }
                }
                Syscall.sleep(.seconds(1))
            }
        }
    }

    /// The conflist deleted, replaced or written by something else: a pass writes it again. A
    /// runtime would otherwise fail every new pod with "no network".
    private static func follow(file path: String, _ agent: NodeAgent) async {
        await KernelWatch.onThread({ agent.signal($0) }) { reasons in
            guard let watch = try? FileWatch(path) else { return }
            while (try? watch.next()) != nil, reasons.send("file: \(path) changed") {}
        }
    }

    private func keepAlive(addresses: [IPAddress], replacing: [IPAddress]?) async throws {
        var lease: Int64?
        var backoff = Backoff(base: .seconds(1), cap: .seconds(Int64(max(1, options.livenessTTL / 4))))
        while !Task.isCancelled {
            var wait = Duration.seconds(max(1, options.livenessTTL / 4))
            do {
                if let current = lease, try await store.renew(lease: current) {
                    metrics.leaseRenewals.increment()
                } else {
                    lease = try await store.announce(name: options.name, addresses: addresses,
                                                     replacing: replacing, ttl: options.livenessTTL)
                }
                backoff.reset()
            } catch is CancellationError {
                return
            } catch {
                metrics.etcdErrors.increment()
                wait = backoff.next()
                logger.warning("cannot renew liveness", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: wait)
        }
    }

    /// `body`, again with a growing, jittered wait until it succeeds or fails for good (see
    /// `isFinal`); nil when a graceful shutdown (SIGTERM) comes first, so that a daemon waiting
    /// for etcd still stops when asked.
    private func retrying<T: Sendable>(_ what: String,
                                       _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        do {
            return try await cancelWhenGracefulShutdown {
                var backoff = Backoff()
                while true {
                    do {
                        return try await body()
                    } catch where Self.isFinal(error) {
                        throw error
                    } catch {
                        self.metrics.etcdErrors.increment()
                        let wait = backoff.next()
                        self.logger.warning("cannot \(what) yet, trying again",
                                            metadata: ["error": "\(error)", "after": "\(wait)"])
                        try await Task.sleep(for: wait)
                    }
                }
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            return nil
        }
    }

    /// An error no retry mends: the cluster's config or this node's name or settings are wrong,
    /// or a live daemon holds the name. Anything else (etcd down, a member without a leader, a
    /// write that lost a race) is tried again.
    public static func isFinal(_ error: any Error) -> Bool {
        switch error {
        case is ClusterError, ClusterStoreError.nameHeld, EtcdError.settings: true
        default: false
        }
    }

    /// Global unicast addresses of the underlay link, one per family.
    static func underlayAddresses(_ networks: [IPNetwork]) -> [IPAddress] {
        var result: [IPAddress] = []
        for family in [IPAddress.Family.v4, .v6] {
            if let address = networks.first(where: { $0.family == family && !$0.address.isLinkLocal })?.address {
                result.append(address)
            }
        }
        return result
    }
}

extension IPAddress {
    /// fe80::/10 and 169.254.0.0/16: no other node can reach this node there.
    var isLinkLocal: Bool {
        let bytes = self.bytes
        return family == .v4 ? bytes[0] == 169 && bytes[1] == 254 : bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80
    }
}
