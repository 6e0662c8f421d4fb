import CVersion

public enum PodwireVersion {
    /// From Sources/Shared/CVersion, which the pause program prints too.
    public static let string = withUnsafeBytes(of: podwire_version) {
        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
    }
}
