#if canImport(Glibc)
import Glibc
#endif
import Testing
import Addressing
import CNI
@testable import CallLog
import Logging

/// A plugin whose ADD gives one address and whose DEL fails, so both lines can be seen.
private struct Scripted: Plugin {
    var about: String { "scripted" }
    func add(_ call: Call) throws -> CNIResult {
        CNIResult(ips: [CNIResult.IPConfig(address: IPNetwork("10.85.0.7/16")!)])
    }
    func del(_ call: Call) throws { throw CNIError(CNIError.tryAgainLater, "store busy", details: "lock held") }
    func check(_ call: Call) throws {}
    func status(_ call: Call) throws {}
    func gc(_ call: Call) throws {}
}

/// A private directory per test, removed with what is in it.
private final class Scratch {
    let path: String
    init() {
        var template = Array("/tmp/podwire-calllog-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }
    deinit {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 },
                                                                              as: UTF8.self) }
                if name != "." && name != ".." { unlink("\(path)/\(name)") }
            }
            closedir(directory)
        }
        rmdir(path)
    }

    var log: String { "\(path)/calls.log" }

    func lines(of file: String) -> [String] {
        guard !file.isEmpty, let handle = fopen(file, "r") else { return [] }
        defer { fclose(handle) }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, handle)
            if count == 0 { break }
            text += buffer[..<count]
        }
        return String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

@Suite struct CallLogTests {
    fileprivate let scratch = Scratch()

    func run(_ command: String, config extra: String, containerID: String = "c0ffee") -> Outcome {
        let variables = ["CNI_COMMAND": command, "CNI_CONTAINERID": containerID,
                         "CNI_NETNS": "/var/run/netns/pod", "CNI_IFNAME": "eth0"]
        let config = #"{"cniVersion":"1.0.0","name":"podnet","type":"podwire"\#(extra)}"#
        return CallLog.run(Scripted(), label: "podwire", variables: variables) { Array(config.utf8) }
    }

    @Test func withoutALogFileNothingIsWrittenAndTheOutcomeIsTheDispatchers() {
        let outcome = run("ADD", config: "")
        #expect(outcome.exitCode == 0)
        #expect(outcome.stderr.isEmpty)
        #expect(access(scratch.log, F_OK) != 0)
    }

