#if canImport(Glibc)
import Glibc
#endif
import CNetlink
import Netlink

/// A bridge port's own settings, as `bridge link set` and `bridge vlan` change them: requests
/// of family AF_BRIDGE about the port's index.
extension NetlinkSocket where Family == RouteFamily {
    /// Lets frames leave a bridge port on the port they came in on (reflective relay),
    /// so a pod can reach itself through a service address.
    public func setHairpin(port index: Int32) throws(NetlinkError) {
        try setPortFlag(IFLA_BRPORT_MODE, "set hairpin mode on port \(index)", port: index)
    }

    /// Isolates the port (`bridge link set dev NAME isolated on`): it exchanges frames only
    /// with ports that are not isolated, such as the bridge itself and uplinks.
    public func setIsolated(port index: Int32) throws(NetlinkError) {
        try setPortFlag(IFLA_BRPORT_ISOLATED, "isolate port \(index)", port: index)
    }

    /// Makes `vid` the port's untagged PVID, as `bridge vlan add vid N pvid untagged`.
    public func addVlan(port index: Int32, vid: UInt16) throws(NetlinkError) {
        try changeVlans(RTM_SETLINK, port: index, [vid...vid],
                        flags: UInt16(BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED))
    }

    /// Lets the port carry these VLANs tagged (`bridge vlan add vid A-B`): a trunk.
    public func addTrunk(port index: Int32, _ ranges: [ClosedRange<UInt16>]) throws(NetlinkError) {
        try changeVlans(RTM_SETLINK, port: index, ranges, flags: 0)
    }

    /// Takes a VLAN off the port (`bridge vlan del vid N`); one it does not carry is no error.
    public func deleteVlan(port index: Int32, vid: UInt16) throws(NetlinkError) {
        do {
            try changeVlans(RTM_DELLINK, port: index, [vid...vid], flags: 0)
        } catch where error.isNotFound {
        }
    }

    /// The kernel's bridge code reads port attributes in IFLA_PROTINFO only when it is
    /// flagged nested; unflagged, it takes them for the old single-byte port state.
    private func setPortFlag(_ flag: Int, _ operation: String, port index: Int32) throws(NetlinkError) {
        var message = NetlinkMessage(link: operation, type: RTM_SETLINK, family: AF_BRIDGE, index: index)
        message.nested(IFLA_PROTINFO, flagged: true) { $0.put(flag, u8: 1) }
        try perform(message)
    }

    /// One request for all the ranges, each a begin and an end entry (or one for a single VLAN).
    private func changeVlans(_ type: Int, port index: Int32, _ ranges: [ClosedRange<UInt16>],
                             flags: UInt16) throws(NetlinkError) {
        let verb = type == RTM_DELLINK ? "delete" : "add"
        var message = NetlinkMessage(link: "\(verb) vlans \(ranges) on port \(index)", type: type,
                                     family: AF_BRIDGE, index: index)
        message.nested(IFLA_AF_SPEC) { spec in
            func put(_ vid: UInt16, _ extra: Int32) {
                spec.put(IFLA_BRIDGE_VLAN_INFO, raw: bridge_vlan_info(flags: flags | UInt16(extra), vid: vid))
            }
            for range in ranges {
                if range.count == 1 {
                    put(range.lowerBound, 0)
                } else {
                    put(range.lowerBound, BRIDGE_VLAN_INFO_RANGE_BEGIN)
                    put(range.upperBound, BRIDGE_VLAN_INFO_RANGE_END)
                }
            }
        }
        try perform(message)
    }
}
