import FastCGIPool
import Foundation
import Testing

/// `FCGI_WEB_SERVER_ADDRS`, checked against the peers of real loopback connections.
@Suite struct WebServerAddressesTests {
    @Test func onlyTheNamedAddressesAreAdmittedOverTCP() throws {
        let addresses = try #require(try WebServerAddresses("127.0.0.2, 10.0.0.7"))
        for (source, admitted) in [("127.0.0.2", true), ("127.0.0.1", false), ("127.0.0.3", false)] {
            let (client, accepted) = try LoopbackSockets.connection(from: source)
            #expect(addresses.admit(accepted) == admitted, "\(source)")
            close(client)
            close(accepted)
        }
    }

    @Test func aUnixSocketIsNotChecked() throws {
        let pair = try LoopbackSockets.unixPair()
        defer { for end in pair { close(end) } }
        #expect(try #require(try WebServerAddresses("127.0.0.2")).admit(pair[1]))
    }

    @Test func absentOrBlankAdmitsEveryoneAndAnAddressThatDoesNotParseIsAnError() throws {
        #expect(try WebServerAddresses(nil) == nil)
        #expect(try WebServerAddresses(" ") == nil)
        #expect(throws: FastCGIError.self) { try WebServerAddresses("127.0.0.1,nginx.internal") }
    }
}
