#if canImport(Glibc)
import Glibc
#endif
import CNI
import Syscall

/// Reads a resolv.conf into the result's `dns`, as the reference host-local's `resolvConf`.
enum ResolvConf {
    static func read(_ path: String) throws(CNIError) -> DNS {
        let text: String
        do {
            let fd = try Syscall.open(path, O_RDONLY)
            defer { Syscall.close(fd) }
            text = String(decoding: try Syscall.readAll(fd, limit: 1 << 20, subject: path), as: UTF8.self)
        } catch {
            throw CNIError(CNIError.ioFailure, "cannot read ipam.resolvConf: \(error)")
        }
        return parse(text)
    }

    static func parse(_ text: String) -> DNS {
        var dns = DNS()
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let keyword = fields.first, !keyword.hasPrefix("#"), !keyword.hasPrefix(";") else { continue }
            let values = Array(fields.dropFirst())
            switch keyword {
            case "nameserver": dns.nameservers = (dns.nameservers ?? []) + values.prefix(1)
            case "domain": dns.domain = values.first
            case "search": dns.search = values
            case "options": dns.options = (dns.options ?? []) + values
            default: break
            }
        }
        return dns
    }
}
