import Addressing

/// What the store holds under `/podwire/`, as read: raw, so that every record is judged by
/// `PeerValidation` against the subnet keys before anything is believed. A listing makes it;
/// watch events keep it current.
public struct ClusterView: Equatable, Sendable {
    /// The value of each `nodes/NAME` key, by NAME, as stored.
    public var records: [String: [UInt8]] = [:]
    /// The holder each `subnets/` key names, by subnet.
    public var holders: [IPNetwork: String] = [:]
    /// The value of each `alive/NAME` key (the addresses its daemon announced), by NAME.
    public var alive: [String: String] = [:]
    /// The store's revision each record was created at: of two records claiming one address
    /// or MAC, the one made first keeps it.
    public var created: [String: Int64] = [:]
    /// The config key's value, as stored.
    public var config: [UInt8]?
    /// Keys under the root that are none of these (a subnet key spelt wrongly, a stray name).
    public var strays: Set<String> = []
    /// The store's revision the view is current at.
    public var revision: Int64 = 0

    public init() {}

    /// A change to one key, as a watch reports it.
    public enum Change: Equatable, Sendable {
        /// `created`: the revision the key was created at, when the store tells it (0: unknown).
        case put(key: String, value: [UInt8], created: Int64 = 0)
        case delete(key: String)
    }

    public mutating func apply(_ change: Change) {
        switch change {
        case let .put(key, value, created): set(key, value, created: created)
        case let .delete(key): set(key, nil)
        }
    }

    public mutating func set(_ key: String, _ value: [UInt8]?, created revision: Int64 = 0) {
        if let name = ClusterKeys.nodeName(key) {
            records[name] = value
            created[name] = value == nil ? nil : revision
        } else if let subnet = ClusterKeys.subnet(key) {
            holders[subnet] = value.map { String(decoding: $0, as: UTF8.self) }
        } else if let name = ClusterKeys.aliveName(key) {
            alive[name] = value.map { String(decoding: $0, as: UTF8.self) }
        } else if key == ClusterKeys.config {
            config = value
        } else {
            if value == nil { strays.remove(key) } else { strays.insert(key) }
        }
    }

    /// The subnets whose key names `name` as holder.
    public func subnets(heldBy name: String) -> [IPNetwork] {
        holders.filter { $0.value == name }.map(\.key).sorted { $0.first < $1.first }
    }

    /// Subnet keys whose holder has no record: left by a record deleted by hand.
    public var orphans: [(subnet: IPNetwork, holder: String)] {
        holders.filter { records[$0.value] == nil }.map { ($0.key, $0.value) }
            .sorted { $0.subnet.first < $1.subnet.first }
    }
}
