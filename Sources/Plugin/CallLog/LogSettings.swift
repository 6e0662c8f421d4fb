import CNI
import Logging

/// `logFile` and `logLevel` from the network config: where the call log goes, and from
/// which level on. No `logFile`, no log. The network's name comes along for the line, so
/// the config is decoded once more only when it asks for a log.
struct LogSettings {
    var logFile: String
    var logLevel: String?
    var name: String?

    /// The settings, if the config asks for a log; anything malformed here means no log,
    /// because logging must never be the reason a call fails.
    static func peek(_ config: [UInt8]) -> LogSettings? {
        // Most configs have no log: skip decoding the document a second time for them.
        guard config.count >= 7, contains(config, Array("logFile".utf8)) else { return nil }
        guard let document = try? JSONNode.document(config, what: "log settings"),
              let logFile = try? document.string("logFile") else { return nil }
        return LogSettings(logFile: logFile,
                           logLevel: try? document.string("logLevel"), name: try? document.string("name"))
    }

    static let defaultLevel = Logger.Level.info

    /// The level asked for, or the default and a warning for the log when it is not one.
    var level: (Logger.Level, warning: String?) {
        guard let logLevel else { return (Self.defaultLevel, nil) }
        if let level = Logger.Level(rawValue: logLevel.lowercased()) { return (level, nil) }
        let known = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
        return (Self.defaultLevel,
                "logLevel \"\(logLevel.prefix(32))\" is not one of \(known); using \(Self.defaultLevel.rawValue)")
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in
            haystack[start..<(start + needle.count)].elementsEqual(needle)
        }
    }
}
