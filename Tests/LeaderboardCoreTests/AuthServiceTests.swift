import Dispatch
import Foundation
import LeaderboardTesting
import Testing

@testable import LeaderboardCore

/// What the REST tests do not reach: reads the revocation cache cannot vouch for, and signups past the hashing bound.
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

    /// A signup refused for want of a hashing slot (503) is not counted against its address's limit.
    @Test func aSignupRefusedForWantOfAHashingSlotCostsItsAddressNothing() throws {
        let passwords = PasswordWork(hasher: PasswordHasher(cost: 4), concurrency: 1, maxWait: .zero)
        let auth = AuthService(
            users: InMemoryUserStore(), ephemeral: InMemoryEphemeralStore(), revocations: InMemoryRevocations(),
            signer: JWTSigner(secret: String(repeating: "k", count: 40)), passwords: passwords,
            policy: .init(
                tokenLifetime: .seconds(60), maxLoginFailures: 3, failureWindowSeconds: 60, maxSignupsPerAddress: 2, signupWindowSeconds: 60))
        func signup(_ index: Int) throws {
            _ = try auth.signup(name: "P", email: "p\(index)@example.com", password: "s3cret-pass", clientAddress: "10.0.3.1")
        }

        let release = DispatchSemaphore(value: 0)
        let holder = PasswordWorkTests.holdTheSlot(of: passwords, until: release)
        #expect(PasswordWorkTests.refusal { try signup(0) } == .unavailable("too many logins and signups at once, retry later"))
        release.signal()
        holder.wait()
        try signup(1)
        try signup(2)
        guard case .rateLimited = PasswordWorkTests.refusal({ try signup(3) }) else {
            Issue.record("the third signup from the address was not rate limited")
            return
        }
    }
}
