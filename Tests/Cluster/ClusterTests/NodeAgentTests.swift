#if canImport(Glibc)
import Glibc
#endif
import Addressing
import ClusterModel
import Etcd
import Identity
import Logging
import Synchronization
import Testing
@testable import NodeAgent

/// The store in memory: a view, and watchers that get every change.
final class MemoryClusterStore: ClusterStore {
    private let state = Mutex((view: ClusterView(), watchers: [AsyncThrowingStream<[ClusterView.Change], Error>
                                                                   .Continuation]()))
    let config = ViewBuilder.config

    init(_ view: ClusterView) {
        var view = view
        view.config = Array(config.json.utf8)
        state.withLock { $0.view = view }
    }

    func config() async throws -> ClusterConfig { config }
    func setConfig(_ config: ClusterConfig, previous: ClusterConfig?) async throws -> Bool { false }
    func view() async throws -> ClusterView { state.withLock { $0.view } }

    func watch(from revision: Int64) -> AsyncThrowingStream<[ClusterView.Change], Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [ClusterView.Change].self)
        state.withLock { $0.watchers.append(continuation) }
        return stream
    }

    /// Changes the view and tells every watcher, as etcd does.
    func change(_ changes: ClusterView.Change...) {
        let watchers = state.withLock { state in
            for change in changes { state.view.apply(change) }
            state.view.revision += 1
            return state.watchers
        }
        for watcher in watchers { watcher.yield(changes) }
    }

    func commit(_ registration: Registration) async throws -> Bool {
        let name = registration.record.name
        change(.put(key: ClusterKeys.node(name), value: Array(registration.record.json.utf8)))
        for subnet in registration.claims { change(.put(key: ClusterKeys.subnet(subnet), value: Array(name.utf8))) }
        return true
    }

    func remove(name: String) async throws { change(.delete(key: ClusterKeys.node(name))) }
    func announce(name: String, addresses: [IPAddress], replacing: [IPAddress]?, ttl: Int) async throws -> Int64 {
        1
    }
    func renew(lease: Int64) async throws -> Bool { true }
    func announced(name: String) async throws -> String? { state.withLock { $0.view.alive[name] } }
    func record(_ name: String) -> [UInt8]? { state.withLock { $0.view.records[name] } }
    var watching: Bool { state.withLock { !$0.watchers.isEmpty } }
}

/// A data path that remembers what it was asked, takes a while, and refuses the peers it is told to.
final class MemoryDataPath: DataPath {
    let state = Mutex((passes: 0, peers: [String](), refuse: Set<String>(), refreshes: 0))
    let delay: UInt32

    init(delay microseconds: UInt32 = 0) { delay = microseconds }

    func apply(node: NodeRecord, peers: [NodeRecord], config: ClusterConfig, refresh: Bool) throws -> PassOutcome {
        usleep(delay)
        return state.withLock { state in
            state.passes += 1
            if refresh { state.refreshes += 1 }
            state.peers = peers.map(\.name).sorted()
            var outcome = PassOutcome(added: 0, removed: 0, routes: peers.count * 2)
            for peer in peers.map(\.name) where state.refuse.contains(peer) {
                outcome.refusals[peer] = ["add route: File exists (EEXIST)"]
            }
            return outcome
        }
    }

    var passes: Int { state.withLock { $0.passes } }
    var peers: [String] { state.withLock { $0.peers } }
}

@Suite struct NodeAgentTests {
    let me = ViewBuilder.record("me", 1)

    /// An agent for `me` among `others`, following the store and looping until `body` returns.
    func running(_ others: [NodeRecord] = [ViewBuilder.record("b", 2), ViewBuilder.record("c", 3)],
                 dataPath: MemoryDataPath = MemoryDataPath(),
                 _ body: (NodeAgent, MemoryClusterStore, MemoryDataPath) async throws -> Void) async throws {
        var builder = ViewBuilder()
        builder.add(me)
        for other in others { builder.add(other) }
        let store = MemoryClusterStore(builder.view)
        let agent = NodeAgent(node: me, config: ViewBuilder.config, store: store, dataPath: dataPath,
                              logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                              metrics: NodeMetrics(), health: Health())
        agent.health.markRegistered()
        let follow = Task { try await agent.follow() }
        let loop = Task { try await agent.loop() }
        defer {
            follow.cancel()
            loop.cancel()
        }
        #expect(await Self.eventually { store.watching && dataPath.passes > 0 && agent.health.isHealthy })
        try await body(agent, store, dataPath)
    }

