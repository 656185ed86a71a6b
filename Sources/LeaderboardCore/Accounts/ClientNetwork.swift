import Foundation

/// What a per-address limit counts a client by: an IPv4 address, or an IPv6 address's /64 network, which one host
/// usually holds whole (counted by single addresses, it would have 2^64 fresh counters); an IPv4-mapped IPv6 address
/// as its IPv4 address. Anything that is not an IP address as it is.
enum ClientNetwork {
    static func of(_ address: String) -> String {
        var ipv6 = in6_addr()
        guard inet_pton(AF_INET6, address, &ipv6) == 1 else { return address }
        let bytes = withUnsafeBytes(of: &ipv6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }
}
