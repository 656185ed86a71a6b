import Foundation

/// The addresses a connection to a TCP socket of the pool may come from: libfcgi's `FCGI_WEB_SERVER_ADDRS`
/// (comma-separated IPv4 addresses), which libfcgi's own accept loop honoured and the pool's must too, or any
/// process that reaches the port could send requests with a `REMOTE_ADDR` of its choosing, past nginx and its limits.
/// As in libfcgi, unix sockets are not checked (their file's mode guards them); unlike libfcgi, a peer that is
/// neither (IPv6, on a socket systemd passed) is refused when a list is set, not let through.
public struct WebServerAddresses: Sendable, Equatable {
    /// IPv4 addresses in network byte order, as `in_addr.s_addr`.
    private let allowed: Set<UInt32>

    /// Nil when `list` is absent or blank (every peer is served, as libfcgi does); an address that does not parse
    /// is an error, not an entry that never matches.
    public init?(_ list: String?) throws(FastCGIError) {
        guard let list, !list.allSatisfy(\.isWhitespace) else { return nil }
        var allowed = Set<UInt32>()
        for entry in list.split(separator: ",") {
            let text = entry.trimmingCharacters(in: .whitespaces)
            var address = in_addr()
            guard inet_pton(AF_INET, text, &address) == 1 else { throw .invalidWebServerAddress(text) }
            allowed.insert(address.s_addr)
        }
        self.allowed = allowed
    }

    /// Whether the peer of the connected socket `descriptor` may be served.
    public func admit(_ descriptor: Int32) -> Bool {
        var peer = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
        }
        guard status == 0 else { return false }
        switch Int32(peer.ss_family) {
        case AF_UNIX:
            return true
        case AF_INET:
            let address = withUnsafeBytes(of: peer) { $0.load(as: sockaddr_in.self) }
            return allowed.contains(address.sin_addr.s_addr)
        default:
            return false
        }
    }
}
