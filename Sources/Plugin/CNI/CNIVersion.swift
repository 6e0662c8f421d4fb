/// The CNI specification versions podwire speaks. Older ones (0.1.0, 0.2.0) used a result
/// shape (`ip4`/`ip6`) that no current runtime sends; they are refused with code 1.
public enum CNIVersion: String, CaseIterable, Comparable, Sendable {
    case v0_3_0 = "0.3.0"
    case v0_3_1 = "0.3.1"
    case v0_4_0 = "0.4.0"
    case v1_0_0 = "1.0.0"
    case v1_1_0 = "1.1.0"

    public static let latest = CNIVersion.v1_1_0
    public static let supportedList = allCases.map(\.rawValue)

    /// Parses a config's `cniVersion`, or fails with the specification's code 1 and the list.
    public static func parse(_ text: String) throws(CNIError) -> CNIVersion {
        guard let version = CNIVersion(rawValue: text) else {
            let shown = text.isEmpty ? "an empty cniVersion (0.1.0)" : "\"\(text)\""
            let supported = supportedList.joined(separator: ", ")
            throw CNIError(CNIError.incompatibleVersion,
                           "incompatible CNI version: config has \(shown), podwire supports \(supported)")
        }
        return version
    }

    /// CHECK appeared in 0.4.0, STATUS and GC in 1.1.0.
    public var allowsCheck: Bool { self >= .v0_4_0 }
    public var allowsStatusAndGC: Bool { self >= .v1_1_0 }
    /// 0.3.x and 0.4.0 results carry `"version": "4"|"6"` on each IP.
    public var ipsCarryVersion: Bool { self < .v1_0_0 }
    /// Interface mtu/socketPath/pciID and the route extras are 1.1.0 fields.
    public var hasExtendedFields: Bool { self >= .v1_1_0 }

    private var order: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (lhs: CNIVersion, rhs: CNIVersion) -> Bool { lhs.order < rhs.order }
}
