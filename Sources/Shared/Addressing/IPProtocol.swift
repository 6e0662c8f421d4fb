/// The IP protocol numbers podwire matches on (IPPROTO_* in glibc's netinet/in.h; a test holds
/// them to those values).
public enum IPProtocol: UInt8, Sendable, CaseIterable {
    case tcp = 6
    case udp = 17
    case sctp = 132
}