    func eventually(_ condition: () -> Bool) async -> Bool {
        await NodeAgentTests.eventually(condition)
    }

    static func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test func routesEveryPeerOfAListing() async throws {
        try await running { agent, _, dataPath in
            #expect(await eventually { dataPath.peers == ["b", "c"] })
        }
    }

    @Test func aBurstOfWatchEventsCostsAFewPasses() async throws {
        try await running(dataPath: MemoryDataPath(delay: 20_000)) { _, store, dataPath in
            #expect(await eventually { dataPath.peers == ["b", "c"] })
            let before = dataPath.passes
            // 100 peers join, each in a batch of its own (a record and its subnet keys).
            for n in 10..<110 {
                let record = ViewBuilder.record("n\(n)", n)
                store.change(.put(key: ClusterKeys.node(record.name), value: Array(record.json.utf8)),
                             .put(key: ClusterKeys.subnet(record.subnets[0]), value: Array(record.name.utf8)),
                             .put(key: ClusterKeys.subnet(record.subnets[1]), value: Array(record.name.utf8)))
                // A liveness key changes no peer: it costs no pass.
                store.change(.put(key: ClusterKeys.alive(record.name), value: []))
            }
            #expect(await eventually { dataPath.peers.count == 102 })
            try await Task.sleep(for: .milliseconds(200))
            let passes = dataPath.passes - before
            #expect(passes >= 1 && passes <= 5, "200 watch batches took \(passes) passes")
        }
    }

