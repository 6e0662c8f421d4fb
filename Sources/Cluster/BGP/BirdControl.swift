#if canImport(Glibc)
import Glibc
#endif
import Syscall

/// What went wrong with BIRD.
public enum BirdError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nothing listens on the control socket: BIRD is not running.
    case notRunning(String)
    /// BIRD's process is there but does not answer (stopped, or stuck).
    case notAnswering(String)
    /// BIRD refused the config or a command, in its words.
    case refused(String)
    /// Starting or checking BIRD failed.
    case failed(String)

    public var description: String {
        switch self {
        case let .notRunning(why): "BIRD is not running: \(why)"
        case let .notAnswering(why): "BIRD does not answer: \(why)"
        case let .refused(why): "BIRD refused: \(why)"
        case let .failed(why): why
        }
    }
}

/// One command on BIRD's control socket and its reply: lines of a four-digit code and text,
/// `-` after the code when more lines follow, a space on the last; a line that starts with a
/// space goes on with the code before it. The reply ends at a code of 0xxx (done), 8xxx
/// (run-time error) or 9xxx (parse error).
public enum BirdControl {
    public struct Line: Equatable, Sendable {
        public var code: Int
        public var text: String
    }

    /// The reply to `command` (nil: the greeting only), each line read within `timeout` seconds.
    public static func ask(_ socket: String, _ command: String?, timeout: Int = 2) throws(BirdError) -> [Line] {
        let fd: Int32
        do {
            fd = try Syscall.connectUnix(socket, timeout: timeout)
        } catch {
            throw error.errno == ENOENT || error.errno == ECONNREFUSED ? .notRunning("\(error)")
                : .failed("\(error)")
        }
        defer { Syscall.close(fd) }
        var reader = Reader(fd: fd, socket: socket)
        _ = try reader.reply()
        guard let command else { return [] }
        do {
            try Syscall.writeAll(fd, Array((command + "\n").utf8), subject: socket)
        } catch {
            throw .failed("\(error)")
        }
        let lines = try reader.reply()
        if let last = lines.last, last.code >= 8000 {
            throw .refused(lines.map(\.text).filter { !$0.isEmpty }.joined(separator: "; "))
        }
        return lines
    }

    /// One line of a reply: its code (a line that goes on keeps the code before it, `after`)
    /// and text, and whether it is the reply's last.
    static func line(_ raw: String, after code: Int) -> (Line, last: Bool) {
        let bytes = Array(raw.utf8)
        guard bytes.count >= 5, bytes[0..<4].allSatisfy({ (0x30...0x39).contains($0) }),
              bytes[4] == UInt8(ascii: "-") || bytes[4] == UInt8(ascii: " ") else {
            return (Line(code: code, text: String(raw.dropFirst())), false)
        }
        let code = Int(String(decoding: bytes[0..<4], as: UTF8.self))!
        let last = bytes[4] == UInt8(ascii: " ") && [0, 8, 9].contains(code / 1000)
        return (Line(code: code, text: String(decoding: bytes[5...], as: UTF8.self)), last)
    }

    struct Reader {
        let fd: Int32
        let socket: String
        var pending: [UInt8] = []

        mutating func reply() throws(BirdError) -> [Line] {
            var lines: [Line] = []
            while true {
                let (line, last) = BirdControl.line(try nextLine(), after: lines.last?.code ?? 0)
                lines.append(line)
                if last { return lines }
            }
        }

        mutating func nextLine() throws(BirdError) -> String {
            while true {
                if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    return line
                }
                guard pending.count < 1 << 22 else { throw .failed("\(socket): a reply line over 4 MiB") }
                var buffer = [UInt8](repeating: 0, count: 16384)
                let result = buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(SyscallError) in try Syscall.read(fd, into: raw, subject: socket) }
                }
                let count: Int
                switch result {
                case .success(let read): count = read
                case .failure(let error) where error.errno == EAGAIN:
                    throw .notAnswering("\(socket): no reply within the time allowed")
                case .failure(let error): throw .failed("\(error)")
                }
                guard count > 0 else { throw .failed("\(socket): BIRD closed the connection mid-reply") }
                pending += buffer[..<count]
            }
        }
    }
}
