/// Validation of names that come from outside and end up in file paths or the kernel.
/// Every check here happens before anything on the host is touched.
public enum Names {
    /// Container IDs and network names: libcni's rule (a letter or digit, then letters,
    /// digits, `_`, `.`, `-`), which also keeps them from naming a path outside a directory.
    public static func isSafeIdentifier(_ text: String, maxLength: Int = 1024) -> Bool {
        guard let first = text.utf8.first, text.utf8.count <= maxLength,
              isAlphanumeric(first) else { return false }
        return text.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_")
            || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// An interface name the kernel accepts: 1–15 bytes, no `/`, `:` or white space,
    /// not `.` or `..`. The reason comes back so the error can say it.
    public static func interfaceNameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "is empty" }
        if bytes.count > 15 { return "is longer than 15 bytes" }
        if name == "." || name == ".." { return "cannot be . or .." }
        for byte in bytes {
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: ":") { return "contains / or :" }
            if byte <= 0x20 || byte == 0x7f { return "contains white space or a control character" }
        }
        return nil
    }

    /// An interface whose settings podwire may write under `/proc/sys/net/*/conf/<name>/`: a
    /// valid interface name that is not one of the directories standing for every interface.
    public static func sysctlInterfaceProblem(_ name: String) -> String? {
        if let problem = interfaceNameProblem(name) { return problem }
        if name == "all" || name == "default" { return "names the settings of every interface" }
        return nil
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
