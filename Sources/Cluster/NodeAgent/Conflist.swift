#if canImport(Glibc)
import Glibc
#endif
import ClusterModel
import JSON
import Syscall

/// The network config the node's runtime reads: podwire with the node's subnets, its pods
/// masqueraded towards everything but the cluster, and the portmap capability.
public enum Conflist {
    public static func make(node: NodeRecord, config: ClusterConfig, bridge: String, mtu: Int,
                            dataDir: String? = nil) -> String {
        let ranges: [JSONValue] = node.subnets.map { .array([.object(["subnet": .string("\($0)")])]) }
        var ipam: [String: JSONValue] = ["type": .string("host-local"), "ranges": .array(ranges)]
        if let dataDir { ipam["dataDir"] = .string(dataDir) }
        let plugin: JSONValue = .object([
            "type": .string("podwire"), "bridge": .string(bridge), "isGateway": .bool(true),
            "isDefaultGateway": .bool(true), "ipMasq": .bool(true), "mtu": .number(Double(mtu)),
            "hairpinMode": .bool(true),
            "noMasqueradeDestinations": .array(config.networks.map { .string("\($0)") }),
            "capabilities": .object(["portMappings": .bool(true)]),
            "ipam": .object(ipam),
        ])
        let conflist: JSONValue = .object([
            "cniVersion": .string("1.0.0"), "name": .string("podwire"), "plugins": .array([plugin]),
        ])
        return String(decoding: JSONWriter.write(conflist), as: UTF8.self) + "\n"
    }

    /// Written to a temporary file beside `path` and renamed over it, so a runtime never reads
    /// half of it; unchanged content is not written again (false). Missing directories are made.
    @discardableResult
    public static func write(_ content: String, to path: String) throws(SyscallError) -> Bool {
        let bytes = Array(content.utf8)
        if let fd = try? Syscall.open(path, O_RDONLY) {
            defer { Syscall.close(fd) }
            if (try? Syscall.readAll(fd, subject: path)) == bytes { return false }
        }
        let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        try makeDirectories(directory)
        let directoryFD = try Syscall.open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY)
        defer { Syscall.close(directoryFD) }
        let temporary = "." + name + ".tmp"
        let fd = try Syscall.openat(directoryFD, temporary, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        do {
            defer { Syscall.close(fd) }
            try Syscall.writeAll(fd, bytes, subject: path)
        }
        try Syscall.renameat(directoryFD, temporary, name)
        return true
    }

    /// `mkdir -p`: each missing directory of `path`, from the top.
    static func makeDirectories(_ path: String) throws(SyscallError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component + "/"
            do {
                try Syscall.mkdir(prefix, mode: 0o755)
            } catch where error.errno == EEXIST {}
        }
    }
}
