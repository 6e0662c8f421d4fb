#if canImport(Glibc)
import Glibc
#endif
import Testing
import Addressing
import CNI
@testable import IPAM
import Identity

/// A data directory of its own per test, removed afterwards.
final class TemporaryDirectory {
    let path: String
    init() {
        var template = Array("/tmp/podwire-ipam-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }
    deinit { system("rm -rf '\(path)'") }

    func contents(_ name: String) -> String? {
        guard let file = fopen(path + "/" + name, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        while case let c = fgetc(file), c != EOF { bytes.append(UInt8(c)) }
        return String(decoding: bytes, as: UTF8.self)
    }

    func names(_ sub: String) -> Set<String> {
        guard let dir = opendir(path + "/" + sub) else { return [] }
        defer { closedir(dir) }
        var names: Set<String> = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 },
                                                                          as: UTF8.self) }
            if name != "." && name != ".." { names.insert(name) }
        }
        return names
    }
}

func config(_ ipam: String, extra: String = "", args: String = "", dataDir: String) throws -> HostLocalConfig {
    let text = #"{"cniVersion":"1.0.0","name":"net1","type":"podwire","#
        + #""ipam":{"type":"host-local","dataDir":"\#(dataDir)",\#(ipam)}\#(extra)}"#
    let bytes = Array(text.utf8)
    let document = try JSONNode.document(bytes, what: "network config")
    return try HostLocalConfig(netconf: document, header: try ConfigHeader(document), args: try CNIArgs(parsing: args))
}

@Suite struct RangeTests {
    @Test func fillsInTheReferenceDefaults() throws {
        let range = try AddressRange(subnet: IPNetwork("10.1.2.0/24")!)
        #expect(range.rangeStart.description == "10.1.2.1")
        #expect(range.rangeEnd.description == "10.1.2.254")
        #expect(range.gateway?.description == "10.1.2.1")
        let v6 = try AddressRange(subnet: IPNetwork("fd00::/120")!)
        #expect(v6.rangeEnd.description == "fd00::ff")
    }

