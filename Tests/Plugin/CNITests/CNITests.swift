import Testing
import Addressing
@testable import CNI

private func decodeObject(_ bytes: [UInt8]) -> [String: JSONValue] {
    guard case .object(let object)? = try? JSONParser.parse(bytes) else { return [:] }
    return object
}

@Suite struct VersionTests {
    @Test func acceptsTheFiveVersionsAndRefusesOthersWithCode1() throws {
        for text in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
            #expect(try CNIVersion.parse(text).rawValue == text)
        }
        for text in ["0.1.0", "0.2.0", "1.2.0", "", "1.0"] {
            #expect(throws: CNIError.self) { try CNIVersion.parse(text) }
            do { _ = try CNIVersion.parse(text) } catch {
                #expect(error.code == 1)
                #expect(error.msg.contains("0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"))
            }
        }
    }

    @Test func knowsWhichCommandsEachVersionAllows() {
        #expect(!CNIVersion.v0_3_1.allowsCheck)
        #expect(CNIVersion.v0_4_0.allowsCheck)
        #expect(!CNIVersion.v1_0_0.allowsStatusAndGC)
        #expect(CNIVersion.v1_1_0.allowsStatusAndGC)
    }
}

@Suite struct EnvironmentTests {
    let complete = ["CNI_CONTAINERID": "abc", "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0",
                    "CNI_PATH": "/a:/b"]

    @Test func readsTheVariables() throws {
        let env = try CNIEnvironment(command: .add, variables: complete)
        #expect(env.containerID == "abc")
        #expect(env.path == ["/a", "/b"])
    }

    @Test func namesEveryMissingVariableWithCode4() {
        do {
            _ = try CNIEnvironment(command: .add, variables: [:])
            Issue.record("accepted an empty environment")
        } catch {
            #expect(error.code == 4)
            #expect(error.msg.contains("CNI_CONTAINERID"))
            #expect(error.msg.contains("CNI_NETNS"))
            #expect(error.msg.contains("CNI_IFNAME"))
        }
    }

    @Test func delNeedsNoNetnsAndGCNeedsNothing() throws {
        var env = complete
        env["CNI_NETNS"] = ""
        _ = try CNIEnvironment(command: .del, variables: env)
        _ = try CNIEnvironment(command: .gc, variables: [:])
        _ = try CNIEnvironment(command: .status, variables: [:])
    }

    @Test(arguments: ["../etc", "a/b", ".hidden", "-x", "id with space", "id\n", String(repeating: "a", count: 1025)])
    func refusesContainerIDsThatCouldEscapeAPath(_ id: String) {
        var env = complete
        env["CNI_CONTAINERID"] = id
        #expect(throws: CNIError.environment("CNI_CONTAINERID has invalid characters or is too long: it must start "
                                             + "with a letter or digit and hold only letters, digits, _, . and - "
                                             + "(at most 1024)")) {
            try CNIEnvironment(command: .add, variables: env)
        }
    }

    @Test(arguments: ["", "0123456789abcdef", "a/b", "a:b", "a b", ".", "..", "e\tth"])
    func refusesInterfaceNamesTheKernelWouldNot(_ name: String) {
        var env = complete
        env["CNI_IFNAME"] = name
        #expect(throws: CNIError.self) { try CNIEnvironment(command: .add, variables: env) }
    }

    @Test func parsesCNIArgsAndRefusesUnknownKeysUnlessIgnored() throws {
        let args = try CNIArgs(parsing: "IP=10.0.0.5;MAC=0a:58:0a:00:00:05;K8S_POD_NAME=web")
        #expect(args["IP"] == "10.0.0.5")
        #expect(throws: CNIError.self) { try CNIArgs(parsing: "FOO=bar") }
        #expect(throws: CNIError.self) { try CNIArgs(parsing: "novalue") }
        #expect(try CNIArgs(parsing: "IgnoreUnknown=1;FOO=bar")["FOO"] == "bar")
    }
}

@Suite struct ResultTests {
    let result = CNIResult(
        interfaces: [CNIResult.Interface(name: "cni0", mac: "0a:00:00:00:00:01"),
                     CNIResult.Interface(name: "eth0", mac: "0a:00:00:00:00:02", mtu: 1500,
                                         sandbox: "/var/run/netns/p")],
        ips: [CNIResult.IPConfig(address: IPNetwork("10.0.0.2/24")!, gateway: IPAddress("10.0.0.1"), interface: 1),
              CNIResult.IPConfig(address: IPNetwork("fd00::2/64")!, gateway: IPAddress("fd00::1"), interface: 1)],
        routes: [CNIResult.Route(dst: IPNetwork("0.0.0.0/0")!, gw: IPAddress("10.0.0.1"), mtu: 1400)],
        dns: DNS(nameservers: ["10.0.0.10"]))

