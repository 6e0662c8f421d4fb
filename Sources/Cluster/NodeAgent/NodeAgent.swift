import Addressing
import ClusterModel
import Etcd
import Logging
import NIOPosix
import Synchronization

/// The store as last seen, kept by the task that lists and watches; the loop reads it.
actor Mirror {
    private(set) var view = ClusterView()

    func replace(_ view: ClusterView) { self.view = view }
    func apply(_ changes: [ClusterView.Change]) { for change in changes { view.apply(change) } }
}

/// The node's reconciliation, as one loop: triggers (the watch, the timer's listing, links,
/// SIGHUP, a retry) only signal it, repeats collapse into one pass, and each pass judges every
/// record, mends the node's own, and makes the kernel match the peers that hold up, off
/// Swift's cooperative pool.
public final class NodeAgent: Sendable {
    public let node: NodeRecord
    /// The node's record as registered, as etcd holds it: what a pass compares against.
    let ownRecord: [UInt8]
    let config: ClusterConfig
    let store: any ClusterStore
    let dataPath: any DataPath
    let logger: Logger
    let metrics: NodeMetrics
    let health: Health
    let mirror = Mirror()
    private let wakeups: AsyncStream<String>
    private let wake: AsyncStream<String>.Continuation
    private let relists: AsyncStream<String>
    private let relist: AsyncStream<String>.Continuation
    /// The first reason since the last pass that asks for the kernel to be read afresh (any
    /// but a watch event): kept apart, so that a watch event after it does not take its place.
    private let refreshAsked = Mutex<String?>(nil)
    /// One thread for every blocking call the loop makes: netlink never runs on the cooperative pool.
    private let pool = NIOThreadPool(numberOfThreads: 1)

    public init(node: NodeRecord, config: ClusterConfig, store: any ClusterStore, dataPath: any DataPath,
                logger: Logger, metrics: NodeMetrics, health: Health) {
        self.node = node
        ownRecord = Array(node.json.utf8)
        self.config = config
        self.store = store
        self.dataPath = dataPath
        self.logger = logger
        self.metrics = metrics
        self.health = health
        (wakeups, wake) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        (relists, relist) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        pool.start()
    }

    deinit {
        pool.shutdownGracefully { _ in }
    }

    /// Asks for a pass; a pass already asked for and not begun takes this one's place.
    public func signal(_ reason: String) {
        if reason != "watch" { refreshAsked.withLock { $0 = $0 ?? reason } }
        wake.yield(reason)
    }

    /// Asks the watcher to list the store again before the next pass.
    public func listAgain(_ reason: String) { relist.yield(reason) }

    /// Passes are rate-limited as a token bucket (kindnet's work queue is rate-limited too):
    /// up to `burst` go at once, so a change after a quiet spell is applied without delay, and
    /// then one per `spacing`, so the changes of a burst wait for the next pass together.
    static let spacing = Duration.milliseconds(200)
    static let burst = 3.0

    /// The passes, one at a time, until cancelled; throws `NodeRemoved` when the node's own
    /// record is deleted. A watch event that changes no peer (a record rewritten as it was, a
    /// rejected record) costs no pass through the kernel.
    public func loop() async throws {
        var retry = Backoff(base: .milliseconds(500), cap: .seconds(30))
        var retryTask: Task<Void, Never>?
        var reported: [String: String] = [:]
        var applied: [NodeRecord]?
        var tokens = Self.burst, refilled = ContinuousClock.now
        var parsed = PeerValidation.Parsed()
        // What the last verdict was made from: a watch event that leaves records and subnet keys
        // as they were (a record written again as it was) changes nothing to judge.
        var judged: (records: [String: [UInt8]], holders: [IPNetwork: String])?
        for await signalled in wakeups {
            // Waited for before the view is read, so that the pass takes in what came meanwhile.
            tokens = min(Self.burst, tokens + refilled.duration(to: .now) / Self.spacing)
            refilled = .now
            if tokens < 1 {
                try await Task.sleep(for: Self.spacing * (1 - tokens))
                tokens = 1
                refilled = .now
            }
            try Task.checkCancellation()
            let reason = refreshAsked.withLock { reason in
                defer { reason = nil }
                return reason
            } ?? signalled
            let view = await mirror.view
            guard view.revision > 0 else { continue }
            if view.records[node.name] == nil {
                let dataPath = self.dataPath
                try? await pool.runIfActive { dataPath.withdraw() }
                throw NodeRemoved(node.name)
            }
            if reason == "watch", retryTask == nil, let judged, judged.records == view.records,
               judged.holders == view.holders {
                continue
            }
            judged = (view.records, view.holders)
            await mendOwnRecord(view)
            let verdict = PeerValidation.judge(view, config: config, node: node, parsed: &parsed)
            report(verdict.rejected, logged: &reported)
            if reason == "watch", verdict.peers == applied, retryTask == nil { continue }
            tokens -= 1
            logger.debug("pass", metadata: ["reason": "\(reason)", "peers": "\(verdict.peers.count)",
                                            "rejected": "\(verdict.rejected.count)"])
            let refusals = await pass(peers: verdict.peers, because: reason)
            applied = verdict.peers
            // A refused peer is tried again after a backoff that grows while it stays refused.
            if refusals.isEmpty {
                retryTask?.cancel()
                retryTask = nil
                retry.reset()
            } else if retryTask == nil || reason == "retry" {
                let wait = retry.next()
                retryTask = Task { [weak self] in
                    try? await Task.sleep(for: wait)
                    self?.signal("retry")
                }
            }
        }
    }