    @Test func namesEachInvalidRange() {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return (error as? CNIError)?.msg ?? "" }
        }
        #expect(message { _ = try AddressRange(subnet: IPNetwork("10.1.2.5/24")!) }.contains("host bits"))
        #expect(message { _ = try AddressRange(subnet: IPNetwork("10.1.2.0/31")!) }.contains("too small"))
        let subnet = IPNetwork("10.1.2.0/24")!
        #expect(message { _ = try AddressRange(subnet: subnet, gateway: IPAddress("10.9.9.1")) }
            .contains("gateway 10.9.9.1 is not in subnet"))
        #expect(message {
            _ = try AddressRange(subnet: subnet, rangeStart: IPAddress("10.1.2.50"), rangeEnd: IPAddress("10.1.2.10"))
        }.contains("after rangeEnd"))
    }

    @Test func refusesOverlapsInsideAndAcrossRangeSets() throws {
        let dir = TemporaryDirectory()
        #expect(throws: CNIError.self) {
            try config(#""ranges":[[{"subnet":"10.0.0.0/16"},{"subnet":"10.0.5.0/24"}]]"#, dataDir: dir.path)
        }
        #expect(throws: CNIError.self) {
            try config(#""ranges":[[{"subnet":"10.0.0.0/16"}],[{"subnet":"10.0.5.0/24"}]]"#, dataDir: dir.path)
        }
        #expect(throws: CNIError.self) {
            try config(#""ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"fd00::/64"}]]"#, dataDir: dir.path)
        }
        #expect(throws: CNIError.self) {
            try config(#""ranges":[[{"subnet":"fd00::/64","gateway":"10.0.0.1"}]]"#, dataDir: dir.path)
        }
    }

    @Test func readsTheOldSingleSubnetFormAndTheIPRangesCapability() throws {
        let dir = TemporaryDirectory()
        let old = try config(#""subnet":"10.5.0.0/24","rangeStart":"10.5.0.100""#, dataDir: dir.path)
        #expect(old.rangeSets.first?.ranges.first?.rangeStart.description == "10.5.0.100")
        let overridden = try config(#""subnet":"10.5.0.0/24""#,
                                    extra: #","runtimeConfig":{"ipRanges":[[{"subnet":"10.6.0.0/24"}]]}"#,
                                    dataDir: dir.path)
        #expect(overridden.rangeSets.map(\.description) == ["10.6.0.1-10.6.0.254"])
        // containerd's go-cni sends Go's field names; the reference reads them.
        let fromGo = try config(#""subnet":"10.5.0.0/24""#,
                                extra: #","runtimeConfig":{"ipRanges":[[{"Subnet":"10.7.0.0/24","#
                                    + #""RangeStart":"10.7.0.10","RangeEnd":"","Gateway":""}]]}"#,
                                dataDir: dir.path)
        #expect(fromGo.rangeSets.map(\.description) == ["10.7.0.10-10.7.0.254"])
    }

    @Test func collectsRequestedAddressesFromEveryPlace() throws {
        let dir = TemporaryDirectory()
        let sets = #""ranges":[[{"subnet":"10.5.0.0/24"}],[{"subnet":"10.6.0.0/24"}],[{"subnet":"10.8.0.0/24"}]]"#
        let parsed = try config(sets,
                                extra: #","args":{"cni":{"ips":["10.6.0.7"]}},"runtimeConfig":{"ips":["10.8.0.8/24"]}"#,
                                args: "IP=10.5.0.6", dataDir: dir.path)
        #expect(parsed.requestedIPs.map(\.description) == ["10.5.0.6", "10.6.0.7", "10.8.0.8"])
        #expect(throws: CNIError.self) { try config(#""subnet":"10.5.0.0/24""#, args: "IP=nope", dataDir: dir.path) }
    }

    @Test func walksRoundRobinSkippingTheGateway() throws {
        let set = try RangeSet([try AddressRange(subnet: IPNetwork("10.0.0.0/29")!)])
        var fresh = RoundRobin(set: set, after: nil)
        #expect(Array(IteratorSequence(fresh)).map(\.description)
                == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"])
        fresh = RoundRobin(set: set, after: IPAddress("10.0.0.4"))
        #expect(Array(IteratorSequence(fresh)).map(\.description)
                == ["10.0.0.5", "10.0.0.6", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
    }
}

@Suite struct ResolvConfTests {
    @Test func readsNameserversDomainSearchAndOptions() {
        let dns = ResolvConf.parse("""
            # generated
            nameserver 10.96.0.10
            nameserver 10.96.0.11
            domain cluster.local
            search default.svc.cluster.local svc.cluster.local
            options ndots:5 timeout:1
            """)
        #expect(dns.nameservers == ["10.96.0.10", "10.96.0.11"])
        #expect(dns.domain == "cluster.local")
        #expect(dns.search == ["default.svc.cluster.local", "svc.cluster.local"])
        #expect(dns.options == ["ndots:5", "timeout:1"])
    }

    @Test func putsItInTheResultAndFailsWithCode5WhenUnreadable() throws {
        let dir = TemporaryDirectory()
        system("printf 'nameserver 10.0.0.53\\n' > '\(dir.path)/resolv.conf'")
        let withDNS = try config(#""subnet":"10.1.0.0/24","resolvConf":"\#(dir.path)/resolv.conf""#, dataDir: dir.path)
        let dns = try HostLocal(config: withDNS).allocate(containerID: "a", ifname: "eth0").dns
        #expect(dns.nameservers == ["10.0.0.53"])
        do {
            _ = try config(#""subnet":"10.1.0.0/24","resolvConf":"/nonexistent/resolv.conf""#, dataDir: dir.path)
            Issue.record("read a resolv.conf that does not exist")
        } catch let error as CNIError {
            #expect(error.code == 5)
        }
    }
}

@Suite struct HostLocalTests {
    @Test func givesTheFirstPodDotTwoAndWritesTheReferenceFormat() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        let result = try ipam.allocate(containerID: "ctr1", ifname: "eth0")
        #expect(result.ips.map(\.address.description) == ["10.1.0.2/24"])
        #expect(result.ips.first?.gateway?.description == "10.1.0.1")
        #expect(dir.contents("net1/10.1.0.2") == "ctr1\r\neth0")
        #expect(dir.contents("net1/last_reserved_ip.0") == "10.1.0.2")
        #expect(dir.names("net1") == ["10.1.0.2", "last_reserved_ip.0", "lock"])
    }

    @Test func goesRoundRobinAndReleasesByOwner() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        _ = try ipam.allocate(containerID: "a", ifname: "eth0")
        _ = try ipam.allocate(containerID: "b", ifname: "eth0")
        try ipam.release(containerID: "a", ifname: "eth0")
        let next = try ipam.allocate(containerID: "c", ifname: "eth0")
        #expect(next.ips.first?.address.address.description == "10.1.0.4")
        try ipam.release(containerID: "a", ifname: "eth0")
        #expect(dir.names("net1").contains("10.1.0.3"))
    }

    @Test func refusesASecondAddressForTheSameAttachment() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        _ = try ipam.allocate(containerID: "a", ifname: "eth0")
        #expect(throws: CNIError.self) { try ipam.allocate(containerID: "a", ifname: "eth0") }
        _ = try ipam.allocate(containerID: "a", ifname: "eth1")
    }

    @Test func exhaustsASmallRangeWithAClearErrorAndRecovers() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.2.0.0/29""#, dataDir: dir.path))
        for n in 0..<5 { _ = try ipam.allocate(containerID: "c\(n)", ifname: "eth0") }
        do {
            _ = try ipam.allocate(containerID: "c5", ifname: "eth0")
            Issue.record("a full range handed out a sixth address")
        } catch let error as CNIError {
            #expect(error.msg.contains("no IP addresses available in range set 10.2.0.1-10.2.0.6"))
        }
        try ipam.release(containerID: "c2", ifname: "eth0")
        let fifth = try ipam.allocate(containerID: "c5", ifname: "eth0")
        #expect(fifth.ips.first?.address.address.description == "10.2.0.4")
    }

    @Test func honoursARequestedAddressAndRefusesATakenOne() throws {
        let dir = TemporaryDirectory()
        let wanted = try config(#""subnet":"10.3.0.0/24""#, args: "IP=10.3.0.50", dataDir: dir.path)
        let requested = try HostLocal(config: wanted).allocate(containerID: "a", ifname: "eth0")
        #expect(requested.ips.first?.address.address.description == "10.3.0.50")
        #expect(throws: CNIError.self) { try HostLocal(config: wanted).allocate(containerID: "b", ifname: "eth0") }
        #expect(dir.names("net1").filter { IPAddress($0) != nil } == ["10.3.0.50"])
    }

    /// Refused with the config, before an ADD touches the host: a gateway, an address in no
    /// range, two in one range set.
    @Test func refusesImpossibleRequestsAsConfigErrors() {
        for args in ["IP=10.3.0.1", "IP=10.9.0.1", "IP=10.3.0.7,10.3.0.8"] {
            do {
                _ = try config(#""subnet":"10.3.0.0/24""#, args: args, dataDir: "/nonexistent")
                Issue.record("accepted \(args)")
            } catch {
                #expect((error as? CNIError)?.code == 7, "\(args)")
            }
        }
    }

    @Test func givesOneAddressPerRangeSetForDualStack() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""ranges":[[{"subnet":"10.4.0.0/24"}],[{"subnet":"fd04::/64"}]]"#,
                                                dataDir: dir.path))
        let result = try ipam.allocate(containerID: "a", ifname: "eth0")
        #expect(result.ips.map(\.address.description) == ["10.4.0.2/24", "fd04::2/64"])
        #expect(dir.contents("net1/last_reserved_ip.1") == "fd04::2")
    }

    @Test func releasesLeasesOfTheOlderIDOnlyFormat() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        _ = try ipam.allocate(containerID: "x", ifname: "eth0")
        system("printf 'old\\n' > '\(dir.path)/net1/10.1.0.9'")
        try ipam.release(containerID: "old", ifname: "eth0")
        #expect(!dir.names("net1").contains("10.1.0.9"))
    }

    @Test func collectsGarbageNotHeldByAValidAttachment() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        for id in ["keep", "drop1", "drop2"] { _ = try ipam.allocate(containerID: id, ifname: "eth0") }
        let keep = Attachment(network: "net1", containerID: "keep", ifname: "eth0")
        let released = try ipam.collectGarbage(keeping: [keep])
        #expect(released.map(\.description).sorted() == ["10.1.0.3", "10.1.0.4"])
        #expect(dir.names("net1").filter { IPAddress($0) != nil } == ["10.1.0.2"])
    }

    @Test func noFileNamesAReleasedContainer() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        _ = try ipam.allocate(containerID: "gone-container", ifname: "eth0")
        try ipam.release(containerID: "gone-container", ifname: "eth0")
        for name in dir.names("net1") {
            #expect(!(dir.contents("net1/" + name) ?? "").contains("gone-container"), "\(name) still names it")
        }
        // The blanked inode is written over by the next lease, whole.
        _ = try ipam.allocate(containerID: "b", ifname: "eth0")
        #expect(dir.contents("net1/10.1.0.3") == "b\r\neth0")
    }

    @Test func aStaleIndexEntryFallsBackToReadingEveryLease() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        _ = try ipam.allocate(containerID: "a", ifname: "eth0")
        // What the reference host-local leaves after its DEL and ADD of the same attachment:
        // the indexed address released, another one leased, the index untouched.
        system("rm '\(dir.path)/net1/10.1.0.2' && printf 'a\\r\\neth0' > '\(dir.path)/net1/10.1.0.7'")
        try ipam.verify(containerID: "a", ifname: "eth0")
        try ipam.release(containerID: "a", ifname: "eth0")
        #expect(dir.names("net1").filter { IPAddress($0) != nil }.isEmpty)
    }

    /// The note an ADD keeps in its index entry: a line after the addresses, which the index's
    /// readers (this build's and older ones, which take each line that is an address) pass over.
    @Test func anIndexEntryKeepsItsNoteBesideTheAddresses() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        _ = try ipam.allocate(containerID: "a", ifname: "eth0") { ips in #"{"v":1,"granted":\#(ips.count)}"# }
        let name = LeaseStore.indexName("a", "eth0")
        #expect(dir.contents(".podwire.net1/" + name) == "10.1.0.2\n{\"v\":1,\"granted\":1}")
        let store = try LeaseStore(dataDir: dir.path, network: "net1")
        #expect(store.indexedAddresses(containerID: "a", ifname: "eth0") == [IPAddress("10.1.0.2")!])
        let notes = store.indexNotes()
        #expect(notes.keys.sorted() == [name])
        #expect(notes[name]?.note == #"{"v":1,"granted":1}"#)
        #expect(abs((notes[name]?.written ?? 0) - time(nil)) < 60)
        try ipam.release(containerID: "a", ifname: "eth0")
        #expect(store.indexNotes().isEmpty)
    }

    @Test func aLockHeldTooLongIsCode11TryAgainLater() throws {
        let dir = TemporaryDirectory()
        let holder = try LeaseStore(dataDir: dir.path, network: "net1")
        let waiter = try LeaseStore(dataDir: dir.path, network: "net1")
        try holder.locked {
            do {
                try waiter.locked(patience: .milliseconds(50)) {}
                Issue.record("took a lock another holder had")
            } catch let error as CNIError {
                #expect(error.code == 11)
            }
        }
        try waiter.locked(patience: .milliseconds(50)) {}
    }

    @Test func neverFollowsASymlinkPlantedAsALease() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        _ = try ipam.allocate(containerID: "first", ifname: "eth0")
        system("echo secret > '\(dir.path)/target'; ln -s '\(dir.path)/target' '\(dir.path)/net1/10.1.0.3'")
        _ = try ipam.allocate(containerID: "second", ifname: "eth0")
        #expect(dir.contents("target") == "secret\n")
    }

    /// As the reference does (Go's MkdirAll and paths below it): a dataDir that is a symlink
    /// to a directory is followed, and the store lives in the directory it points to.
    @Test func followsADataDirThatIsASymlinkAsTheReferenceDoes() throws {
        let dir = TemporaryDirectory()
        system("mkdir '\(dir.path)/real' && ln -s '\(dir.path)/real' '\(dir.path)/link'")
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path + "/link"))
        _ = try ipam.allocate(containerID: "first", ifname: "eth0")
        #expect(dir.names("real/net1").contains("10.1.0.2"))
    }

    /// Stricter than the reference: the network's own directory is opened without following
    /// a symlink, so one planted there cannot send leases elsewhere. Code 5, nothing written.
    @Test func refusesANetworkDirectoryThatIsASymlink() throws {
        let dir = TemporaryDirectory()
        system("mkdir '\(dir.path)/elsewhere' && ln -s '\(dir.path)/elsewhere' '\(dir.path)/net1'")
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        do {
            _ = try ipam.allocate(containerID: "first", ifname: "eth0")
            Issue.record("allocated through a symlinked network directory")
        } catch let error as CNIError {
            #expect(error.code == 5)
            #expect(error.msg.contains("net1"))
        }
        #expect(dir.names("elsewhere").isEmpty)
    }

    /// A released lease and its index entry become the staging files the next ADD writes
    /// over: the new pod's lease is the old file, rewritten whole, not a new inode.
    @Test func writesTheNextLeaseOverTheLastReleasedOne() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        func inode(_ name: String) -> ino_t {
            var info = stat()
            return lstat(dir.path + "/" + name, &info) == 0 ? info.st_ino : 0
        }
        _ = try ipam.allocate(containerID: "a-long-container-id", ifname: "eth0")
        let released = inode("net1/10.1.0.2")
        try ipam.release(containerID: "a-long-container-id", ifname: "eth0")
        #expect(!dir.names("net1").contains("10.1.0.2"))
        #expect(inode("net1/.podwire-lease") == released)
        #expect(dir.names(".podwire.net1") == [".staging"])

        _ = try ipam.allocate(containerID: "b", ifname: "eth0")
        #expect(inode("net1/10.1.0.3") == released)
        #expect(dir.contents("net1/10.1.0.3") == "b\r\neth0")
        #expect(dir.names("net1") == ["10.1.0.3", "last_reserved_ip.0", "lock"])
        #expect(dir.names(".podwire.net1") == ["b%65746830"])
        #expect(dir.contents(".podwire.net1/b%65746830") == "10.1.0.3")
    }

    /// A process killed between linking its lease and dropping the staging name leaves the
    /// two names on one file. The next ADD must not write through the staging name into that
    /// lease. And `last_reserved_ip`, rewritten in place, keeps no stray digit when it
    /// shrinks from 10.1.0.14 to 10.1.0.3.
    @Test func neverWritesThroughAStagingNameStillLinkedToALease() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/28""#, dataDir: dir.path))
        _ = try ipam.allocate(containerID: "crashed", ifname: "eth0")
        let store = "\(dir.path)/net1"
        system("ln '\(store)/10.1.0.2' '\(store)/.podwire-lease'; printf 10.1.0.14 > '\(store)/last_reserved_ip.0'")
        let result = try ipam.allocate(containerID: "next", ifname: "eth0")
        #expect(result.ips.first?.address.address.description == "10.1.0.3")
        #expect(dir.contents("net1/10.1.0.2") == "crashed\r\neth0")
        #expect(dir.contents("net1/10.1.0.3") == "next\r\neth0")
        #expect(dir.contents("net1/last_reserved_ip.0") == "10.1.0.3")
    }

    /// Leases and the index are 0644, as the reference writes its leases, and the lock 0600:
    /// nothing the plugin writes is writable by anyone but root, or executable.
    @Test func writesFilesWithSafeModes() throws {
        let dir = TemporaryDirectory()
        let ipam = HostLocal(config: try config(#""subnet":"10.1.0.0/24""#, dataDir: dir.path))
        _ = try ipam.allocate(containerID: "first", ifname: "eth0")
        func mode(_ name: String) -> mode_t {
            var info = stat()
            return lstat(dir.path + "/" + name, &info) == 0 ? info.st_mode & 0o7777 : 0o7777
        }
        #expect(mode("net1/10.1.0.2") & ~0o644 == 0)
        #expect(mode("net1/lock") & ~0o600 == 0)
        #expect(mode("net1") & ~0o755 == 0)
        let index = dir.names(".podwire.net1")
        #expect(index.count == 1)
        for name in index { #expect(mode(".podwire.net1/" + name) & ~0o644 == 0) }
    }
}