    @Test func aWatchEventDoesNotTakeTheKernelsPlace() async throws {
        try await running(dataPath: MemoryDataPath(delay: 100_000)) { agent, store, dataPath in
            #expect(await eventually { dataPath.peers == ["b", "c"] })
            try await Task.sleep(for: .milliseconds(300))
            func join(_ name: String, _ n: Int) {
                let record = ViewBuilder.record(name, n)
                store.change(.put(key: ClusterKeys.node(name), value: Array(record.json.utf8)),
                             .put(key: ClusterKeys.subnet(record.subnets[0]), value: Array(name.utf8)),
                             .put(key: ClusterKeys.subnet(record.subnets[1]), value: Array(name.utf8)))
            }
            // While a watch event's pass runs, the kernel reports a removal and then another
            // watch event comes: one pass follows for both, and it reads the kernel afresh.
            join("d", 4)
            #expect(await eventually { dataPath.passes > 0 && dataPath.state.withLock { $0.peers.count } == 3 })
            let refreshes = dataPath.state.withLock { $0.refreshes }
            join("e", 5)
            try await Task.sleep(for: .milliseconds(20))
            agent.signal("kernel: route 10.0.0.0/24 removed")
            join("f", 6)
            #expect(await eventually { dataPath.peers == ["b", "c", "d", "e", "f"] })
            try await Task.sleep(for: .milliseconds(300))
            #expect(dataPath.state.withLock { $0.refreshes } > refreshes,
                    "the kernel's trigger still read the kernel afresh")
        }
    }

    @Test func aRefusedPeerIsItsOwnProblemAndIsRetried() async throws {
        let dataPath = MemoryDataPath()
        dataPath.state.withLock { $0.refuse = ["b"] }
        try await running(dataPath: dataPath) { agent, _, dataPath in
            #expect(await eventually { dataPath.peers == ["b", "c"] })
            #expect(await eventually { agent.health.report.contains("degraded peer b: add route: File exists") })
            #expect(await eventually { agent.health.isHealthy }, "a refused peer does not make the node unhealthy")
            let passes = dataPath.passes
            #expect(await eventually { dataPath.passes > passes }, "retried")
            // With backoff: 0.5 s doubling, so a handful of passes in 1.5 s, not one per spacing.
            let start = dataPath.passes
            try await Task.sleep(for: .milliseconds(1500))
            #expect(dataPath.passes - start <= 4, "\(dataPath.passes - start) passes in 1.5 s while refused")
            dataPath.state.withLock { $0.refuse = [] }
            #expect(await eventually { !agent.health.report.contains("degraded") })
        }
    }

    @Test func aHostileRecordIsNotRoutedAndIsReported() async throws {
        try await running { agent, store, dataPath in
            #expect(await eventually { dataPath.peers == ["b", "c"] })
            var hijack = ViewBuilder.record("evil", 9)
            hijack.subnets = [IPNetwork("0.0.0.0/0")!]
            store.change(.put(key: ClusterKeys.node("evil"), value: Array(hijack.json.utf8)))
            store.change(.put(key: ClusterKeys.node("zz"), value: Array(ViewBuilder.record("b", 2).json.utf8)))
            #expect(await eventually { agent.health.report.contains("rejected record zz: name_mismatch") })
            #expect(agent.health.report.contains("rejected record evil: subnet"))
            #expect(dataPath.peers == ["b", "c"])
        }
    }

    @Test func theOwnRecordIsMendedAndItsDeletionStopsTheLoop() async throws {
        try await running { agent, store, dataPath in
            #expect(await eventually { dataPath.peers == ["b", "c"] })
            store.change(.put(key: ClusterKeys.node("me"), value: Array("garbage".utf8)))
            #expect(await eventually { store.record("me") == Array(me.json.utf8) })
            store.change(.delete(key: ClusterKeys.node("me")))
            try await Task.sleep(for: .milliseconds(200))
        }
        // Run on its own: the loop ends with NodeRemoved.
        var builder = ViewBuilder()
        builder.add(me)
        let store = MemoryClusterStore(builder.view)
        let agent = NodeAgent(node: me, config: ViewBuilder.config, store: store, dataPath: MemoryDataPath(),
                              logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                              metrics: NodeMetrics(), health: Health())
        let follow = Task { try await agent.follow() }
        defer { follow.cancel() }
        store.change(.delete(key: ClusterKeys.node("me")))
        await #expect(throws: NodeRemoved.self) { try await agent.loop() }
    }

    @Test func registrationKeepsSubnetsAndHandsBackItsView() async throws {
        let store = MemoryClusterStore(ClusterView())
        let here = [IPAddress("192.168.1.5")!]
        let (first, view) = try await store.register(name: "n", addresses: here, vtepMAC: VTEP.mac(node: "n"),
                                                     config: ViewBuilder.config)
        #expect(view.records["n"] == Array(first.json.utf8) && view.subnets(heldBy: "n") == first.subnets)
        let (again, _) = try await store.register(name: "n", addresses: [IPAddress("192.168.1.6")!],
                                                  vtepMAC: VTEP.mac(node: "n"), config: ViewBuilder.config)
        #expect(again.subnets == first.subnets && again.addresses == [IPAddress("192.168.1.6")!])
        let (other, _) = try await store.register(name: "m", addresses: here, vtepMAC: VTEP.mac(node: "m"),
                                                  config: ViewBuilder.config)
        #expect(Set(other.subnets).isDisjoint(with: first.subnets))
    }

    @Test func whatStopsTheDaemonAndWhatIsRetried() {
        #expect(NodeDaemon.isFinal(ClusterError.invalid("bad name")))
        #expect(NodeDaemon.isFinal(ClusterStoreError.nameHeld(name: "a", addresses: "192.168.1.1")))
        #expect(NodeDaemon.isFinal(EtcdError.settings("--cert needs --key")))
        #expect(!NodeDaemon.isFinal(EtcdError.unavailable("down")))
        #expect(!NodeDaemon.isFinal(ClusterStoreError.noConfig))
        #expect(!NodeDaemon.isFinal(EtcdError.stalled("paused")))
    }

    /// An address replaced is published; a family that lost its address keeps the registered
    /// one (a link flap takes IPv6 addresses with it); the list is never empty.
    @Test func whatTheNodePublishesOfItsUnderlay() {
        let v4 = IPAddress("192.168.10.1")!, v6 = IPAddress("fd10::1")!, other4 = IPAddress("192.168.10.11")!
        #expect(NodeDaemon.published(registered: [v4, v6], now: [other4, v6]) == [other4, v6])
        #expect(NodeDaemon.published(registered: [v4, v6], now: [v4]) == [v4, v6])
        #expect(NodeDaemon.published(registered: [v4, v6], now: []) == [v4, v6])
        #expect(NodeDaemon.published(registered: [v4], now: [v4, v6]) == [v4, v6])
    }
}
