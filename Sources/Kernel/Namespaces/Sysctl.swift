#if canImport(Glibc)
import Glibc
#endif
import Syscall

/// Kernel settings under /proc/sys, for the current thread's network namespace.
public enum Sysctl {
    /// Where forwarding of IPv4 (`ip_forward`) or IPv6 (`conf/all/forwarding`) is turned on.
    public static func forwarding(ipv6: Bool) -> String {
        ipv6 ? "/proc/sys/net/ipv6/conf/all/forwarding" : "/proc/sys/net/ipv4/ip_forward"
    }

    /// Sets `path` to `value` unless it already holds it, which spares a write (and the
    /// kernel's work behind it) on every call after the first; true when it wrote.
    @discardableResult
    public static func ensure(_ path: String, is value: String) throws(SyscallError) -> Bool {
        let reader = try Syscall.open(path, O_RDONLY)
        let current = Result { () throws(SyscallError) in try Syscall.readAll(reader, limit: 64, subject: path) }
        Syscall.close(reader)
        if String(decoding: try current.get(), as: UTF8.self).hasPrefix(value) { return false }
        // A fresh descriptor: /proc/sys honours the file position, and a write after the
        // read would land past the value.
        let writer = try Syscall.open(path, O_WRONLY)
        defer { Syscall.close(writer) }
        try Syscall.writeAll(writer, Array(value.utf8), subject: path)
        return true
    }
}
