import Addressing
import Netlink
import NetfilterNetlink

/// How podwire's entries lie in set elements. Concatenated fields are padded to 4 bytes
/// each, as in the registers the rules fill.
enum Elements {
    typealias Element = NFTables.Element

    /// Pod address . destination network, as a range over the second field: the pod's subnet,
    /// and each network its traffic is not masqueraded to.
    static func podLocal(_ entry: PodFirewall.Masquerade, comment: String) -> [Element] {
        entry.keepsSource.map { network in
            Element(key: entry.address.bytes + network.first.bytes, keyEnd: entry.address.bytes + network.last.bytes,
                    comment: comment)
        }
    }

    /// Client range . pod address, once per pod address: the pod's own subnet (hairpin) and,
    /// for IPv4, 127.0.0.0/8 (the node's localhost, which IPv6 cannot route to a pod).
    static func hairpin(_ targets: [PortTarget], comment: String) -> [Element] {
        var seen: Set<IPAddress> = []
        var elements: [Element] = []
        for target in targets where seen.insert(target.podAddress).inserted {
            var clients = [target.subnet]
            if target.podAddress.family == .v4, let loopback = IPNetwork("127.0.0.0/8") { clients.append(loopback) }
            for range in clients {
                elements.append(Element(key: range.first.bytes + target.podAddress.bytes,
                                        keyEnd: range.last.bytes + target.podAddress.bytes, comment: comment))
            }
        }
        return elements
    }

    /// [host address .] protocol . host port : pod address . container port.
    static func portMap(_ target: PortTarget, comment: String) -> Element {
        Element(key: portKey(target.mapping), value: target.podAddress.bytes + padded(target.mapping.containerPort),
                comment: comment)
    }

    static func portKey(_ mapping: PortMapping) -> [UInt8] {
        (mapping.hostIP?.bytes ?? []) + [mapping.proto.number, 0, 0, 0] + padded(mapping.hostPort)
    }

    /// Whether an element already in `set` takes the host port `target` asks for: the same
    /// protocol and port in the same family, on the same host address or on any.
    static func conflict(_ target: PortTarget, set: String, key: [UInt8]) -> Bool {
        let family: IPAddress.Family = set.hasSuffix("4") ? .v4 : .v6
        guard target.podAddress.family == family, key.count >= 8,
              Array(key.suffix(8)) == [target.mapping.proto.number, 0, 0, 0] + padded(target.mapping.hostPort) else {
            return false
        }
        let existingAddress = key.count > 8 ? IPAddress(bytes: Array(key.prefix(key.count - 8))) : nil
        guard let existingAddress, let wanted = target.mapping.hostIP else { return true }
        return existingAddress == wanted
    }

    private static func padded(_ port: UInt16) -> [UInt8] { [UInt8(port >> 8), UInt8(port & 0xff), 0, 0] }
}
