#if canImport(Glibc)
import Glibc
#endif
import CNI
import Podwire
import Syscall

// A delegate that exits without reading its stdin must not kill us with SIGPIPE.
signal(SIGPIPE, SIG_IGN)

var variables: [String: String] = [:]
var cursor = environ
while let entry = cursor.pointee {
    let text = String(cString: entry)
    if let equals = text.firstIndex(of: "=") {
        variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
    }
    cursor += 1
}

let outcome = Dispatcher.run(BridgePlugin(), variables: variables) {
    (try? Syscall.readAll(0, limit: 1 << 22, subject: "stdin")) ?? []
}
try? Syscall.writeAll(1, outcome.stdout, subject: "stdout")
try? Syscall.writeAll(2, Array(outcome.stderr.utf8), subject: "stderr")
exit(outcome.exitCode)
