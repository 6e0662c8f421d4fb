/// One BGP session as BIRD reports it (`show protocols all`): for `status` and `/metrics`.
public struct BGPSession: Equatable, Sendable {
    public var name: String
    /// BIRD's BGP state: Established, Connect, Active, Idle, OpenSent, OpenConfirm, Down.
    public var state: String
    public var neighbour: String = ""
    public var asn: String = ""
    /// Why the session last failed, in BIRD's words ("" when it did not).
    public var lastError: String = ""
    /// Routes the peer announced that this node took, and routes this node announced.
    public var received = 0
    public var announced = 0

    public var isEstablished: Bool { state == "Established" }

    public var summary: String {
        "bgp session \(name) (\(neighbour) AS \(asn)): \(state), \(received) received, \(announced) announced"
            + (lastError.isEmpty || isEstablished ? "" : "; last error: \(lastError)")
    }

    /// The BGP protocols of a `show protocols all` reply: a protocol's line has code 1002, its
    /// details 1006. Only podwire's sessions (`router_…`, `mesh_…`) are taken.
    public static func parse(_ lines: [BirdControl.Line]) -> [BGPSession] {
        var sessions: [BGPSession] = []
        var current: BGPSession?
        for line in lines {
            if line.code == 1002 {
                if let current { sessions.append(current) }
                let fields = line.text.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 4, fields[1] == "BGP",
                      fields[0].hasPrefix("router_") || fields[0].hasPrefix("mesh_") else {
                    current = nil
                    continue
                }
                current = BGPSession(name: String(fields[0]), state: fields[3] == "up" ? "Established" : "Down")
            } else if line.code == 1006, current != nil {
                let text = line.text.drop { $0 == " " }
                guard let colon = text.firstIndex(of: ":") else { continue }
                let key = text[..<colon], value = String(text[text.index(after: colon)...].drop { $0 == " " })
                switch key {
                case "BGP state": current?.state = value
                case "Neighbor address": current?.neighbour = value
                case "Neighbor AS": current?.asn = value
                case "Last error": current?.lastError = value
                case "Routes":
                    // "1 imported, 0 filtered, 2 exported, 1 preferred"; summed over the channels.
                    for part in value.split(separator: ",") {
                        let words = part.split(separator: " ")
                        guard words.count == 2, let count = Int(words[0]) else { continue }
                        if words[1] == "imported" { current?.received += count }
                        if words[1] == "exported" { current?.announced += count }
                    }
                default: break
                }
            }
        }
        if let current { sessions.append(current) }
        return sessions
    }
}
