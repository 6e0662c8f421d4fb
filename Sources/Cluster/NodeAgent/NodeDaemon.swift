#if canImport(Glibc)
import Glibc
#endif
import Addressing
import ClusterModel
import Etcd
import Identity
import Logging
import Netlink
import NIOConcurrencyHelpers
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

    public init(name: String, underlay: String, conflist: String?, bridge: String = "podwire0", dataDir: String? = nil,
                livenessTTL: Int = 40, resync: Int = 60) {
        self.name = name
        self.underlay = underlay
        self.conflist = conflist
        self.bridge = bridge
        self.dataDir = dataDir
        self.livenessTTL = livenessTTL
        self.resync = resync
    }
}

/// The node agent: registers the node, keeps its liveness, watches its peers and keeps the
/// kernel's routes to them in line, from scratch on every trigger (start, a change of peers,
/// a watch that lists again, a timer). It stops on SIGTERM and leaves the data path as it is,
/// so pods keep talking while it restarts.
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
        let socket = try RouteSocket()
        guard let underlay = try socket.link(named: options.underlay) else {
            throw ClusterError.invalid("no underlay link \(options.underlay)")
        }
        let addresses = try Self.underlayAddresses(socket.addresses(link: underlay.index))
        guard let config = try await retrying("read the cluster config", { try await self.store.config() }),
              let record = try await retrying("register", {
                  try await self.store.register(name: self.options.name, addresses: addresses,
                                                vtepMAC: VTEP.mac(node: self.options.name), config: config)
              }) else {
            logger.info("stopped before the node was registered")
            return
        }
        health.markRegistered()
        logger.info("registered", metadata: ["subnets": "\(record.subnets.map(\.description))",
                                             "addresses": "\(addresses.map(\.description))"])
        for address in try BridgeGateways.dropStale(socket: socket, bridge: options.bridge, node: record,
                                                    config: config) {
            logger.notice("removed an address of a subnet the node no longer holds from its bridge",
                          metadata: ["bridge": "\(options.bridge)", "address": "\(address)"])
        }
        let vxlan = config.backend == .direct ? nil
            : try VXLANEndpoint.ensure(socket: socket, node: record, config: config, underlay: underlay)
        if vxlan != nil { try Untracked.vxlan(port: config.port) }
        if let path = options.conflist {
            let overhead = vxlan == nil ? 0 : DataPathPlan.vxlanOverhead(underlay: record.addresses[0].family)
            let mtu = underlay.mtu - overhead
            let content = Conflist.make(node: record, config: config, bridge: options.bridge, mtu: mtu,
                                        dataDir: options.dataDir)
            try Conflist.write(content, to: path)
        }
        let state = PeerState(node: record, config: config, socket: socket, vxlan: vxlan, logger: logger,
                              metrics: metrics, health: health)

        // SIGTERM cancels the tasks; so does the first of them to fail (the node removed), which
        // the group then throws, and the process exits for its supervisor to start it again.
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { try await self.keepAlive() }
                    group.addTask { try await self.follow(state) }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(self.options.resync))
                            await state.reconcile(because: "timer")
                        }
                    }
                    group.addTask { await self.followLinks(state) }
                    group.addTask { try await self.reloadOnHangUp(state) }
                }
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {}
        logger.info("stopped; the data path stays as it is")
    }

    /// The peers from a listing, then from the watch that goes on from its revision; a watch
    /// refused for compaction, or broken, lists again.
    private func follow(_ state: PeerState) async throws {
        while !Task.isCancelled {
            do {
                let (records, revision) = try await store.nodes()
                guard records.contains(where: { $0.name == options.name }) else { throw NodeRemoved(options.name) }
                await state.replace(records, because: "list")
                for try await change in store.watchNodes(from: revision + 1) {
                    if case let .removed(name) = change, name == options.name { throw NodeRemoved(name) }
                    await state.apply(change)
                }
            } catch is CancellationError {
                return
            } catch let error as NodeRemoved {
                logger.error("\(error)")
                throw error
            } catch {
                metrics.etcdErrors.increment()
                logger.warning("watch ended, listing again", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Routes through a link go when it goes down; when the underlay or the VXLAN device comes
    /// back up, they are put back. Notifications lost to a full socket buffer count as one.
    private func followLinks(_ state: PeerState) async {
        let underlay = options.underlay
        let (events, continuation) = AsyncStream.makeStream(of: String.self)
        // A thread of its own: it blocks in the kernel, off Swift's cooperative pool.
        _ = try? JoinableThread {
            let socket: RouteSocket
            do {
                socket = try RouteSocket.linkEvents()
            } catch {
                continuation.finish()
                return
            }
            while true {
                do {
                    for event in try socket.nextLinkEvents() where !event.removed && event.link.isUp {
                        continuation.yield(event.link.name)
                    }
                } catch let error as NetlinkError where error.errno == ENOBUFS {
                    continuation.yield(underlay)
                } catch {
                    continuation.finish()
                    return
                }
            }
        }
        for await name in events where name == underlay || name == VXLANEndpoint.name {
            await state.reconcile(because: "link \(name) up")
        }
    }

    /// SIGHUP: the peers are listed afresh and the kernel reconciled against them, as an
    /// operator asks after changing something by hand.
    private func reloadOnHangUp(_ state: PeerState) async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            logger.info("SIGHUP: listing the peers again")
            do {
                await state.replace(try await store.nodes().records, because: "SIGHUP")
            } catch {
                metrics.etcdErrors.increment()
                logger.warning("cannot list the peers", metadata: ["error": "\(error)"])
            }
        }
    }

    private func keepAlive() async throws {
        var lease: Int64?
        while !Task.isCancelled {
            do {
                if let current = lease, try await store.renew(lease: current) {
                    metrics.leaseRenewals.increment()
                } else {
                    lease = try await store.announce(name: options.name, ttl: options.livenessTTL)
                }
            } catch is CancellationError {
                return
            } catch {
                metrics.etcdErrors.increment()
                logger.warning("cannot renew liveness", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: .seconds(max(1, options.livenessTTL / 4)))
        }
    }

    /// `body`, again every second until it succeeds; nil when a graceful shutdown (SIGTERM)
    /// comes first, so that a daemon waiting for etcd still stops when asked.
    private func retrying<T: Sendable>(_ what: String,
                                       _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        do {
            return try await cancelWhenGracefulShutdown {
                while true {
                    do {
                        return try await body()
                    } catch let error as ClusterError {
                        throw error
                    } catch {
                        self.metrics.etcdErrors.increment()
                        self.logger.warning("cannot \(what) yet, trying again", metadata: ["error": "\(error)"])
                        try await Task.sleep(for: .seconds(1))
                    }
                }
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            return nil
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

/// The node's own record was deleted while its daemon ran: its subnets are the pool's again,
/// and another node may take them. The daemon stops rather than go on routing them; its
/// supervisor (the unit's Restart=always) starts it again, and it registers afresh.
public struct NodeRemoved: Error, CustomStringConvertible {
    public let name: String
    init(_ name: String) { self.name = name }
    public var description: String {
        "node \(name) was removed from the cluster while its daemon ran: stopping, to register again when restarted"
    }
}

extension IPAddress {
    /// fe80::/10 and 169.254.0.0/16: no other node can reach this node there.
    var isLinkLocal: Bool {
        let bytes = self.bytes
        return family == .v4 ? bytes[0] == 169 && bytes[1] == 254 : bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80
    }
}

/// The peers as last seen, and the reconciliation of the kernel against them, one at a time.
final class PeerState: @unchecked Sendable {
    private let lock = NIOLock()
    private var peers: [String: NodeRecord] = [:]
    private let node: NodeRecord
    private let config: ClusterConfig
    private let socket: RouteSocket
    private let vxlan: Int32?
    private let logger: Logger
    private let metrics: NodeMetrics
    private let health: Health

    init(node: NodeRecord, config: ClusterConfig, socket: RouteSocket, vxlan: Int32?, logger: Logger,
         metrics: NodeMetrics, health: Health) {
        self.node = node
        self.config = config
        self.socket = socket
        self.vxlan = vxlan
        self.logger = logger
        self.metrics = metrics
        self.health = health
    }

    func replace(_ records: [NodeRecord], because reason: String) async {
        lock.withLock { peers = Dictionary(records.map { ($0.name, $0) }, uniquingKeysWith: { $1 }) }
        await reconcile(because: reason)
    }

    func apply(_ change: NodeChange) async {
        lock.withLock {
            switch change {
            case let .updated(record): peers[record.name] = record
            case let .removed(name): peers[name] = nil
            }
        }
        await reconcile(because: "watch")
    }

    /// One pass; a pass the kernel refuses (a gateway not yet reachable while a link comes
    /// up) is tried again a second later, a few times, then left to the next trigger.
    func reconcile(because reason: String) async {
        for attempt in 1...5 {
            do {
                try lock.withLock { try reconcileLocked(because: reason) }
                health.markReconciled(true)
                return
            } catch {
                health.markReconciled(false)
                logger.warning("reconciliation failed", metadata: ["reason": "\(reason)", "attempt": "\(attempt)",
                                                                   "error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func reconcileLocked(because reason: String) throws {
        let start = ContinuousClock.now
        defer {
            metrics.reconciles.increment()
            let elapsed = start.duration(to: .now).components
            metrics.reconcileDuration.recordNanoseconds(elapsed.seconds * 1_000_000_000
                                                        + elapsed.attoseconds / 1_000_000_000)
        }
        let reconciler = Reconciler(socket: socket)
        let plan = try DataPathPlan.make(node: node, peers: Array(peers.values), config: config,
                                         onLink: reconciler.onLink, vxlan: vxlan)
        let outcome = try reconciler.apply(plan, vxlan: vxlan)
        metrics.peers.record(peers.keys.filter { $0 != node.name }.count)
        metrics.routes.record(plan.routes.count)
        if !outcome.isQuiet {
            logger.info("reconciled", metadata: ["reason": "\(reason)", "added": "\(outcome.added)",
                                                 "removed": "\(outcome.removed)", "peers": "\(peers.count - 1)"])
        }
    }
}
