import Logging
import NIOPosix
import RouteNetlink
import ServiceLifecycle

/// podwire-node on a node without a cluster (a podman or containerd host with no etcd): it
/// keeps only the pods' state, put back from the plugin's records as a cluster node's daemon
/// does (see `PodState`). The kernel's notifications trigger a pass (a bridge removed or set
/// down, an address removed from one, a table of podwire's removed); a timer is the safety net.
public final class PodGuard: Service, Sendable {
    let dataDir: String
    let resync: Int
    let logger: Logger
    let metrics: NodeMetrics
    let health: Health

    public init(dataDir: String, resync: Int = 60, logger: Logger, metrics: NodeMetrics = NodeMetrics(),
                health: Health = Health()) {
        self.dataDir = dataDir
        self.resync = resync
        self.logger = logger
        self.metrics = metrics
        self.health = health
    }

    public func run() async throws {
        let state = PodState(socket: try RouteSocket(), dataDir: dataDir)
        // Repeats collapse: a pass asked for and not begun takes the place of the next one.
        let (wakeups, wake) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { pool.shutdownGracefully { _ in } }
        health.markRegistered()
        wake.yield("start")
        logger.info("guarding the pods' state", metadata: ["data-dir": "\(dataDir)"])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await KernelWatch.bridges { wake.yield($0) } }
                    group.addTask { await KernelWatch.tables { wake.yield($0) } }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(self.resync))
                            wake.yield("timer")
                        }
                    }
                    for await reason in wakeups {
                        // Blocking: on the pool's thread, never on Swift's cooperative one.
                        let outcome = try await pool.runIfActive { state.restore() }
                        self.report(outcome, reason: reason)
                    }
                }
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {}
        logger.info("stopped; the pods' state stays as it is")
    }

    private func report(_ outcome: PodState.Outcome, reason: String) {
        metrics.reconciles.increment()
        health.markDataPath(outcome.problems.isEmpty)
        health.setDegraded(outcome.problems.isEmpty ? [:] : ["": outcome.problems])
        for problem in outcome.problems {
            metrics.kernelRefusals.increment()
            logger.warning("cannot put back a pod's state", metadata: ["problem": "\(problem)"])
        }
        for (kind, entries) in outcome.repairs.sorted(by: { $0.key < $1.key }) {
            metrics.repaired(kind, count: entries.count)
            logger.notice("put back what something else removed", metadata: [
                "kind": "\(kind)", "missing": "\(entries.joined(separator: ", "))", "reason": "\(reason)",
            ])
        }
    }
}
