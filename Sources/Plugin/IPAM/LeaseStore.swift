#if canImport(Glibc)
import Glibc
#endif
import Addressing
import CNI
import Syscall
import Identity

/// Who holds a lease: the reference writes `<containerID>\r\n<ifname>`; leases from
/// its older versions hold the container ID alone, which matches any ifname.
public struct LeaseOwner: Hashable, Sendable {
    public var containerID: String
    public var ifname: String?

    public init(containerID: String, ifname: String?) {
        self.containerID = containerID
        self.ifname = ifname
    }

    /// The file content the reference writes, byte for byte.
    var fileContent: [UInt8] { Array((containerID + "\r\n" + (ifname ?? "")).utf8) }

    /// Parses a lease file as the reference compares it: white space trimmed at both ends.
    init?(fileContent bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespaceAndNewlines
        guard !text.isEmpty else { return nil }
        let lines = text.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false)
        containerID = String(lines[0])
        ifname = lines.count > 1 ? String(lines[1]) : nil
    }

    /// Whether this lease belongs to the attachment (`containerID`, `ifname`).
    public func matches(containerID: String, ifname: String) -> Bool {
        self.containerID == containerID && (self.ifname == nil || self.ifname == ifname)
    }
}

public struct Lease: Equatable, Sendable {
    public var address: IPAddress
    /// nil when the file is empty or unreadable: a lease cut short by a crash of the
    /// reference plugin, which writes the file in two steps.
    public var owner: LeaseOwner?
}

/// The host-local store: `<dataDir>/<network>/<IP>` files, `last_reserved_ip.<N>` and a
/// `lock` file taken with `flock`, all as the reference host-local lays them out, so both
/// can serve one directory at once.
///
/// Every file is opened relative to the network directory's descriptor with `O_NOFOLLOW`,
/// so a symlink planted in the directory is never followed.
public final class LeaseStore {
    public let path: String
    private let directory: Int32
    private let lockFile: Int32
    /// podwire's own index, attachment -> addresses, beside (never inside) the reference's
    /// directory: `<dataDir>/.podwire.<network>/`. It spares reading every lease file to find
    /// one attachment's, and is only a hint: each address it names is checked against the
    /// lease file before it is trusted.
    private let index: Int32

    /// Where a lease is written before it is linked under its address: the address file
    /// then appears complete or not at all, whatever instant the process is killed.
    ///
    /// A released lease is renamed to this name rather than deleted, and the index's
    /// `.staging` likewise, so that the next ADD writes into an existing file: on the ext4
    /// these benchmarks run on, a new inode costs about 0.3 ms and truncating a file to zero
    /// 0.2 ms, overwriting a few bytes in place 0.03 ms.
    static let stagingName = ".podwire-lease"
    static let indexStagingName = ".staging"
    static let lastReservedPrefix = "last_reserved_ip."

    /// Opens the network's store, creating it unless `create` is false (a read-only
    /// view must not leave directories behind for a network that has none).
    public init(dataDir: String, network: String, create: Bool = true) throws(CNIError) {
        path = dataDir.hasSuffix("/") ? dataDir + network : dataDir + "/" + network
        if !create && !Syscall.access(path, F_OK) {
            throw CNIError(CNIError.ioFailure, "no IPAM store for network \(network) at \(path)")
        }
        do {
            directory = try Self.openDirectory(path, in: dataDir)
        } catch {
            throw CNIError(CNIError.ioFailure, "cannot open the IPAM store \(path): \(error)")
        }
        do {
            lockFile = try Syscall.openat(directory, "lock", O_RDONLY | O_CREAT | O_NOFOLLOW, mode: 0o600)
        } catch {
            Syscall.close(directory)
            throw CNIError(CNIError.ioFailure, "cannot open the IPAM store's lock \(path)/lock: \(error)")
        }
        let indexPath = (dataDir.hasSuffix("/") ? dataDir : dataDir + "/") + Self.indexDirectoryName(network)
        do {
            index = try Self.openDirectory(indexPath, in: dataDir)
        } catch {
            Syscall.close(lockFile)
            Syscall.close(directory)
            throw CNIError(CNIError.ioFailure, "cannot open the IPAM index \(indexPath): \(error)")
        }
    }

    deinit {
        Syscall.close(index)
        Syscall.close(lockFile)
        Syscall.close(directory)
    }

