// podwire-fuzz: every parser of outside input, driven by libFuzzer, or replaying inputs.
//
// The first byte of an input picks the parser, the rest is what it parses. Built normally
// (`swift build --product podwire-fuzz`), the binary replays the files it is given, which is
// how the corpus and every input the fuzzer ever found run as a regression test. Built with
// `-sanitize=fuzzer,address -DPODWIRE_FUZZ` (scripts/fuzz.sh), it is a libFuzzer binary.
// Debug builds carry -enable-testing, hence the @testable imports of internal parsers.
#if canImport(Glibc)
import Glibc
#endif
import Addressing
@testable import BGP
@testable import CNI
import ClusterModel
import EtcdWire
import JSON
import IPAM
@testable import Plugins
import Syscall

/// The first byte modulo 16 picks one; values without a target are skipped, so that adding
/// one never moves the corpus's inputs to another parser.
enum Target: UInt8, CaseIterable {
    case json, networkConfig, result, cniArgs, environment, addresses, portMap, gc
    case clusterConfig, nodeRecord, watchMessage, clusterView, birdReply
}

/// Parses one input. A thrown CNI error is the right answer to bad input; a trap, a crash or
/// a hang is a bug. Round trips that must hold are checked with `precondition`.
func parse(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let first = bytes.first, let target = Target(rawValue: first % 16) else { return }
    let payload = Array(bytes.dropFirst())
    let text = String(decoding: payload, as: UTF8.self)
    switch target {
    case .json:
        // What the writer prints, the parser reads back as the same value.
        guard let value = try? JSONParser.parse(payload) else { return }
        precondition((try? JSONParser.parse(JSONWriter.write(value))) == value, "JSON round trip")
    case .networkConfig:
        for command in [Command.add, .del, .check] {
            guard let call = try? Call(environment: environment(command), config: payload,
                                       version: .v1_1_0) else { return }
            _ = try? BridgePlan(call: call)
            _ = try? HostLocalConfig(call)
        }
    case .result:
        // A result read back from any version's JSON is read again the same way.
        guard let result = try? CNIResult(decoding: payload, what: "prevResult") else { return }
        for version in CNIVersion.allCases {
            let again = try? CNIResult(decoding: result.encoded(as: version), what: "prevResult")
            precondition(again?.ips == result.ips, "result round trip in \(version.rawValue)")
        }
    case .cniArgs:
        _ = try? CNIArgs(parsing: text)
    case .environment:
        var variables: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { variables[String(parts[0])] = String(parts[1]) }
        }
        for command in Command.allCases { _ = try? CNIEnvironment(command: command, variables: variables) }
    case .addresses:
        // Whatever parses prints as text that parses to the same thing.
        if let address = IPAddress(text) {
            precondition(IPAddress(address.description) == address, "address round trip")
        }
        if let network = IPNetwork(text) {
            precondition(IPNetwork(network.description) == network, "prefix round trip")
        }
        if let mac = MACAddress(text) { precondition(MACAddress(mac.description) == mac, "MAC round trip") }
        _ = parseRequestedIP(text)
    case .portMap:
        guard let call = try? Call(environment: environment(.add), config: payload, version: .v1_1_0) else { return }
        _ = try? PortMapPlugin.Plan(call)
    case .gc:
        guard let document = try? JSONNode.document(payload, what: "GC config") else { return }
        _ = try? ValidAttachments(config: document, network: "fuzz")
    case .birdReply:
        // What BIRD's control socket says, line by line, read as sessions.
        var lines: [BirdControl.Line] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let (line, last) = BirdControl.line(String(raw), after: lines.last?.code ?? 0)
            lines.append(line)
            if last { break }
        }
        for session in BGPSession.parse(lines) { _ = session.summary }
    case .clusterConfig:
        // A config that is read writes itself out as one that reads back the same.
        guard let config = try? ClusterConfig(json: payload) else { return }
        precondition((try? ClusterConfig(json: Array(config.json.utf8))) == config, "cluster config round trip")
        _ = ConfigChange.problems(config, view: ClusterView())
    case .nodeRecord:
        guard let record = try? NodeRecord(json: payload) else { return }
        precondition((try? NodeRecord(json: Array(record.json.utf8))) == record, "node record round trip")
        var view = ClusterView()
        view.records[record.name] = payload
        for subnet in record.subnets { view.holders[subnet] = record.name }
        _ = PeerValidation.judge(view, config: fuzzConfig, node: fuzzNode)
    case .watchMessage:
        // One line of a watch's stream, then every event in it applied to a view and judged.
        guard let object = try? EtcdWire.object(payload), let events = try? EtcdWire.watchResponse(object) else {
            return
        }
        var view = ClusterView()
        for event in events {
            switch event {
            case let .put(kv): view.set(kv.key, kv.value, created: kv.createRevision)
            case let .delete(key, _, _): view.set(key, nil)
            }
        }
        _ = PeerValidation.judge(view, config: fuzzConfig, node: fuzzNode)
    case .clusterView:
        // Lines of KEY VALUE as a store could hold them, judged, then a registration planned.
        var view = ClusterView()
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard let key = parts.first else { continue }
            view.set(String(key), parts.count == 2 ? Array(parts[1].utf8) : [])
        }
        _ = PeerValidation.judge(view, config: fuzzConfig, node: fuzzNode)
        _ = try? Registration.plan(name: "fuzz", addresses: fuzzNode.addresses, vtepMAC: fuzzNode.vtepMAC,
                                   config: fuzzConfig, view: view)
        _ = view.orphans
    }
}

let fuzzConfig = ClusterConfig(networks: [IPNetwork("10.244.0.0/16")!, IPNetwork("fd44::/48")!])
let fuzzNode = NodeRecord(name: "fuzz", addresses: [IPAddress("192.168.1.1")!],
                          vtepMAC: MACAddress("02:00:00:00:00:01")!,
                          subnets: [IPNetwork("10.244.1.0/24")!, IPNetwork("fd44:0:0:1::/64")!])

func environment(_ command: Command) -> CNIEnvironment {
    CNIEnvironment(command: command, containerID: "fuzz", netns: "/var/run/netns/fuzz", ifname: "eth0")
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    if let data { parse(UnsafeBufferPointer(start: data, count: size)) }
    return 0
}

#if PODWIRE_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>,
               _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("podwire_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return runDriver(&argc, &argv, testOneInput)
}
#else
/// Replays each file given, or each file in each directory given; prints how many.
@_cdecl("podwire_fuzz_main")
func replayMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = 0
    func replay(_ path: String) {
        guard let fd = try? Syscall.open(path, O_RDONLY) else { return }
        defer { Syscall.close(fd) }
        guard let info = try? Syscall.fstat(fd, subject: path) else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in (try? Syscall.listDirectory(fd, subject: path)) ?? [] where !name.hasPrefix(".") {
                replay(path + "/" + name)
            }
        } else if let bytes = try? Syscall.readAll(fd, subject: path) {
            bytes.withUnsafeBufferPointer(parse)
            count += 1
        }
    }
    for index in 1..<Int(argc) { replay(String(cString: argv![index]!)) }
    print("replayed \(count) inputs")
    return 0
}
#endif
