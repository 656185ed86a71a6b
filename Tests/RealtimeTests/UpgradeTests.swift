import LeaderboardCore
import NIOHTTP1
import Testing

@testable import LeaderboardRealtime

/// Which token a WebSocket upgrade is admitted with, and how many sockets an account may hold.
@Suite struct UpgradeTests {
    static let allowed = ["https://partner.example"]

    func upgrade(_ headers: [String: String]) -> HTTPRequestHead {
        let merged = ["Host": "scores.example.org"].merging(headers) { _, new in new }
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: "/ws/v1/scores", headers: HTTPHeaders(Array(merged)))
    }

    @Test(arguments: [
        [:], ["Origin": "https://scores.example.org"], ["Origin": "http://scores.example.org"], ["Origin": "https://SCORES.example.org"],
        ["Origin": "https://partner.example"], ["Origin": "https://scores.example.org", "X-Forwarded-Proto": "https"],
    ])
    func theCookieCountsWithoutAnOriginOrFromTheSiteOrAnAllowedOrigin(headers: [String: String]) {
        let request = upgrade(headers.merging(["Cookie": "ath=cookie-token"]) { _, new in new })
        #expect(request.upgradeToken(allowedOrigins: Self.allowed) == "cookie-token")
    }

    @Test(arguments: [
        ["Origin": "https://evil.example"], ["Origin": "null"], ["Origin": "https://scores.example.org:8443"],
        ["Origin": "https://scores.example.org.evil.example"], ["Origin": "http://scores.example.org", "X-Forwarded-Proto": "https"],
        ["Origin": "https://scores.example.org", "Host": ""],
    ])
    func theCookieOfAnUpgradeFromAnotherSiteCountsAsNoToken(headers: [String: String]) {
        let request = upgrade(headers.merging(["Cookie": "ath=cookie-token"]) { _, new in new })
        #expect(request.upgradeToken(allowedOrigins: Self.allowed) == nil)
    }

    @Test func aBearerTokenCountsFromAnyOrigin() {
        let request = upgrade(["Origin": "https://evil.example", "Authorization": "Bearer header-token", "Cookie": "ath=cookie-token"])
        #expect(request.upgradeToken(allowedOrigins: Self.allowed) == "header-token")
    }

    @Test func anAccountHoldsAtMostItsLimitOfSocketsAndGetsOneBackWhenOneCloses() {
        let sockets = AccountSockets(limit: 3)
        #expect((1...3).allSatisfy { _ in sockets.claim(userID: 7) })
        #expect(!sockets.claim(userID: 7))
        #expect(sockets.claim(userID: 8), "another account is not held up")
        sockets.release(userID: 7)
        #expect(sockets.claim(userID: 7))
        #expect(!sockets.claim(userID: 7))
    }
}
