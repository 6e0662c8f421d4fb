#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A failed system call: which one, on what, and errno. Every syscall podwire makes goes
/// through this file once, so the rest of the code throws instead of checking `-1`.
public struct SyscallError: Error, Equatable, Sendable, CustomStringConvertible {
    public var call: String
    public var subject: String
    public var errno: Int32

    public init(_ call: String, _ subject: String = "", errno: Int32) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return subject.isEmpty ? "\(call): \(reason)" : "\(call) \(subject): \(reason)"
    }
}

public enum Syscall {
    /// Runs `body` until it stops failing with EINTR; throws on any other failure.
    @discardableResult
    static func retrying<T: BinaryInteger>(_ call: String, _ subject: String = "",
                                           _ body: () -> T) throws(SyscallError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = Glibc.errno
            if code != EINTR { throw SyscallError(call, subject, errno: code) }
        }
    }

    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(SyscallError) -> Int32 {
        try retrying("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    public static func openat(_ directory: Int32, _ name: String, _ flags: Int32,
                              mode: mode_t = 0) throws(SyscallError) -> Int32 {
        try retrying("open", name) { Glibc.openat(directory, name, flags | O_CLOEXEC, mode) }
    }

    public static func close(_ fd: Int32) {
        // Linux releases the descriptor even when close reports EINTR; retrying would close
        // a descriptor another thread may have been handed meanwhile.
        _ = Glibc.close(fd)
    }

    public static func readAll(_ fd: Int32, limit: Int = 1 << 24,
                               subject: String = "") throws(SyscallError) -> [UInt8] {
        var result: [UInt8] = []
        // Small: every page of it the process touches costs a fault, and what podwire reads
        // (a config, a sysctl, a lease) is rarely more than a page.
        var chunk = [UInt8](repeating: 0, count: min(limit + 1, 4096))
        while true {
            let count = try retrying("read", subject) {
                chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            }
            if count == 0 { return result }
            result.append(contentsOf: chunk[..<count])
            if result.count > limit { throw SyscallError("read", subject, errno: EFBIG) }
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], subject: String = "") throws(SyscallError) {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(SyscallError) in try writeAll(fd, buffer, subject: subject) }
        }.get()
    }

    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer,
                                subject: String = "") throws(SyscallError) {
        var offset = 0
        while offset < bytes.count {
            offset += try retrying("write", subject) {
                Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            }
        }
    }

    public static func flock(_ fd: Int32, _ operation: Int32, subject: String = "") throws(SyscallError) {
        try retrying("flock", subject) { podwire_flock(fd, operation) }
    }

    public static func mkdir(_ path: String, mode: mode_t) throws(SyscallError) {
        try retrying("mkdir", path) { Glibc.mkdir(path, mode) }
    }

    public static func linkat(_ directory: Int32, _ from: String, _ to: String) throws(SyscallError) {
        try retrying("link", to) { Glibc.linkat(directory, from, directory, to, 0) }
    }

    public static func unlinkat(_ directory: Int32, _ name: String) throws(SyscallError) {
        try retrying("unlink", name) { Glibc.unlinkat(directory, name, 0) }
    }

    /// Renames within one directory; with `replacing: false`, EEXIST instead of replacing `to`.
    public static func renameat(_ directory: Int32, _ from: String, _ to: String,
                                replacing: Bool = true) throws(SyscallError) {
        let flags = replacing ? 0 : podwire_RENAME_NOREPLACE
        try retrying("rename", to) { CLinux.renameat2(directory, from, directory, to, flags) }
    }

    public static func setSocketOption(_ fd: Int32, level: Int32, option: Int32, value: Int32) throws(SyscallError) {
        var value = value
        try retrying("setsockopt") { Glibc.setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// Makes a blocking receive on the socket give up (EAGAIN) after `seconds`.
    public static func setReceiveTimeout(_ fd: Int32, seconds: Int) throws(SyscallError) {
        var limit = timeval(tv_sec: seconds, tv_usec: 0)
        try retrying("setsockopt(SO_RCVTIMEO)") {
            Glibc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    /// A stream socket connected to the Unix socket at `path`, whose reads give up after
    /// `timeout` seconds (EAGAIN): a peer that stopped answering cannot hold the caller.
    public static func connectUnix(_ path: String, timeout seconds: Int) throws(SyscallError) -> Int32 {
        let fd = try retrying("socket(AF_UNIX)", path) {
            Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SyscallError) {
            try setReceiveTimeout(fd, seconds: seconds)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                throw SyscallError("connect", path, errno: ENAMETOOLONG)
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            try retrying("connect", path) {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// A netlink socket of `protocol` (NETLINK_ROUTE, NETLINK_NETFILTER). The kernel binds it
    /// to a port of its choosing on the first send. It belongs to the network namespace of
    /// the thread that opens it.
    public static func netlinkSocket(_ protocol: Int32) throws(SyscallError) -> Int32 {
        let type = Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try retrying("socket(AF_NETLINK)") { Glibc.socket(AF_NETLINK, type, `protocol`) }
    }

    /// Binds a netlink socket to a port the kernel picks. A socket that only listens must be
    /// bound: the kernel sends its notifications to no socket of port 0.
    public static func bindNetlink(_ fd: Int32) throws(SyscallError) {
        // struct sockaddr_nl: family, padding, port id, groups.
        var address = (UInt16(AF_NETLINK), UInt16(0), UInt32(0), UInt32(0))
        try retrying("bind(AF_NETLINK)") {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, 12) }
            }
        }
    }

    /// Sends one datagram to the kernel (netlink port 0).
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, subject: String = "") throws(SyscallError) {
        let sent = try retrying("send", subject) { Glibc.send(fd, bytes.baseAddress, bytes.count, 0) }
        if sent != bytes.count { throw SyscallError("send", subject, errno: EMSGSIZE) }
    }

    /// Receives one datagram into `buffer`; returns its full length, which is larger than the
    /// buffer when the datagram was cut (MSG_TRUNC).
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer,
                               subject: String = "") throws(SyscallError) -> Int {
        try retrying("recv", subject) { Glibc.recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC)) }
    }

    /// An inotify instance (inotify_init1).
    public static func inotify() throws(SyscallError) -> Int32 {
        try retrying("inotify_init1") { CLinux.inotify_init1(Int32(IN_CLOEXEC)) }
    }

    /// Watches `path` for the events in `mask` (inotify_add_watch).
    public static func watch(_ inotify: Int32, _ path: String, mask: UInt32) throws(SyscallError) {
        try retrying("inotify_add_watch", path) { CLinux.inotify_add_watch(inotify, path, mask) }
    }

    /// One read of whatever is ready (at least one byte, or 0 at the end), into `buffer`.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer,
                            subject: String = "") throws(SyscallError) -> Int {
        try retrying("read", subject) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Bytes from the kernel's random source (getrandom, blocking only before it is seeded).
    public static func randomBytes(_ count: Int) throws(SyscallError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            filled += try bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(SyscallError) in
                    try retrying("getrandom") {
                        Int(CLinux.getrandom(buffer.baseAddress! + filled, UInt(count - filled), 0))
                    }
                }
            }.get()
        }
        return bytes
    }

    public static func ftruncate(_ fd: Int32, _ length: Int, subject: String = "") throws(SyscallError) {
        try retrying("truncate", subject) { Glibc.ftruncate(fd, off_t(length)) }
    }

    public static func fstat(_ fd: Int32, subject: String = "") throws(SyscallError) -> stat {
        var info = stat()
        try retrying("stat", subject) { Glibc.fstat(fd, &info) }
        return info
    }

    /// The kind of namespace behind `fd` (a `CLONE_NEW*` value); ENOTTY when it is not one.
    public static func namespaceType(_ fd: Int32, subject: String = "") throws(SyscallError) -> Int32 {
        try retrying("ioctl(NS_GET_NSTYPE)", subject) { Glibc.ioctl(fd, podwire_NS_GET_NSTYPE) }
    }

    public static let networkNamespace = podwire_CLONE_NEWNET

    public static func setns(_ fd: Int32, _ type: Int32, subject: String = "") throws(SyscallError) {
        try retrying("setns", subject) { CLinux.setns(fd, type) }
    }

    /// Moves this thread into new namespaces of the `CLONE_NEW*` kinds in `flags`.
    public static func unshare(_ flags: Int32) throws(SyscallError) {
        try retrying("unshare") { CLinux.unshare(flags) }
    }

    /// The names in a directory, without `.` and `..`. The descriptor stays open for the caller.
    public static func listDirectory(_ directory: Int32, subject: String = "") throws(SyscallError) -> [String] {
        let copy = try retrying("dup", subject) { Glibc.dup(directory) }
        guard let stream = fdopendir(copy) else {
            let code = Glibc.errno
            Glibc.close(copy)
            throw SyscallError("opendir", subject, errno: code)
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public static func pipe() throws(SyscallError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try retrying("pipe") { CLinux.pipe2(&fds, O_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Starts `path` with `arguments` and `environment`, its stdin and stdout connected to
    /// the given descriptors; stderr too when given, else shared with this process.
    public static func spawn(_ path: String, arguments: [String], environment: [String],
                             stdin: Int32, stdout: Int32, stderr: Int32? = nil) throws(SyscallError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        if let stderr { posix_spawn_file_actions_adddup2(&actions, stderr, 2) }
        // Nothing else of this process's is handed on: a daemon it starts (BIRD) would keep its
        // listening sockets open past its own exit.
        CLinux.posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        // The child starts with no signal blocked and the usual ones at their defaults, whatever
        // this thread blocks or ignores (a runtime's threads block signals that a dispatch source
        // handles): a daemon started so would otherwise never see SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        if result != 0 { throw SyscallError("spawn", path, errno: result) }
        return pid
    }

    /// Waits for `pid` and returns its exit status (128+signal when killed by a signal).
    public static func wait(_ pid: pid_t) throws(SyscallError) -> Int32 {
        var status: Int32 = 0
        try retrying("waitpid", "\(pid)") { Glibc.waitpid(pid, &status, 0) }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Sleeps the calling thread; a signal cutting it short just ends it early.
    public static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        _ = nanosleep(&request, nil)
    }

    /// Wall-clock time in UTC, broken down, with milliseconds: for timestamps people read.
    public static func utcNow() -> (time: tm, milliseconds: Int) {
        var now = timespec()
        _ = clock_gettime(CLOCK_REALTIME, &now)
        var broken = tm()
        _ = gmtime_r(&now.tv_sec, &broken)
        return (broken, now.tv_nsec / 1_000_000)
    }

    public static func access(_ path: String, _ mode: Int32) -> Bool {
        Glibc.access(path, mode) == 0
    }
}
