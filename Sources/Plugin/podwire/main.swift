#if canImport(Glibc)
import Glibc
#endif
import CallLog
import CNI
import Plugins
import Syscall

// VERSION never gets here: VersionBeforeRuntime.swift answers it before the runtime starts.

// A delegate that exits without reading its stdin must not kill us with SIGPIPE.
signal(SIGPIPE, SIG_IGN)

// Split on the bytes, not on Characters: grapheme breaking over the whole environment
// costs more than the rest of the plugin's start-up.
var variables: [String: String] = [:]
var cursor = environ
while let entry = cursor.pointee {
    if let equals = strchr(entry, Int32(UInt8(ascii: "="))) {
        let nameLength = entry.distance(to: equals)
        let name = UnsafeRawBufferPointer(start: entry, count: nameLength)
        variables[String(decoding: name, as: UTF8.self)] = String(cString: equals + 1)
    }
    cursor += 1
}

// One binary, several plugins, by the name it is installed or linked as: `podwire-ipam` is
// the standalone host-local IPAM plugin, `podwire-portmap` the chained port-mapping plugin,
// any other name the bridge plugin.
let invokedAs = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
let plugin: any Plugin = switch invokedAs {
case "podwire-ipam": IPAMPlugin()
case "podwire-portmap": PortMapPlugin()
default: BridgePlugin()
}

// `--version`, for operators and install scripts: the version on stdout, nothing else read.
if CommandLine.arguments.dropFirst().contains("--version") {
    try? Syscall.writeAll(1, Array(Dispatcher.about(plugin).utf8), subject: "stdout")
    exit(0)
}

let outcome = CallLog.run(plugin, label: invokedAs.hasPrefix("podwire") ? invokedAs : "podwire", variables: variables) {
    (try? Syscall.readAll(0, limit: 1 << 22, subject: "stdin")) ?? []
}
try? Syscall.writeAll(1, outcome.stdout, subject: "stdout")
try? Syscall.writeAll(2, Array(outcome.stderr.utf8), subject: "stderr")
exit(outcome.exitCode)
