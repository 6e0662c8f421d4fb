#if canImport(Glibc)
import Glibc
#endif
import Syscall

/// The node's BIRD, which podwire-node starts and supervises: its config, control socket,
/// PID file and log live in one directory of the node's. BIRD runs as a daemon of its own, so
/// that a restart of podwire-node leaves every session up; podwire-node finds it again by its
/// control socket, and starts it again (with graceful-restart recovery, `-R`) when it is gone.
public final class Bird: Sendable {
    public let directory: String
    let binary: String
    public var configPath: String { directory + "/bird.conf" }
    public var socketPath: String { directory + "/bird.ctl" }
    public var pidPath: String { directory + "/bird.pid" }
    public var logPath: String { directory + "/bird.log" }

    public init(directory: String, binary: String = "/usr/sbin/bird") {
        self.directory = directory
        self.binary = binary
    }

    /// What `apply` did.
    public enum Outcome: Equatable, Sendable {
        /// BIRD runs with this config already.
        case unchanged
        /// BIRD took the new config (`configure`); unchanged sessions stay up.
        case reloaded
        /// BIRD was not running and was started.
        case started
    }

    /// Makes BIRD run with `config`: checked first with BIRD's parse-only mode (a refused
    /// config changes nothing: BIRD keeps the one it has), written, then loaded by a running
    /// BIRD or by a new one. `recover` starts a new one with graceful-restart recovery.
    public func apply(_ config: String, recover: Bool) throws(BirdError) -> Outcome {
        var running = true
        if let error = problem() {
            guard case .notRunning = error else { throw error }
            running = false
        }
        let current = try? Self.read(configPath)
        if running, current == config { return .unchanged }
        let candidate = directory + "/bird.conf.new"
        do {
            try Syscall.makeDirectories(directory)
            try Syscall.replaceFile(candidate, with: config)
        } catch {
            throw .failed("write \(candidate): \(error)")
        }
        let (status, output) = try run([binary, "-p", "-c", candidate])
        guard status == 0 else {
            throw .refused(output.isEmpty ? "bird -p exited with \(status)" : output)
        }
        do {
            try Syscall.replaceFile(configPath, with: config)
        } catch {
            throw .failed("write \(configPath): \(error)")
        }
        if running {
            do {
                _ = try BirdControl.ask(socketPath, "configure \"\(configPath)\"", timeout: 10)
            } catch {
                // The file goes back to what BIRD runs, so that the next pass tries again.
                if let current { try? Syscall.replaceFile(configPath, with: current) }
                throw error
            }
            return .reloaded
        }
        var arguments = [binary, "-c", configPath, "-s", socketPath, "-P", pidPath]
        if recover { arguments.append("-R") }
        // BIRD forks into the background and its first process exits once it is set up.
        let (started, message) = try run(arguments)
        guard started == 0 else { throw .failed("bird exited with \(started): \(message)") }
        return .started
    }

    /// The sessions BIRD has, as it reports them.
    public func sessions() throws(BirdError) -> [BGPSession] {
        BGPSession.parse(try BirdControl.ask(socketPath, "show protocols all"))
    }

    /// Whether BIRD answers on its control socket; why not, when it does not.
    public func problem() -> BirdError? {
        do {
            _ = try BirdControl.ask(socketPath, nil)
            return nil
        } catch {
            return error
        }
    }

    /// Runs a command to its end: its exit status and what it wrote (stdout and stderr).
    private func run(_ arguments: [String]) throws(BirdError) -> (Int32, String) {
        do {
            let null = try Syscall.open("/dev/null", O_RDONLY | O_CLOEXEC)
            defer { Syscall.close(null) }
            let pipe = try Syscall.pipe()
            let pid: pid_t
            do {
                defer { Syscall.close(pipe.write) }
                pid = try Syscall.spawn(arguments[0], arguments: arguments, environment: [],
                                        stdin: null, stdout: pipe.write, stderr: pipe.write)
            } catch {
                Syscall.close(pipe.read)
                throw error
            }
            // The daemon BIRD leaves behind has its output closed: the pipe ends with its parent.
            let output = (try? Syscall.readAll(pipe.read, limit: 1 << 16, subject: arguments[0])) ?? []
            Syscall.close(pipe.read)
            let status = try Syscall.wait(pid)
            let text = String(decoding: output, as: UTF8.self)
            return (status, text.split(separator: "\n").suffix(5).joined(separator: "; "))
        } catch {
            throw .failed("run \(arguments[0]): \(error)")
        }
    }

    static func read(_ path: String) throws(SyscallError) -> String {
        let fd = try Syscall.open(path, O_RDONLY | O_CLOEXEC)
        defer { Syscall.close(fd) }
        return String(decoding: try Syscall.readAll(fd, subject: path), as: UTF8.self)
    }
}