    /// One pass through the data path; returns the peers the kernel refused something for.
    func pass(peers: [NodeRecord], because reason: String) async -> [String: [String]] {
        let start = ContinuousClock.now
        let node = self.node, config = self.config, dataPath = self.dataPath
        let outcome: PassOutcome
        do {
            let refresh = reason != "watch"
            outcome = try await pool.runIfActive {
                try dataPath.apply(node: node, peers: peers, config: config, refresh: refresh)
            }
        } catch {
            health.markDataPath(false)
            logger.warning("the data path cannot be set", metadata: ["reason": "\(reason)", "error": "\(error)"])
            return ["": ["\(error)"]]
        }
        metrics.reconciles.increment()
        let elapsed = start.duration(to: .now).components
        metrics.reconcileDuration.recordNanoseconds(elapsed.seconds * 1_000_000_000
                                                    + elapsed.attoseconds / 1_000_000_000)
        metrics.peers.record(peers.count)
        metrics.routes.record(outcome.routes)
        metrics.peersDegraded.record(outcome.refusals.count)
        health.markDataPath(true)
        health.setDegraded(outcome.refusals)
        for (peer, refusals) in outcome.refusals.sorted(by: { $0.key < $1.key }) {
            metrics.kernelRefusals.increment(by: refusals.count)
            logger.warning("the kernel or the routing daemon refused part of the plan; the rest is in place",
                           metadata: ["peer": "\(peer.isEmpty ? "-" : peer)", "refused": "\(refusals)"])
        }
        for (kind, entries) in outcome.repairs.sorted(by: { $0.key < $1.key }) {
            metrics.repaired(kind, count: entries.count)
            logger.notice("put back what something else removed", metadata: [
                "kind": "\(kind)", "missing": "\(entries.joined(separator: ", "))", "reason": "\(reason)",
            ])
        }
        if !outcome.isQuiet {
            logger.info("reconciled", metadata: ["reason": "\(reason)", "added": "\(outcome.added)",
                                                 "removed": "\(outcome.removed)", "peers": "\(peers.count)"])
        }
        return outcome.refusals
    }

    /// Logs each rejection once per change and counts it; the gauge and /healthz hold the current set.
    private func report(_ rejected: [Rejection], logged: inout [String: String]) {
        var now: [String: String] = [:]
        for rejection in rejected {
            now[rejection.name] = rejection.description
            guard logged[rejection.name] != rejection.description else { continue }
            metrics.rejected(rejection.reason)
            logger.warning("record not believed: no route is made from it",
                           metadata: ["record": "\(rejection.name)", "reason": "\(rejection.reason.rawValue)",
                                      "detail": "\(rejection.detail)"])
        }
        for name in logged.keys where now[name] == nil {
            logger.info("record no longer rejected", metadata: ["record": "\(name)"])
        }
        logged = now
        metrics.recordsRejectedNow.record(rejected.count)
        health.setRejected(rejected.map(\.description))
    }

    /// The node's own record and subnet keys put back as registered, when something else
    /// rewrote the record or deleted a key; a key another node holds is reported, not taken.
    private func mendOwnRecord(_ view: ClusterView) async {
        let stolen = node.subnets.compactMap { subnet in
            view.holders[subnet].flatMap { $0 == node.name ? nil : "\(subnet) is held by \($0)" }
        }
        health.setOwnProblem(stolen.first)
        if let problem = stolen.first {
            logger.error("a subnet of this node's is held by another", metadata: ["problem": "\(problem)"])
            return
        }
        let missing = node.subnets.filter { view.holders[$0] == nil }
        guard view.records[node.name] != ownRecord || !missing.isEmpty else { return }
        let repair = Registration(record: node, claims: missing, releases: [], previous: view.records[node.name])
        do {
            if try await store.commit(repair) {
                metrics.ownRepairs.increment()
                logger.notice("put the node's own record and subnet keys back as registered",
                              metadata: ["subnetKeys": "\(missing.map(\.description))"])
            }
        } catch {
            metrics.etcdErrors.increment()
            logger.warning("cannot put the node's own record back", metadata: ["error": "\(error)"])
        }
    }

    /// The store as a listing (the first one given: the registration's), then as the watch from
    /// its revision; lists again when the watch fails or stalls, after the timer's interval, and
    /// when asked (SIGHUP). Retries back off.
    public func follow(from first: ClusterView? = nil) async throws {
        var backoff = Backoff()
        var listed = first
        while !Task.isCancelled {
            do {
                let view: ClusterView
                if let first = listed {
                    view = first
                    listed = nil
                } else {
                    view = try await store.view()
                }
                await mirror.replace(view)
                signal("list")
                backoff.reset()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await changes in self.store.watch(from: view.revision + 1) {
                            await self.mirror.apply(changes)
                            self.signal("watch")
                        }
                    }
                    group.addTask {
                        for await reason in self.relists {
                            self.logger.debug("listing again", metadata: ["reason": "\(reason)"])
                            return
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch is CancellationError {
                return
            } catch {
                if case EtcdError.stalled = error { metrics.watchStalls.increment() }
                metrics.etcdErrors.increment()
                let wait = backoff.next()
                logger.warning("the watch ended; listing again",
                               metadata: ["error": "\(error)", "after": "\(wait)"])
                try await Task.sleep(for: wait)
            }
        }
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
