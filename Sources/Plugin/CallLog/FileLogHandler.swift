import Logging
import Syscall

/// A swift-log handler that appends logfmt lines to an open file: a UTC timestamp, the
/// level, the label, the message, then the metadata sorted by key.
///
/// Each line is one write to a descriptor opened with O_APPEND, so lines from concurrent
/// plugin processes never interleave. Values are quoted and escaped, so a hostile container
/// ID or error text cannot forge a line of its own.
struct FileLogHandler: LogHandler {
    let descriptor: Int32
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(Self.timestamp()) \(event.level.rawValue) \(label): \(Self.value(event.message.description))"
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in fields.keys.sorted() {
            line += " \(key)=\(Self.value(fields[key]!.description))"
        }
        line += "\n"
        try? Syscall.writeAll(descriptor, Array(line.utf8), subject: "log file")
    }

    /// logfmt: bare when it is one plain token, otherwise quoted with escapes.
    static func value(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar.value < 0x7f && scalar != "\"" && scalar != "=" && scalar != "\\"
        }
        if plain { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                quoted += "\\u" + Self.padded(Int(scalar.value), width: 4, radix: 16)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }

    /// RFC 3339 in UTC with milliseconds, the form log collectors parse without being told.
    static func timestamp() -> String {
        let (time, milliseconds) = Syscall.utcNow()
        return padded(Int(time.tm_year) + 1900, width: 4) + "-" + padded(Int(time.tm_mon) + 1, width: 2) + "-"
            + padded(Int(time.tm_mday), width: 2) + "T" + padded(Int(time.tm_hour), width: 2) + ":"
            + padded(Int(time.tm_min), width: 2) + ":" + padded(Int(time.tm_sec), width: 2) + "."
            + padded(milliseconds, width: 3) + "Z"
    }

    static func padded(_ number: Int, width: Int, radix: Int = 10) -> String {
        let digits = String(number, radix: radix)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
