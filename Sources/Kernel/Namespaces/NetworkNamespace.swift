#if canImport(Glibc)
import Glibc
#endif
import Syscall

/// Why a netns path could not be used.
public enum NamespaceError: Error, Equatable, Sendable, CustomStringConvertible {
    case missing(String)
    case notANetworkNamespace(String)
    case system(SyscallError)

    public var description: String {
        switch self {
        case .missing(let path): return "network namespace \(path) does not exist"
        case .notANetworkNamespace(let path): return "\(path) is not a network namespace"
        case .system(let error): return error.description
        }
    }
}

/// An open network namespace (`/var/run/netns/NAME`, `/proc/PID/ns/net`). Holding the
/// descriptor keeps the namespace alive, and lets the kernel place a veth end into it.
public final class NetworkNamespace: @unchecked Sendable {
    public let path: String
    public let descriptor: Int32

    public init(path: String) throws(NamespaceError) {
        self.path = path
        do {
            descriptor = try Syscall.open(path, O_RDONLY)
        } catch {
            throw error.errno == ENOENT ? .missing(path) : .system(error)
        }
        // The ioctl answers only for nsfs files, so a regular file, a directory or a
        // namespace of another kind is refused before anything is done with it.
        let type = try? Syscall.namespaceType(descriptor, subject: path)
        if type != Syscall.networkNamespace {
            Syscall.close(descriptor)
            throw .notANetworkNamespace(path)
        }
    }

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { Syscall.close(descriptor) }

    /// A new network namespace with no name, which lasts as long as this object: nothing is
    /// left to clean up. The calling thread stays where it was.
    public static func throwaway() throws(NamespaceError) -> NetworkNamespace {
        let home: Int32
        do {
            home = try Syscall.open("/proc/thread-self/ns/net", O_RDONLY)
        } catch {
            throw .system(error)
        }
        defer { Syscall.close(home) }
        do {
            try Syscall.unshare(Syscall.networkNamespace)
        } catch {
            throw .system(error)
        }
        let created = Result { () throws(SyscallError) in try Syscall.open("/proc/thread-self/ns/net", O_RDONLY) }
        do {
            try Syscall.setns(home, Syscall.networkNamespace, subject: "own namespace")
        } catch {
            fatalError("cannot return to the original network namespace: \(error)")
        }
        do {
            return NetworkNamespace(descriptor: try created.get(), path: "(throwaway)")
        } catch {
            throw .system(error)
        }
    }

    /// Runs `body` with this thread inside the namespace and returns to the thread's own
    /// namespace before returning. Synchronous by design: `setns` moves only this thread.
    public func perform<T>(_ body: () throws -> T) throws -> T {
        let home: Int32
        do {
            home = try Syscall.open("/proc/thread-self/ns/net", O_RDONLY)
        } catch {
            throw NamespaceError.system(error)
        }
        do {
            try Syscall.setns(descriptor, Syscall.networkNamespace, subject: path)
        } catch {
            Syscall.close(home)
            throw NamespaceError.system(error)
        }
        defer {
            do {
                try Syscall.setns(home, Syscall.networkNamespace, subject: "own namespace")
            } catch {
                // Going on in the pod's namespace would configure the wrong node.
                fatalError("cannot return to the original network namespace: \(error)")
            }
            Syscall.close(home)
        }
        return try body()
    }
}