    @Test(arguments: CNIVersion.allCases)
    func printsEachVersionWithItsOwnFields(_ version: CNIVersion) throws {
        let json = decodeObject(result.encoded(as: version))
        #expect(json["cniVersion"] == .string(version.rawValue))
        guard case .array(let ips)? = json["ips"], case .array(let interfaces)? = json["interfaces"],
              case .array(let routes)? = json["routes"] else {
            Issue.record("missing lists")
            return
        }
        #expect(ips.count == 2)
        #expect((ips[0]["version"] != nil) == (version < .v1_0_0))
        #expect(ips[1]["version"] == (version < .v1_0_0 ? .string("6") : nil))
        #expect((interfaces[1]["mtu"] != nil) == (version == .v1_1_0))
        #expect((routes[0]["mtu"] != nil) == (version == .v1_1_0))
        #expect(json["dns"]?["nameservers"] == .array([.string("10.0.0.10")]))
    }

    @Test(arguments: CNIVersion.allCases)
    func readsBackWhatItPrints(_ version: CNIVersion) throws {
        let back = try CNIResult(decoding: result.encoded(as: version), what: "prevResult")
        #expect(back.ips == result.ips)
        #expect(back.interfaces.map(\.name) == ["cni0", "eth0"])
        #expect(back.routes.map(\.dst) == result.routes.map(\.dst))
    }

    @Test func anIPAMResultHasNoInterfacesKey() {
        let ipamOnly = CNIResult(ips: [CNIResult.IPConfig(address: IPNetwork("10.0.0.2/24")!)])
        #expect(decodeObject(ipamOnly.encoded(as: .v1_0_0))["interfaces"] == nil)
    }

    @Test func refusesAPrevResultWithBadAddressesOrIndexes() {
        let bad = [
            #"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2"}]}"#,
            #"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24","interface":3}]}"#,
            #"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24","gateway":"fd00::1"}]}"#,
            #"{"cniVersion":"1.0.0","routes":[{"dst":"nowhere"}]}"#,
            #"{"cniVersion":"9.9.9"}"#,
            #"{"cniVersion":"1.0.0","ips":"#,
        ]
        for text in bad {
            #expect(throws: CNIError.self) { try CNIResult(decoding: Array(text.utf8), what: "prevResult") }
        }
    }
}

@Suite struct DispatcherTests {
    struct Recorder: Plugin {
        var about: String { "test plugin" }
        func add(_ call: Call) throws -> CNIResult {
            CNIResult(ips: [CNIResult.IPConfig(address: IPNetwork("10.0.0.2/24")!)])
        }
        func del(_ call: Call) throws {}
        func check(_ call: Call) throws {}
        func status(_ call: Call) throws { throw CNIError(50, "not ready") }
        func gc(_ call: Call) throws {}
    }

    let attachment = ["CNI_CONTAINERID": "c1", "CNI_NETNS": "/var/run/netns/p", "CNI_IFNAME": "eth0"]

    func run(_ command: String?, _ config: String, extra: [String: String] = [:]) -> Outcome {
        var variables = attachment.merging(extra) { $1 }
        variables["CNI_COMMAND"] = command
        return Dispatcher.run(Recorder(), variables: variables) { Array(config.utf8) }
    }

    func errorCode(_ outcome: Outcome) -> JSONValue? { decodeObject(outcome.stdout)["code"] }

    @Test func withoutACommandItDescribesItselfOnStderr() {
        let outcome = run(nil, "")
        #expect(outcome.exitCode == 0)
        #expect(outcome.stdout.isEmpty)
        #expect(outcome.stderr.contains("test plugin"))
        #expect(outcome.stderr.contains("1.1.0"))
    }

    @Test func versionListsTheSupportedVersions() {
        let outcome = run("VERSION", "")
        let supported = JSONValue.array(CNIVersion.supportedList.map { .string($0) })
        #expect(decodeObject(outcome.stdout)["supportedVersions"] == supported)
        #expect(decodeObject(outcome.stdout)["cniVersion"] == .string(CNIVersion.latest.rawValue))
    }

