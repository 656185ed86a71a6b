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
        let users = InMemoryUserStore()
        let auth = AuthService(
            users: users, ephemeral: InMemoryEphemeralStore(), revocations: InMemoryRevocations(),
            refreshTokens: InMemoryRefreshTokenStore(users: users),
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

    static func makeSessions() throws -> (auth: AuthService, users: InMemoryUserStore, refreshTokens: InMemoryRefreshTokenStore) {
        let users = InMemoryUserStore()
        let refreshTokens = InMemoryRefreshTokenStore(users: users)
        let auth = AuthService(
            users: users, ephemeral: InMemoryEphemeralStore(), revocations: InMemoryRevocations(), refreshTokens: refreshTokens,
            signer: JWTSigner(secret: String(repeating: "k", count: 40)),
            passwords: PasswordWork(hasher: PasswordHasher(cost: 4), concurrency: 1, maxWait: .seconds(1)),
            policy: .init(
                tokenLifetime: .seconds(60), maxLoginFailures: 3, failureWindowSeconds: 60, maxSignupsPerAddress: 3, signupWindowSeconds: 60))
        _ = try auth.signup(name: "Ann", email: "ann@example.com", password: "s3cret-pass", clientAddress: "10.0.3.1")
        return (auth, users, refreshTokens)
    }

    /// Each refresh spends its token: the new pair works, the old refresh token is refused, and presenting it again
    /// ends the session, so the holder of the newest token is refused too.
    @Test func aRefreshRotatesAndAReusedTokenRevokesTheSession() throws {
        let (auth, _, _) = try Self.makeSessions()
        let login = try auth.login(email: "ann@example.com", password: "s3cret-pass", clientAddress: "10.0.3.1")
        let first = try auth.refresh(login.refreshToken)
        #expect(first.refreshToken != login.refreshToken)
        #expect(try auth.authenticate(first.token).sessionID == auth.authenticate(login.token).sessionID)
        let second = try auth.refresh(first.refreshToken)
        #expect(VerifiedTokensTests.message { try auth.refresh(first.refreshToken) } == "refresh token already used; the session is revoked")
        #expect(VerifiedTokensTests.message { try auth.refresh(second.refreshToken) } == "session revoked")
        // Access tokens already issued keep working until they expire.
        #expect(try auth.authenticate(second.token).userID == login.user.id)
    }

    @Test func logoutEndsTheSessionOfItsToken() throws {
        let (auth, _, _) = try Self.makeSessions()
        let phone = try auth.login(email: "ann@example.com", password: "s3cret-pass", clientAddress: "10.0.3.1")
        let laptop = try auth.login(email: "ann@example.com", password: "s3cret-pass", clientAddress: "10.0.3.1")
        let renewed = try auth.refresh(phone.refreshToken)
        try auth.logout(token: renewed.token, claims: try auth.authenticate(renewed.token))
        #expect(VerifiedTokensTests.message { try auth.refresh(renewed.refreshToken) } == "session revoked")
        _ = try auth.refresh(laptop.refreshToken)
    }

    @Test(arguments: ["", "short", String(repeating: "A", count: 43), String(repeating: "!", count: 43)])
    func aRefreshTokenWeDidNotIssueIsRefused(_ token: String) throws {
        let (auth, _, _) = try Self.makeSessions()
        #expect(VerifiedTokensTests.message { try auth.refresh(token) }?.contains("refresh token") == true)
    }

    @Test func anExpiredRefreshTokenIsRefusedAndABannedPlayerCannotLogIn() throws {
        let (auth, users, refreshTokens) = try Self.makeSessions()
        let login = try auth.login(email: "ann@example.com", password: "s3cret-pass", clientAddress: "10.0.3.1")
        refreshTokens.expireAll()
        #expect(VerifiedTokensTests.message { try auth.refresh(login.refreshToken) } == "refresh token expired")
        users.banned.insert(login.user.id)
        #expect(
            VerifiedTokensTests.message { try auth.login(email: "ann@example.com", password: "s3cret-pass", clientAddress: "10.0.3.1") }
                == "this account is banned")
    }
}