    /// How long an operation waits for the lock before it tells the runtime to try again.
    /// Each holder keeps it for a millisecond or so; a wait this long means a stuck process.
    public static let lockPatience: Duration = .seconds(10)

    /// Runs `body` holding the store's exclusive lock, the same `flock` the reference takes.
    /// A lock still held after `patience` is code 11, try again later, not an endless wait.
    public func locked<T>(patience: Duration = LeaseStore.lockPatience, _ body: () throws -> T) throws -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        var pause = Duration.microseconds(100)
        while true {
            do {
                try Syscall.flock(lockFile, LOCK_EX | LOCK_NB, subject: "\(path)/lock")
                break
            } catch let error where error.errno == EWOULDBLOCK {
                if clock.now >= deadline {
                    throw CNIError(CNIError.tryAgainLater,
                                   "the IPAM store \(path) is locked by another process; try again later")
                }
                Syscall.sleep(pause)
                pause = min(pause * 2, .milliseconds(5))
            } catch {
                throw CNIError(CNIError.ioFailure, "cannot lock the IPAM store: \(error)")
            }
        }
        defer { try? Syscall.flock(lockFile, LOCK_UN) }
        return try body()
    }

    // MARK: Reading (call with the lock held)

    /// The addresses with a lease file: the directory listing alone, no file is read.
    public func leasedAddresses() throws(CNIError) -> Set<IPAddress> {
        Set(try names().compactMap { IPAddress($0) })
    }

    /// Every lease with its owner.
    public func leases() throws(CNIError) -> [Lease] {
        try names().compactMap { name in
            guard let address = IPAddress(name) else { return nil }
            return Lease(address: address, owner: readFile(name).flatMap(LeaseOwner.init(fileContent:)))
        }
    }

    public func lastReserved(rangeSet index: Int) -> IPAddress? {
        readFile(Self.lastReservedPrefix + String(index)).flatMap {
            IPAddress(String(decoding: $0, as: UTF8.self).trimmingWhitespaceAndNewlines)
        }
    }

    // MARK: Writing (call with the lock held)

    /// Writes the owner's lease once under a staging name and hands `body` a claim that
    /// links it under an address: the address file appears complete, or not at all.
    public func withStagedLease<T>(for owner: LeaseOwner,
                                   _ body: (_ claim: (IPAddress, Int) throws -> Bool) throws -> T) throws -> T {
        do {
            try Self.stage(owner.fileContent, as: Self.stagingName, in: directory)
        } catch {
            throw CNIError(CNIError.ioFailure, "cannot write a lease in \(path): \(error)")
        }
        defer { try? Syscall.unlinkat(directory, Self.stagingName) }
        return try body { address, rangeSet in try self.claim(address, rangeSet: rangeSet) }
    }

    /// Links the staged lease under `address`; false when another attachment holds it.
    private func claim(_ address: IPAddress, rangeSet index: Int) throws(CNIError) -> Bool {
        let name = address.description
        do {
            do {
                try Syscall.linkat(directory, Self.stagingName, name)
            } catch let error where error.errno == EEXIST {
                return false
            }
            try Self.overwrite(Self.lastReservedPrefix + String(index), in: directory, with: Array(name.utf8))
            return true
        } catch {
            throw CNIError(CNIError.ioFailure, "cannot write lease \(path)/\(name): \(error)")
        }
    }

    /// The owner of one lease, read from its file.
    public func owner(of address: IPAddress) -> LeaseOwner? {
        readFile(address.description).flatMap(LeaseOwner.init(fileContent:))
    }

    // MARK: The attachment index

    /// The addresses the index lists for the attachment, or nil when it has no entry
    /// (leases written by the reference plugin, or before podwire kept an index).
    public func indexedAddresses(containerID: String, ifname: String) -> [IPAddress]? {
        let flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK
        guard let fd = try? Syscall.openat(index, Self.indexName(containerID, ifname), flags) else { return nil }
        defer { Syscall.close(fd) }
        guard let bytes = try? Syscall.readAll(fd, limit: 16384) else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { IPAddress($0) }
    }

    /// Records the attachment's addresses, and after them `note`, one line that is not an
    /// address (what the attachment put on the node); written whole under a temporary name and
    /// renamed, so a reader sees the old entry or the new one.
    public func recordIndex(containerID: String, ifname: String, addresses: [IPAddress],
                            note: String? = nil) throws(CNIError) {
        let name = Self.indexName(containerID, ifname)
        do {
            // Not `joined(separator:)`: its unspecialised generic costs a conformance scan.
            var lines = ""
            for address in addresses { lines += (lines.isEmpty ? "" : "\n") + address.description }
            if let note { lines += (lines.isEmpty ? "" : "\n") + note }
            try Self.stage(Array(lines.utf8), as: Self.indexStagingName, in: index)
            try Syscall.renameat(index, Self.indexStagingName, name)
        } catch {
            throw CNIError(CNIError.ioFailure, "cannot write the IPAM index entry \(name): \(error)")
        }
    }

    /// The note of every attachment's entry, by the entry's name (`indexName`), with the time
    /// the entry was written (seconds since the epoch); none where the entry has no note or is
    /// no plain file. Takes no lock: an entry is replaced whole.
    public func indexNotes() -> [String: (note: String, written: Int)] {
        var notes: [String: (note: String, written: Int)] = [:]
        for name in (try? Syscall.listDirectory(index)) ?? [] where name != Self.indexStagingName {
            guard let fd = try? Syscall.openat(index, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { continue }
            defer { Syscall.close(fd) }
            guard let info = try? Syscall.fstat(fd), info.st_mode & S_IFMT == S_IFREG,
                  let bytes = try? Syscall.readAll(fd, limit: 16384) else { continue }
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            if let note = lines.first(where: { $0.hasPrefix("{") }) {
                notes[name] = (String(note), Int(info.st_mtim.tv_sec))
            }
        }
        return notes
    }

    public func dropIndex(containerID: String, ifname: String) {
        _ = try? Self.retire(Self.indexName(containerID, ifname), in: index, keepingAs: Self.indexStagingName)
    }

    /// Drops every entry of an attachment not in `valid`.
    public func dropIndex(keeping valid: [Attachment]) {
        let keep = Set(valid.map { Self.indexName($0.containerID, $0.ifname) })
        let names = (try? Syscall.listDirectory(index)) ?? []
        for name in names where name != Self.indexStagingName && !keep.contains(name) {
            _ = try? Self.retire(name, in: index, keepingAs: Self.indexStagingName)
        }
    }

    /// `<containerID>%<ifname as hex>`: container IDs are validated to be file-name safe,
    /// ifnames are not, so they are spelled out. A name longer than a file name may be has
    /// the container ID's digest instead (`#` and 16 hex digits; no container ID starts with
    /// `#`): container IDs may have 1024 bytes.
    public static func indexName(_ containerID: String, _ ifname: String) -> String {
        let name = containerID + "%" + ifname.utf8.hexString()
        return name.utf8.count <= nameMax ? name : "#" + FNV1a.hex(containerID.utf8) + "%" + ifname.utf8.hexString()
    }

    /// `.podwire.<network>`, or the network name's digest where that is too long a file name.
    public static func indexDirectoryName(_ network: String) -> String {
        let name = ".podwire." + network
        return name.utf8.count <= nameMax ? name : ".podwire.#" + FNV1a.hex(network.utf8)
    }

    static let nameMax = Int(NAME_MAX)

    /// The retired inode kept as the next staging file is blanked: after a DEL no file of the
    /// store names the container (operators grep for it, and the reference host-local's
    /// release by ID reads every file).
    public func release(_ address: IPAddress) throws(CNIError) {
        do {
            if try Self.retire(address.description, in: directory, keepingAs: Self.stagingName) {
                try Self.blank(Self.stagingName, in: directory)
            }
        } catch let error where error.errno == ENOENT {
        } catch {
            throw CNIError(CNIError.ioFailure, "cannot remove lease \(path)/\(address): \(error)")
        }
    }

    // MARK: Files

    private func names() throws(CNIError) -> [String] {
        do {
            return try Syscall.listDirectory(directory, subject: path)
        } catch {
            throw CNIError(CNIError.ioFailure, "cannot list the IPAM store \(path): \(error)")
        }
    }

    /// A regular file's bytes, or nil if it is missing, not a regular file, or unreadable.
    private func readFile(_ name: String) -> [UInt8]? {
        guard let fd = try? Syscall.openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else { return nil }
        defer { Syscall.close(fd) }
        guard let info = try? Syscall.fstat(fd), info.st_mode & S_IFMT == S_IFREG else { return nil }
        return try? Syscall.readAll(fd, limit: 4096, subject: name)
    }

    /// Makes `bytes` the whole of the file `name`, writing over what it held: never a new
    /// inode, never a truncation to zero (see `stagingName`).
    private static func overwrite(_ name: String, in directory: Int32, with bytes: [UInt8]) throws(SyscallError) {
        let fd = try Syscall.openat(directory, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, mode: 0o644)
        defer { Syscall.close(fd) }
        try write(bytes, over: fd, holding: Int(try Syscall.fstat(fd, subject: name).st_size), name: name)
    }

    /// A truncation is a journalled change of its own (about 20 µs here), so it is made only
    /// when the file held more than `bytes`.
    private static func write(_ bytes: [UInt8], over fd: Int32, holding size: Int, name: String) throws(SyscallError) {
        try Syscall.writeAll(fd, bytes, subject: name)
        if size > bytes.count { try Syscall.ftruncate(fd, bytes.count, subject: name) }
    }

    /// Writes a staging file, over its retired inode when it has one.
    private static func stage(_ bytes: [UInt8], as name: String, in directory: Int32) throws(SyscallError) {
        let (fd, size) = try openStaging(name, in: directory)
        defer { Syscall.close(fd) }
        try write(bytes, over: fd, holding: size, name: name)
    }

    /// A file still linked elsewhere is somebody's lease (a process killed between linking it
    /// and dropping the staging name), and anything but a plain file is not ours to write:
    /// either is set aside for a new one.
    private static func openStaging(_ name: String,
                                    in directory: Int32) throws(SyscallError) -> (fd: Int32, size: Int) {
        let flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK
        let fd = try Syscall.openat(directory, name, flags, mode: 0o644)
        let info: stat
        do { info = try Syscall.fstat(fd, subject: name) } catch { Syscall.close(fd); throw error }
        if info.st_mode & S_IFMT == S_IFREG && info.st_nlink == 1 { return (fd, Int(info.st_size)) }
        Syscall.close(fd)
        try Syscall.unlinkat(directory, name)
        return (try Syscall.openat(directory, name, flags | O_EXCL, mode: 0o644), 0)
    }

    /// Removes `name`, keeping its inode as the staging file `spare` when that name is free;
    /// true when it was kept.
    @discardableResult
    private static func retire(_ name: String, in directory: Int32,
                               keepingAs spare: String) throws(SyscallError) -> Bool {
        do {
            try Syscall.renameat(directory, name, spare, replacing: false)
            return true
        } catch let error where error.errno == EEXIST || error.errno == EINVAL {
            // EINVAL: a file system without RENAME_NOREPLACE.
            try Syscall.unlinkat(directory, name)
            return false
        }
    }

    /// Writes spaces over the whole file, in place: no truncation (see `stagingName`), and a
    /// lease reader trims them to an empty owner.
    private static func blank(_ name: String, in directory: Int32) throws(SyscallError) {
        let fd = try Syscall.openat(directory, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK)
        defer { Syscall.close(fd) }
        let size = Int(try Syscall.fstat(fd, subject: name).st_size)
        try Syscall.writeAll(fd, [UInt8](repeating: 0x20, count: size), subject: name)
    }

    /// Opens one of the store's directories, first making it and `dataDir` above it when it
    /// does not exist: on every call but a network's first it does, and one open costs less
    /// than a mkdir per component of the path.
    private static func openDirectory(_ path: String, in dataDir: String) throws(SyscallError) -> Int32 {
        let flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW
        do {
            return try Syscall.open(path, flags)
        } catch let error where error.errno == ENOENT {
            try makeDirectories(dataDir)
            do { try Syscall.mkdir(path, mode: 0o755) } catch let error where error.errno == EEXIST {}
            return try Syscall.open(path, flags)
        }
    }

    /// `mkdir -p` with mode 0755, as the reference creates its data directory.
    private static func makeDirectories(_ path: String) throws(SyscallError) {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + String(component)
            do { try Syscall.mkdir(prefix, mode: 0o755) } catch let error where error.errno == EEXIST {}
        }
    }
}

extension String {
    var trimmingWhitespaceAndNewlines: String {
        let bytes = Array(utf8)
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0d) }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
              let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
