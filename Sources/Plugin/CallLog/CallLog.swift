#if canImport(Glibc)
import Glibc
#endif
import CNI
import Logging
import Syscall

/// The operator's view of the plugin: one log line per call, when the network config names
/// a `logFile`. Off by default; never on stdout, which carries the CNI result; and a log
/// that cannot be written never changes what the call returns.
public enum CallLog {
    /// Runs one call through the dispatcher, timing it, then logs it if the config asks.
    /// `label` names the plugin in the line (the name it was invoked as).
    public static func run(_ plugin: some Plugin, label: String, variables: [String: String],
                           stdin: () -> [UInt8]) -> Outcome {
        var config: [UInt8] = []
        let clock = ContinuousClock()
        let started = clock.now
        var outcome = Dispatcher.run(plugin, variables: variables) {
            config = stdin()
            return config
        }
        let duration = clock.now - started
        if let settings = LogSettings.peek(config),
           let problem = record(outcome, duration: duration, variables: variables,
                                settings: settings, label: label) {
            outcome.stderr += "\(label): not logging this call: \(problem)\n"
        }
        return outcome
    }

    /// Writes the call's line; returns why it could not, for stderr.
    static func record(_ outcome: Outcome, duration: Duration, variables: [String: String],
                       settings: LogSettings, label: String) -> String? {
        let (threshold, warning) = settings.level
        let level: Logger.Level = outcome.error == nil ? .info : .error
        guard level >= threshold else { return nil }
        // The plugin's working directory is the runtime's, whatever that is.
        guard settings.logFile.hasPrefix("/") else {
            return "logFile \"\(settings.logFile.prefix(64))\" is not an absolute path"
        }

        let descriptor: Int32
        do {
            descriptor = try Syscall.open(settings.logFile, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY, mode: 0o640)
        } catch {
            return error.description
        }
        defer { Syscall.close(descriptor) }
        if writesToStdout(descriptor) {
            return "logFile \(settings.logFile) is standard output, which carries the result"
        }

        var logger = Logger(label: label) { label in
            FileLogHandler(descriptor: descriptor, label: label, logLevel: threshold)
        }
        logger.logLevel = threshold
        var fields = metadata(outcome, duration: duration, variables: variables, network: settings.name)
        if let warning { fields["warning"] = .string(warning) }
        if threshold <= .debug {
            fields["cniArgs"] = .string(variables["CNI_ARGS"] ?? "")
            fields["output"] = .string(String(decoding: outcome.stdout, as: UTF8.self))
        }
        logger.log(level: level, "\(variables["CNI_COMMAND"] ?? "")", metadata: fields)
        return nil
    }

    static func metadata(_ outcome: Outcome, duration: Duration, variables: [String: String],
                         network: String?) -> Logger.Metadata {
        // Raw variables, not the parsed environment: a call rejected for bad input is logged too,
        // cut to the longest valid value (a container ID has up to 1024 bytes, and operators
        // grep the log for it whole).
        var fields: Logger.Metadata = [
            "containerID": .string(String((variables["CNI_CONTAINERID"] ?? "").prefix(1024))),
            "ifname": .string(String((variables["CNI_IFNAME"] ?? "").prefix(64))),
            "netns": .string(String((variables["CNI_NETNS"] ?? "").prefix(256))),
            "durationMs": .string(milliseconds(duration)),
        ]
        if let network { fields["network"] = .string(String(network.prefix(256))) }
        if let error = outcome.error {
            fields["error"] = .string("\(error.code): \(error.description)")
        } else if let result = outcome.result {
            fields["ips"] = .string(result.ips.map(\.address.description).joined(separator: ","))
        }
        return fields
    }

    /// Milliseconds with three decimals, without Foundation's formatting.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let microseconds = Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000)
        return "\(microseconds / 1000).\(FileLogHandler.padded(microseconds % 1000, width: 3))"
    }

    private static func writesToStdout(_ descriptor: Int32) -> Bool {
        guard let log = try? Syscall.fstat(descriptor), let out = try? Syscall.fstat(1) else { return false }
        return log.st_dev == out.st_dev && log.st_ino == out.st_ino
    }
}