    @Test func anAddIsOneInfoLineWithCommandContainerInterfaceAddressesAndDuration() throws {
        let outcome = run("ADD", config: #","logFile":"\#(scratch.log)""#)
        #expect(outcome.exitCode == 0)
        #expect(outcome.stderr.isEmpty)
        let lines = scratch.lines(of: scratch.log)
        try #require(lines.count == 1)
        let line = lines[0]
        #expect(line.contains(" info podwire: ADD "))
        for field in ["containerID=c0ffee", "ifname=eth0", "netns=/var/run/netns/pod", "network=podnet",
                      "ips=10.85.0.7/16"] {
            #expect(line.contains(field), "\(field) in \(line)")
        }
        #expect(line.contains("durationMs="))
        // The result itself stays on stdout, never in the log at the default level.
        #expect(!line.contains("cniVersion"))
    }

    @Test func aFailedCallIsAnErrorLineWithTheCodeAndMessage() throws {
        let outcome = run("DEL", config: #","logFile":"\#(scratch.log)""#)
        #expect(outcome.exitCode != 0)
        let lines = scratch.lines(of: scratch.log)
        try #require(lines.count == 1)
        #expect(lines[0].contains(" error podwire: DEL "))
        #expect(lines[0].contains(#"error="11: store busy: lock held""#))
    }

    @Test func logLevelErrorKeepsOnlyFailures() {
        let config = #","logFile":"\#(scratch.log)","logLevel":"error""#
        _ = run("ADD", config: config)
        _ = run("DEL", config: config)
        let lines = scratch.lines(of: scratch.log)
        #expect(lines.count == 1)
        #expect(lines.first?.contains("DEL") == true)
    }

    @Test func logLevelDebugAddsTheArgumentsAndTheResult() {
        _ = run("ADD", config: #","logFile":"\#(scratch.log)","logLevel":"debug""#)
        let line = scratch.lines(of: scratch.log).first ?? ""
        #expect(line.contains("output=\"{"))
        #expect(line.contains("cniArgs="))
    }

    @Test func anUnknownLevelLogsAtInfoAndSaysSo() {
        _ = run("ADD", config: #","logFile":"\#(scratch.log)","logLevel":"chatty""#)
        let line = scratch.lines(of: scratch.log).first ?? ""
        #expect(line.contains(" info podwire: ADD "))
        #expect(line.contains(#"warning="logLevel \"chatty\" is not one of"#))
    }

    @Test func aLogFileThatCannotBeOpenedDoesNotFailTheCall() {
        let plain = run("ADD", config: "")
        for logFile in ["\(scratch.path)/missing/dir/calls.log", "relative/calls.log", "/dev/stdout"] {
            let outcome = run("ADD", config: #","logFile":"\#(logFile)""#)
            #expect(outcome.exitCode == 0)
            #expect(outcome.stdout == plain.stdout)
            #expect(outcome.stderr.contains("not logging this call"), "\(logFile): \(outcome.stderr)")
        }
    }

    @Test func aHostileContainerIDCannotForgeALine() {
        _ = run("ADD", config: #","logFile":"\#(scratch.log)""#,
                containerID: "x\n2026-01-01T00:00:00.000Z info podwire: DEL")
        let lines = scratch.lines(of: scratch.log)
        #expect(lines.count == 1)
        #expect(lines.first?.contains(#"containerID="x\n2026"#) == true)
    }

    @Test func valuesAreQuotedOnlyWhenTheyMustBe() {
        #expect(FileLogHandler.value("eth0") == "eth0")
        #expect(FileLogHandler.value("") == "\"\"")
        #expect(FileLogHandler.value("a b") == "\"a b\"")
        #expect(FileLogHandler.value("k=v") == "\"k=v\"")
        #expect(FileLogHandler.value("say \"hi\"\u{1}") == #""say \"hi\"\u0001""#)
    }

    @Test func durationsAreMillisecondsWithThreeDecimals() {
        #expect(CallLog.milliseconds(.microseconds(4_2071)) == "42.071")
        #expect(CallLog.milliseconds(.microseconds(5)) == "0.005")
    }
}

/// What keeps concurrent plugin processes' lines whole: each line is one write to its own
/// O_APPEND descriptor. Threads stand in for the processes, as they run truly at once.
@Suite struct ConcurrentWritersTests {
    fileprivate let scratch = Scratch()

    @Test func thirtyTwoWritersNeverInterleave() throws {
        let writers = 32, linesEach = 200
        let message = String(repeating: "m", count: 1000)
        var threads: [pthread_t] = []
        final class Job { let path: String, index: Int, lines: Int, message: String
            init(_ path: String, _ index: Int, _ lines: Int, _ message: String) {
                (self.path, self.index, self.lines, self.message) = (path, index, lines, message)
            }
        }
        for index in 0..<writers {
            let job = Unmanaged.passRetained(Job(scratch.log, index, linesEach, message)).toOpaque()
            var thread = pthread_t()
            pthread_create(&thread, nil, { raw in
                let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
                let fd = open(job.path, O_WRONLY | O_APPEND | O_CREAT, 0o640)
                let handler = FileLogHandler(descriptor: fd, label: "podwire", logLevel: .info)
                for n in 0..<job.lines {
                    handler.log(event: LogEvent(level: .info, message: "\(job.message) w\(job.index) n\(n)",
                                                metadata: nil, source: "", file: "", function: "", line: 0))
                }
                close(fd)
                return nil
            }, job)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
        let lines = scratch.lines(of: scratch.log)
        #expect(lines.count == writers * linesEach)
        // "<timestamp> info podwire: "<message> wN nM"", the timestamp 24 bytes and a space.
        let whole = lines.filter { line in
            let rest = line.dropFirst(25)
            return line.hasPrefix("20") && line.dropFirst(23).hasPrefix("Z ")
                && rest.hasPrefix("info podwire: \"\(message) w") && rest.hasSuffix("\"")
                && rest.split(separator: " ").count == 5
        }
        #expect(whole.count == writers * linesEach, "\(writers * linesEach - whole.count) lines were cut into")
    }
}
