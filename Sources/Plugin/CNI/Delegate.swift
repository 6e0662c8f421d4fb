#if canImport(Glibc)
import Glibc
#endif
import Syscall

/// Runs another plugin from `CNI_PATH` the way the specification says a delegate is run:
/// the same environment with `CNI_COMMAND` set, the config on stdin, the result on stdout.
public struct Delegate: Sendable {
    public var type: String
    public var searchPath: [String]

    public init(type: String, searchPath: [String]) {
        self.type = type
        self.searchPath = searchPath
    }

    /// The executable, or a config error that names the plugin and the path searched.
    public func executable() throws(CNIError) -> String {
        guard Names.isSafeIdentifier(type, maxLength: 255) else {
            throw CNIError.config("plugin type \"\(type.prefix(64))\" is not a valid plugin name")
        }
        for directory in searchPath where !directory.isEmpty {
            let candidate = directory.hasSuffix("/") ? directory + type : directory + "/" + type
            if Syscall.access(candidate, X_OK) { return candidate }
        }
        throw CNIError.config("plugin \"\(type)\" not found in CNI_PATH (\(searchPath.joined(separator: ":")))")
    }

    /// Runs the delegate for `command` and returns its stdout. A non-zero exit becomes the
    /// delegate's own CNI error when it printed one, so its code reaches the runtime.
    public func run(_ command: Command, config: [UInt8], environment: [String: String]) throws(CNIError) -> [UInt8] {
        let path = try executable()
        var variables = environment
        variables["CNI_COMMAND"] = command.rawValue
        let envp = variables.map { "\($0.key)=\($0.value)" }

        do {
            let input = try Syscall.pipe()
            let output = try Syscall.pipe()
            let pid: pid_t
            do {
                pid = try Syscall.spawn(path, arguments: [path], environment: envp, stdin: input.read,
                                        stdout: output.write)
            } catch {
                [input.read, input.write, output.read, output.write].forEach(Syscall.close)
                throw error
            }
            Syscall.close(input.read)
            Syscall.close(output.write)
            // A delegate may exit without reading its stdin; EPIPE then is not our failure,
            // its exit status and output say what happened.
            try? Syscall.writeAll(input.write, config, subject: type)
            Syscall.close(input.write)
            let stdout = (try? Syscall.readAll(output.read, subject: type)) ?? []
            Syscall.close(output.read)
            let status = try Syscall.wait(pid)
            guard status == 0 else {
                if let error = try? JSONNode.document(stdout, what: "delegate error") {
                    throw CNIError((try? error.int("code")) ?? CNIError.generic,
                                   "\(type): \((try? error.string("msg")) ?? "failed")",
                                   details: (try? error.string("details")) ?? "")
                }
                throw CNIError(CNIError.generic, "\(type) \(command.rawValue) failed with exit status \(status)")
            }
            return stdout
        } catch let error as CNIError {
            throw error
        } catch {
            throw CNIError(CNIError.ioFailure, "cannot run \(type): \(error)")
        }
    }
}
