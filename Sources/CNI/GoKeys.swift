/// An object's keys matched to field names the way Go's encoding/json matches them: an exact
/// match first, else one that differs only in case.
///
/// Every reference plugin decodes with encoding/json, and runtimes rely on it: containerd's
/// go-cni marshals capability arguments from structs without JSON tags, so its port mappings
/// arrive as `{"HostPort":8080,"ContainerPort":80,"Protocol":"tcp","HostIP":""}`. The types
/// a runtime fills in (`portMappings`, `bandwidth`, `ipRanges`) decode through this.
public struct GoKeys {
    public struct Key: CodingKey {
        public var stringValue: String
        public var intValue: Int? { nil }
        public init(stringValue: String) { self.stringValue = stringValue }
        public init?(intValue: Int) { nil }
    }

    private let container: KeyedDecodingContainer<Key>
    private let folded: [String: Key]

    public init(_ decoder: any Decoder) throws {
        container = try decoder.container(keyedBy: Key.self)
        folded = Dictionary(container.allKeys.map { ($0.stringValue.lowercased(), $0) }) { first, _ in first }
    }

    private func key(_ name: String) -> Key? {
        let exact = Key(stringValue: name)
        return container.contains(exact) ? exact : folded[name.lowercased()]
    }

    public func decodeIfPresent<T: Decodable>(_ type: T.Type, _ name: String) throws -> T? {
        guard let key = key(name) else { return nil }
        return try container.decodeIfPresent(type, forKey: key)
    }

    public func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        guard let key = key(name) else {
            throw DecodingError.keyNotFound(Key(stringValue: name), DecodingError.Context(
                codingPath: container.codingPath, debugDescription: "no key \(name)"))
        }
        return try container.decode(type, forKey: key)
    }
}
