import CNI

/// The GC input: `cni.dev/valid-attachments`, or `cni.dev/attachments` as the tagged 1.1.0
/// text calls it; runtimes send either. A GC with neither would release everything, so it
/// is refused instead.
struct ValidAttachments {
    var list: [(containerID: String, ifname: String)]

    init(config: [UInt8]) throws {
        struct Attachment: Decodable {
            var containerID: String
            var ifname: String
        }
        struct Wire: Decodable {
            var valid: [Attachment]?
            var tagged: [Attachment]?
            enum CodingKeys: String, CodingKey {
                case valid = "cni.dev/valid-attachments"
                case tagged = "cni.dev/attachments"
            }
        }
        let wire = try JSON.decode(Wire.self, from: config, what: "GC config")
        guard let attachments = wire.valid ?? wire.tagged else {
            throw CNIError.config("GC needs cni.dev/valid-attachments (or cni.dev/attachments) in its config")
        }
        list = attachments.map { ($0.containerID, $0.ifname) }
    }
}
