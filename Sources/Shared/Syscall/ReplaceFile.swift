#if canImport(Glibc)
import Glibc
#endif

extension Syscall {
    /// Written to a temporary file beside `path` and renamed over it, so a reader never reads
    /// half of it; unchanged content is not written again (false). Missing directories are made.
    @discardableResult
    public static func replaceFile(_ path: String, with content: String) throws(SyscallError) -> Bool {
        let bytes = Array(content.utf8)
        if let fd = try? open(path, O_RDONLY) {
            defer { close(fd) }
            if (try? readAll(fd, subject: path)) == bytes { return false }
        }
        let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        try makeDirectories(directory)
        let directoryFD = try open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY)
        defer { close(directoryFD) }
        let temporary = "." + name + ".tmp"
        let fd = try openat(directoryFD, temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        do {
            defer { close(fd) }
            try writeAll(fd, bytes, subject: path)
        }
        try renameat(directoryFD, temporary, name)
        return true
    }

    /// `mkdir -p`: each missing directory of `path`, from the top.
    public static func makeDirectories(_ path: String) throws(SyscallError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component + "/"
            do {
                try mkdir(prefix, mode: 0o755)
            } catch where error.errno == EEXIST {}
        }
    }
}
