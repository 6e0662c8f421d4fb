import CNI

/// The GC input: `cni.dev/valid-attachments`, or `cni.dev/attachments` as the tagged 1.1.0
/// text calls it; runtimes send either. A GC with neither would release everything, so it
/// is refused instead.
struct ValidAttachments {
    var list: [(containerID: String, ifname: String)]

    init(config: JSONNode) throws(CNIError) {
        let valid = try config.list("cni.dev/valid-attachments"), tagged = try config.list("cni.dev/attachments")
        guard let attachments = valid ?? tagged else {
            throw CNIError.config("GC needs cni.dev/valid-attachments (or cni.dev/attachments) in its config")
        }
        list = try attachments.map { (entry) throws(CNIError) in
            (try entry.required("containerID").string(), try entry.required("ifname").string())
        }
    }
}
