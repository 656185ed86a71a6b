import Foundation
import Testing

/// Real loopback connections, for the tests of what the pool does with the sockets it accepts.
enum LoopbackSockets {
    /// An IPv4 loopback address, as the `sockaddr` the socket calls take.
    static func withAddress<Result>(_ address: inout sockaddr_in, _ body: (UnsafeMutablePointer<sockaddr>) -> Result) -> Result {
        withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
    }

    static func loopback(_ text: String) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, text, &address.sin_addr)
        return address
    }

    /// A TCP connection to a fresh listener on 127.0.0.1 from `source`, and its accepted end.
    static func connection(from source: String = "127.0.0.1") throws -> (client: Int32, accepted: Int32) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var (address, local) = (loopback("127.0.0.1"), loopback(source))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try #require(withAddress(&address) { bind(listener, $0, length) } == 0)
        try #require(listen(listener, 1) == 0)
        try #require(withAddress(&address) { getsockname(listener, $0, &length) } == 0)
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(withAddress(&local) { bind(client, $0, length) } == 0)
        try #require(withAddress(&address) { connect(client, $0, length) } == 0)
        let accepted = accept(listener, nil, nil)
        try #require(accepted >= 0)
        return (client, accepted)
    }

    /// Both ends of a unix stream socket pair.
    static func unixPair() throws -> [Int32] {
        var pair: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        return pair
    }
}
