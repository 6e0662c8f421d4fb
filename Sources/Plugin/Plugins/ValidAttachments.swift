import CNI
import Identity

/// The GC input: `cni.dev/valid-attachments`, or `cni.dev/attachments` as the tagged 1.1.0
/// text calls it; runtimes send either. A GC with neither would release everything, so it
/// is refused instead. Each names an attachment of the network being collected.
struct ValidAttachments {
    var list: [Attachment]

    init(_ call: Call) throws(CNIError) {
        try self.init(config: call.document, network: call.header.validatedNetworkName())
    }

    init(config: JSONNode, network: String) throws(CNIError) {
        let valid = try config.list("cni.dev/valid-attachments"), tagged = try config.list("cni.dev/attachments")
        guard let attachments = valid ?? tagged else {
            throw CNIError.config("GC needs cni.dev/valid-attachments (or cni.dev/attachments) in its config")
        }
        list = try attachments.map { (entry) throws(CNIError) in
            Attachment(network: network, containerID: try entry.required("containerID").string(),
                       ifname: try entry.required("ifname").string())
        }
    }
}
