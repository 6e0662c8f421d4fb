import BGP
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import ClusterModel
import Synchronization

/// Whether the node's daemon is doing its job, as /healthz tells: 200 while it is registered
/// and its data path could be read and written; the peers the kernel refused and the records
/// not believed are listed either way, as problems of their own.
public final class Health: Sendable {
    private struct State {
        var registered = false
        var dataPath = false
        var degraded: [String: [String]] = [:]
        var rejected: [String] = []
        var ownProblem: String?
        var bgp: [String] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func markRegistered() { state.withLock { $0.registered = true } }
    public func markDataPath(_ ok: Bool) { state.withLock { $0.dataPath = ok } }
    public func setDegraded(_ peers: [String: [String]]) { state.withLock { $0.degraded = peers } }
    public func setRejected(_ records: [String]) { state.withLock { $0.rejected = records } }
    /// The BGP sessions, a line each, or why they cannot be read: shown, not judged.
    public func setBGP(_ lines: [String]) { state.withLock { $0.bgp = lines } }
    /// A problem with the node's own record or subnet keys that the daemon could not mend.
    public func setOwnProblem(_ problem: String?) { state.withLock { $0.ownProblem = problem } }

    public var isHealthy: Bool { state.withLock { $0.registered && $0.dataPath && $0.ownProblem == nil } }

    /// The body of /healthz: "ok" or "unhealthy", then a line per problem.
    public var report: String {
        state.withLock { state in
            var lines = [state.registered && state.dataPath && state.ownProblem == nil ? "ok"
                         : !state.registered ? "unhealthy: not registered yet"
                         : state.ownProblem.map { "unhealthy: \($0)" } ?? "unhealthy: the data path cannot be set"]
            for (peer, refusals) in state.degraded.sorted(by: { $0.key < $1.key }) {
                for refusal in refusals { lines.append("degraded peer \(peer.isEmpty ? "-" : peer): \(refusal)") }
            }
            lines += state.rejected.map { "rejected record \($0)" }
            lines += state.bgp
            return lines.joined(separator: "\n") + "\n"
        }
    }
}

/// The daemon's figures, through swift-metrics, kept in a Prometheus registry.
public struct NodeMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let peers: Metrics.Gauge
    let routes: Metrics.Gauge
    let reconciles: Metrics.Counter
    let reconcileDuration: Metrics.Timer
    let etcdErrors: Metrics.Counter
    let leaseRenewals: Metrics.Counter
    let watchStalls: Metrics.Counter
    let kernelRefusals: Metrics.Counter
    let peersDegraded: Metrics.Gauge
    let recordsRejectedNow: Metrics.Gauge
    let ownRepairs: Metrics.Counter

    public init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        self.factory = factory
        peers = Metrics.Gauge(label: "podwire_peers", factory: factory)
        routes = Metrics.Gauge(label: "podwire_routes_programmed", factory: factory)
        reconciles = Metrics.Counter(label: "podwire_reconcile_runs_total", factory: factory)
        reconcileDuration = Metrics.Timer(label: "podwire_reconcile_duration_seconds", preferredDisplayUnit: .seconds,
                                          factory: factory)
        etcdErrors = Metrics.Counter(label: "podwire_etcd_errors_total", factory: factory)
        leaseRenewals = Metrics.Counter(label: "podwire_lease_renewals_total", factory: factory)
        watchStalls = Metrics.Counter(label: "podwire_watch_stalls_total", factory: factory)
        kernelRefusals = Metrics.Counter(label: "podwire_kernel_refusals_total", factory: factory)
        peersDegraded = Metrics.Gauge(label: "podwire_peers_degraded", factory: factory)
        recordsRejectedNow = Metrics.Gauge(label: "podwire_records_rejected", factory: factory)
        ownRepairs = Metrics.Counter(label: "podwire_own_record_repairs_total", factory: factory)
    }

    /// Counts what was put back in the kernel after something else removed it, by kind.
    func repaired(_ kind: String, count: Int) {
        Metrics.Counter(label: "podwire_kernel_repairs_total", dimensions: [("kind", kind)], factory: factory)
            .increment(by: count)
    }

    /// Each BGP session's state and routes, as BIRD last reported them.
    func bgp(_ sessions: [BGPSession]) {
        for session in sessions {
            let peer = [("session", session.name), ("neighbour", session.neighbour)]
            Metrics.Gauge(label: "podwire_bgp_session_established", dimensions: peer, factory: factory)
                .record(session.isEstablished ? 1 : 0)
            Metrics.Gauge(label: "podwire_bgp_routes_received", dimensions: peer, factory: factory)
                .record(session.received)
            Metrics.Gauge(label: "podwire_bgp_routes_announced", dimensions: peer, factory: factory)
                .record(session.announced)
        }
    }

    /// Counts a record newly rejected, by its reason.
    func rejected(_ reason: Rejection.Reason) {
        Metrics.Counter(label: "podwire_records_rejected_total", dimensions: [("reason", reason.rawValue)],
                        factory: factory).increment()
    }
}

/// `GET /metrics` (Prometheus text) and `GET /healthz` (200 or 503) over plain HTTP/1.1.
public struct StatusServer: Service {
    let host: String
    let port: Int
    let metrics: NodeMetrics
    let health: Health
    let logger: Logger

    public init(host: String, port: Int, metrics: NodeMetrics, health: Health, logger: Logger) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.health = health
        self.logger = logger
    }

    public func run() async throws {
        let metrics = self.metrics, health = self.health
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(StatusHandler(metrics: metrics, health: health))
                }
            }
            .bind(host: host, port: port).get()
        logger.info("status endpoint listening", metadata: ["address": "\(host):\(port)"])
        try? await gracefulShutdown()
        try await channel.close()
    }
}

private final class StatusHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let metrics: NodeMetrics
    let health: Health

    init(metrics: NodeMetrics, health: Health) {
        self.metrics = metrics
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let (status, body): (HTTPResponseStatus, [UInt8]) = switch (request.method, request.uri) {
        case (.GET, "/metrics"): (.ok, metrics.registry.emitToBuffer())
        case (.GET, "/healthz"):
            (health.isHealthy ? .ok : .serviceUnavailable, Array(health.report.utf8))
        default: (.notFound, Array("not found\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status,
                                                             headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
