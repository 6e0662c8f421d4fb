import Addressing

/// A node's VXLAN endpoint, named for the node.
public enum VTEP {
    /// A locally administered MAC derived from the node's name: the same after every restart,
    /// so peers' neighbour entries stay right.
    public static func mac(node name: String) -> MACAddress {
        let hash = FNV1a.hash([name.utf8])
        let bytes = withUnsafeBytes(of: hash.littleEndian) { Array($0.prefix(6)) }
        return MACAddress.locallyAdministered(randomBytes: bytes)!
    }
}
