import FastCGIPool
import Foundation
import Testing

/// `FCGI_WEB_SERVER_ADDRS`, checked against the peers of real loopback connections.
@Suite struct WebServerAddressesTests {
    /// An IPv4 loopback address, as the `sockaddr` the socket calls take.
    func withAddress<Result>(_ address: inout sockaddr_in, _ body: (UnsafeMutablePointer<sockaddr>) -> Result) -> Result {
        withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
    }

    func loopback(_ text: String) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, text, &address.sin_addr)
        return address
    }

    /// A connection to a fresh listener on 127.0.0.1 from `source`, and its accepted end.
    func connection(from source: String) throws -> (client: Int32, accepted: Int32) {
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

    @Test func onlyTheNamedAddressesAreAdmittedOverTCP() throws {
        let addresses = try #require(try WebServerAddresses("127.0.0.2, 10.0.0.7"))
        for (source, admitted) in [("127.0.0.2", true), ("127.0.0.1", false), ("127.0.0.3", false)] {
            let (client, accepted) = try connection(from: source)
            #expect(addresses.admit(accepted) == admitted, "\(source)")
            close(client)
            close(accepted)
        }
    }

    @Test func aUnixSocketIsNotChecked() throws {
        var pair: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { for end in pair { close(end) } }
        #expect(try #require(try WebServerAddresses("127.0.0.2")).admit(pair[1]))
    }

    @Test func absentOrBlankAdmitsEveryoneAndAnAddressThatDoesNotParseIsAnError() throws {
        #expect(try WebServerAddresses(nil) == nil)
        #expect(try WebServerAddresses(" ") == nil)
        #expect(throws: FastCGIError.self) { try WebServerAddresses("127.0.0.1,nginx.internal") }
    }
}
