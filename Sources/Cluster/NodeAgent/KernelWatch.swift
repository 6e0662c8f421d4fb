#if canImport(Glibc)
import Glibc
#endif
import Firewall
import NetfilterNetlink
import Netlink
import RouteNetlink
import Synchronization
import Syscall

/// Watchers of the kernel that block in it: each runs on a thread of its own, off Swift's
/// cooperative pool, and only signals the loop that does the work.
public enum KernelWatch {
    /// Where a watcher's thread sends its reasons.
    public struct Reasons: Sendable {
        let continuation: AsyncStream<String>.Continuation
        let ended: Flag

        /// False once nobody listens: a watcher that sends nothing for long stops on it.
        public var isListening: Bool { !ended.isSet }

        /// False once nobody listens (the task it served was cancelled): the watcher returns
        /// then, and its thread ends.
        @discardableResult
        public func send(_ reason: String) -> Bool {
            if case .terminated = continuation.yield(reason) { return false }
            return true
        }

        public func send(_ reasons: [String]) -> Bool {
            reasons.allSatisfy { send($0) }
        }
    }

    /// Runs `watch` on a thread of its own and hands `signal` every reason it sends, until
    /// either ends.
    public static func onThread(_ signal: @escaping @Sendable (String) -> Void,
                                _ watch: @escaping (Reasons) -> Void) async {
        let (reasons, continuation) = AsyncStream.makeStream(of: String.self)
        let ended = Flag()
        continuation.onTermination = { _ in ended.set() }
        _ = try? JoinableThread {
            watch(Reasons(continuation: continuation, ended: ended))
            continuation.finish()
        }
        for await reason in reasons { signal(reason) }
    }

    /// A table of podwire's, or a chain or set of one, removed (`nft flush ruleset`, a
    /// firewall manager's reload): a pass declares it again and puts back the pods' entries.
    public static func tables(_ signal: @escaping @Sendable (String) -> Void) async {
        let ours: Set<String> = [PodFirewall.table, SpoofCheck.table, Untracked.table]
        await onThread(signal) { reasons in
            guard let socket = try? NetfilterSocket.tableEvents() else { return }
            while true {
                do {
                    let removals = try socket.nextTableRemovals().filter { ours.contains($0.table) }
                    guard reasons.send(removals.map {
                        "kernel: nftables \($0.object.rawValue) of table \($0.table) removed"
                    }) else { return }
                } catch let error as NetlinkError where error.errno == ENOBUFS {
                    guard reasons.send("kernel: nftables notifications lost") else { return }
                } catch {
                    return
                }
            }
        }
    }

    /// The kernel's state events (`RouteSocket.stateEvents`), each judged on the watcher's
    /// thread by the judge `makeJudge` returns there (it may look the kernel up first, off the
    /// cooperative pool): a reason, or nil for an event that touches nothing of podwire's.
    /// Notifications lost to a full socket buffer are a reason of their own.
    public static func stateEvents(_ signal: @escaping @Sendable (String) -> Void,
                                   _ makeJudge: @escaping () -> (StateEvent) -> String?) async {
        await onThread(signal) { reasons in
            guard let socket = try? RouteSocket.stateEvents() else { return }
            let judge = makeJudge()
            while true {
                var found: [String]
                do {
                    found = try socket.nextStateEvents().compactMap(judge)
                } catch let error as NetlinkError where error.errno == ENOBUFS {
                    found = ["kernel: notifications lost"]
                } catch {
                    return
                }
                guard reasons.send(found) else { return }
            }
        }
    }

    /// Any bridge removed or set down, or an address removed from one: what a pods' bridge
    /// loses when other software takes it over or deletes it.
    public static func bridges(_ signal: @escaping @Sendable (String) -> Void) async {
        await stateEvents(signal) {
            var bridges = Set(((try? RouteSocket().links()) ?? []).filter { $0.kind == "bridge" }.map(\.index))
            return { event in
                switch event {
                case let .link(link, removed) where link.kind == "bridge":
                    let known = bridges.contains(link.index)
                    if removed { bridges.remove(link.index) } else if link.isUp { bridges.insert(link.index) }
                    guard (removed || !link.isUp) && known else { return nil }
                    return "kernel: bridge \(link.name) \(removed ? "removed" : "down")"
                case let .address(address, link, true) where bridges.contains(link):
                    return "kernel: address \(address) removed"
                default:
                    return nil
                }
            }
        }
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }
}
