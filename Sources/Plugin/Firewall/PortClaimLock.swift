#if canImport(Glibc)
import Glibc
#endif
import Syscall

/// Host ports are claimed in two maps, one keyed with the host address and one without, and
/// no kernel key ties a claim on one address to a claim on every address: two ADDs, one of
/// each kind, could each find the port free and both commit. So reading the maps, checking
/// and committing are one step under a node-wide lock, which every podwire process takes
/// before it claims a port (and only then: most ADDs map none).
enum PortClaimLock {
    static let directory = "/run/podwire"
    static let path = directory + "/hostports.lock"

    static func held<T>(_ body: () throws(FirewallError) -> T) throws(FirewallError) -> T {
        let fd: Int32
        do {
            fd = try open()
            try Syscall.flock(fd, LOCK_EX, subject: path)
        } catch {
            throw .lock(error)
        }
        // Closing the descriptor releases the lock, also when the process is killed.
        defer { Syscall.close(fd) }
        return try body()
    }

    private static func open() throws(SyscallError) -> Int32 {
        let flags = O_RDWR | O_CREAT | O_NOFOLLOW
        do {
            return try Syscall.open(path, flags, mode: 0o600)
        } catch where error.errno == ENOENT {
            do { try Syscall.mkdir(directory, mode: 0o700) } catch where error.errno == EEXIST {}
            return try Syscall.open(path, flags, mode: 0o600)
        }
    }
}
