import Foundation
import Testing

@testable import LeaderboardCore

/// The revocation check of reads that carry it to Redis, when the cache cannot vouch for a token.
@Suite struct AuthServiceTests {
    /// A read whose revocation check found the cache incomplete is answered by PostgreSQL (here, the list):
    /// a revoked token gets 401, any other the read, made again without the check.
    @Test func aReadTheCacheCannotVouchForIsCheckedByTheList() throws {
        let auth = VerifiedTokensTests.makeAuth(verifiedTokens: VerifiedTokens())
        let user = User(id: 7, name: "Ann", email: "ann@example.com")
        let (kept, revoked) = (auth.issueToken(for: user), auth.issueToken(for: user))
        try auth.logout(token: revoked, claims: try auth.authenticate(revoked))
        func read(_ token: String) throws -> String {
            try auth.whileNotRevoked(try auth.verify(token)) { tokenKey in
                if tokenKey != nil { throw IndexError.revocationsNotCached }
                return "rows"
            }
        }
        #expect(try read(kept) == "rows")
        #expect(VerifiedTokensTests.message { try read(revoked) } == "token revoked")
    }
}
