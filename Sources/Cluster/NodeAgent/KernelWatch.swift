#if canImport(Glibc)
import Glibc
#endif
import Firewall
import NetfilterNetlink
import Netlink
import RouteNetlink
import Syscall

/// Watchers of the kernel that block in it: each runs on a thread of its own, off Swift's
/// cooperative pool, and only signals the loop that does the work.
public enum KernelWatch {
    /// Runs `watch` on a thread of its own and hands `signal` every reason it yields, until it
    /// returns.
    public static func onThread(_ signal: @escaping @Sendable (String) -> Void,
                                _ watch: @escaping (AsyncStream<String>.Continuation) -> Void) async {
        let (reasons, continuation) = AsyncStream.makeStream(of: String.self)
        _ = try? JoinableThread {
            watch(continuation)
            continuation.finish()
        }
        for await reason in reasons { signal(reason) }
    }

    /// A table of podwire's, or a chain or set of one, removed (`nft flush ruleset`, a
    /// firewall manager's reload): a pass declares it again and puts back the pods' entries.
    public static func tables(_ signal: @escaping @Sendable (String) -> Void) async {
        let ours: Set<String> = [PodFirewall.table, SpoofCheck.table, Untracked.table]
        await onThread(signal) { continuation in
            guard let socket = try? NetfilterSocket.tableEvents() else { return }
            while true {
                do {
                    for removal in try socket.nextTableRemovals() where ours.contains(removal.table) {
                        let what = "\(removal.object.rawValue) of table \(removal.table)"
                        continuation.yield("kernel: nftables \(what) removed")
                    }
                } catch let error as NetlinkError where error.errno == ENOBUFS {
                    continuation.yield("kernel: nftables notifications lost")
                } catch {
                    return
                }
            }
        }
    }

    /// Any bridge removed or set down, or an address removed from one: what a pods' bridge
    /// loses when other software takes it over or deletes it.
    public static func bridges(_ signal: @escaping @Sendable (String) -> Void) async {
        await onThread(signal) { continuation in
            guard let socket = try? RouteSocket.stateEvents() else { return }
            var bridges = Set(((try? RouteSocket().links()) ?? []).filter { $0.kind == "bridge" }.map(\.index))
            while true {
                do {
                    for event in try socket.nextStateEvents() {
                        switch event {
                        case let .link(link, removed) where link.kind == "bridge":
                            if removed || !link.isUp {
                                if bridges.contains(link.index) {
                                    continuation.yield("kernel: bridge \(link.name) \(removed ? "removed" : "down")")
                                }
                            }
                            if removed { bridges.remove(link.index) } else if link.isUp { bridges.insert(link.index) }
                        case let .address(address, link, true) where bridges.contains(link):
                            continuation.yield("kernel: address \(address) removed")
                        default:
                            continue
                        }
                    }
                } catch let error as NetlinkError where error.errno == ENOBUFS {
                    continuation.yield("kernel: notifications lost")
                } catch {
                    return
                }
            }
        }
    }
}
