#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Changes to one file, as inotify tells them, through a watch on its directory: the file
/// written, replaced by a rename, deleted or moved away; or the directory itself gone.
public final class FileWatch {
    private let descriptor: Int32
    private let directory: String
    private let name: String
    private var watching = false

    public init(_ path: String) throws(SyscallError) {
        let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
        directory = slash.map { String(path[..<$0]) } ?? "."
        name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        descriptor = try Syscall.inotify()
    }

    deinit { Syscall.close(descriptor) }

    /// Waits until the file may have changed. While its directory is missing, looks for it
    /// again every second and returns once it is there.
    public func next() throws(SyscallError) {
        while !watching {
            do {
                try Syscall.watch(descriptor, directory.isEmpty ? "/" : directory,
                                  mask: UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE
                                               | IN_DELETE_SELF | IN_MOVE_SELF))
                watching = true
                return
            } catch where error.errno == ENOENT {
                Syscall.sleep(.seconds(1))
            }
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SyscallError) in try Syscall.read(descriptor, into: raw, subject: directory) }
            }.get()
            var offset = 0, changed = false
            while offset + MemoryLayout<inotify_event>.size <= count {
                let event = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: inotify_event.self) }
                let start = offset + MemoryLayout<inotify_event>.size
                let end = min(count, start + Int(event.len))
                let named = buffer[start..<end].prefix { $0 != 0 }
                if event.mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
                    // The directory went: the watch with it.
                    watching = false
                    changed = true
                } else if String(decoding: named, as: UTF8.self) == name {
                    changed = true
                }
                offset = end
            }
            if changed { return }
        }
    }
}