    @Test func addPrintsTheResultInTheConfigsVersion() {
        let outcome = run("ADD", #"{"cniVersion":"0.3.1","name":"n","type":"t"}"#)
        #expect(outcome.exitCode == 0)
        #expect(decodeObject(outcome.stdout)["cniVersion"] == .string("0.3.1"))
    }

    @Test func mapsEachKindOfBadInputToItsCode() {
        #expect(errorCode(run("ADD", "")) == .number(6))
        #expect(errorCode(run("ADD", "{\"cniVersion\":")) == .number(6))
        #expect(errorCode(run("ADD", #"{"cniVersion":1}"#)) == .number(6))
        #expect(errorCode(run("ADD", #"{"cniVersion":"0.2.0","name":"n"}"#)) == .number(1))
        #expect(errorCode(run("CHECK", #"{"cniVersion":"0.3.1","name":"n"}"#)) == .number(1))
        #expect(errorCode(run("STATUS", #"{"cniVersion":"1.0.0","name":"n"}"#)) == .number(1))
        #expect(errorCode(run("FROB", "{}")) == .number(4))
        #expect(errorCode(run("ADD", #"{"cniVersion":"1.0.0"}"#, extra: ["CNI_IFNAME": ""])) == .number(4))
        #expect(errorCode(run("STATUS", #"{"cniVersion":"1.1.0","name":"n"}"#)) == .number(50))
    }

    @Test func errorsAreJSONInTheConfigsVersionAndExitNonZero() {
        let outcome = run("ADD", #"{"cniVersion":"0.4.0","name":"n"}"#, extra: ["CNI_IFNAME": "a/b"])
        #expect(outcome.exitCode != 0)
        let json = decodeObject(outcome.stdout)
        #expect(json["cniVersion"] == .string("0.4.0"))
        #expect(json["msg"]?.stringValue?.contains("CNI_IFNAME") == true)
    }
}

@Suite struct JSONNodeTests {
    func document(_ text: String) throws(CNIError) -> JSONNode { try JSONNode.document(Array(text.utf8),
                                                                                       what: "network config") }

    @Test func matchesKeysAsGoDoesExactFirstThenIgnoringCase() throws {
        let config = try document(#"{"HostPort":8080,"Gateway":"10.0.0.9","gateway":"10.0.0.1"}"#)
        #expect(try config.int("hostPort") == 8080)
        #expect(try config.string("gateway") == "10.0.0.1")
        #expect(try config.int("hostPorts") == nil)
    }

    @Test func readsNullAsAbsent() throws {
        let config = try document(#"{"mtu":null,"ipam":null}"#)
        #expect(try config.int("mtu") == nil)
        #expect(try config.object("ipam") == nil)
    }

    @Test func namesTheKeyOfAWrongTypeWithCode6() throws {
        let config = try document(#"{"ipam":{"ranges":[[{"subnet":5}]]},"mtu":1500.5}"#)
        do {
            _ = try config.object("ipam")?.list("ranges")?.first?.list().first?.string("subnet")
            Issue.record("read a number as a string")
        } catch {
            #expect(error.code == 6)
            #expect(error.msg
                    == "cannot decode network config: ipam.ranges[0][0].subnet must be a string, not a number")
        }
        #expect(throws: CNIError(6, "cannot decode network config: mtu must be a whole number in range")) {
            try config.int("mtu")
        }
    }

    @Test func namesAMissingKeyWithCode7() throws {
        let route = try document(#"{"routes":[{"gw":"10.0.0.1"}]}"#).list("routes")![0]
        #expect(throws: CNIError(7, "invalid network config: missing routes[0].dst")) { try route.required("dst") }
    }

    @Test func refusesADocumentThatIsNotAnObjectOrNotJSON() {
        for text in ["[1]", "\"x\"", "{", "{\"a\":1}x"] {
            #expect(throws: CNIError.self) { try document(text) }
            do { _ = try document(text) } catch { #expect(error.code == 6) }
        }
    }
}

@Suite struct SysctlInterfaceNameTests {
    @Test func refusesTheDirectoriesOfEveryInterfaceAndPaths() {
        for name in ["all", "default", "../all", "lo/../all", "", ".."] {
            #expect(Names.sysctlInterfaceProblem(name) != nil, "\(name) accepted")
        }
        for name in ["cni0", "eth0", "pw0123456789abc", "all0"] {
            #expect(Names.sysctlInterfaceProblem(name) == nil, "\(name) refused")
        }
    }
}
