import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// Whether the node's daemon is doing its job, as /healthz tells: registered, and its last
/// reconciliation went through.
public final class Health: Sendable {
    private let state = Mutex((registered: false, reconciled: false))

    public init() {}

    public func markRegistered() { state.withLock { $0.registered = true } }
    public func markReconciled(_ ok: Bool) { state.withLock { $0.reconciled = ok } }

    public var isHealthy: Bool { state.withLock { $0.registered && $0.reconciled } }
}

/// The daemon's figures, through swift-metrics, kept in a Prometheus registry.
public struct NodeMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let peers: Metrics.Gauge
    let routes: Metrics.Gauge
    let reconciles: Metrics.Counter
    let reconcileDuration: Metrics.Timer
    let etcdErrors: Metrics.Counter
    let leaseRenewals: Metrics.Counter

    public init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        peers = Metrics.Gauge(label: "podwire_peers", factory: factory)
        routes = Metrics.Gauge(label: "podwire_routes_programmed", factory: factory)
        reconciles = Metrics.Counter(label: "podwire_reconcile_runs_total", factory: factory)
        reconcileDuration = Metrics.Timer(label: "podwire_reconcile_duration_seconds", preferredDisplayUnit: .seconds,
                                          factory: factory)
        etcdErrors = Metrics.Counter(label: "podwire_etcd_errors_total", factory: factory)
        leaseRenewals = Metrics.Counter(label: "podwire_lease_renewals_total", factory: factory)
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
            health.isHealthy ? (.ok, Array("ok\n".utf8)) : (.serviceUnavailable, Array("not yet\n".utf8))
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
