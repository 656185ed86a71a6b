import Testing

@testable import LeaderboardCore

@Suite struct ClientNetworkTests {
    @Test(arguments: [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:0DB8:0001:0002:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::1", "0:0:0:0::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        ("not an address", "not an address"),
    ])
    func aClientIsItsIPv4AddressOrItsIPv6Network(address: String, client: String) {
        #expect(ClientNetwork.of(address) == client)
    }
}
