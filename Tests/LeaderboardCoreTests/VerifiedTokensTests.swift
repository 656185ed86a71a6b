import Foundation
import LeaderboardTesting
import Testing

@testable import LeaderboardCore

/// The cache of verified tokens: a cached token's expiry still counts, and the cache stays bounded.
@Suite struct VerifiedTokensTests {
    static let user = User(id: 7, name: "Ann", email: "ann@example.com")

    static func makeAuth(verifiedTokens: VerifiedTokens, secret: String = String(repeating: "k", count: 40)) -> AuthService {
        let users = InMemoryUserStore()
        return AuthService(
            users: users, ephemeral: InMemoryEphemeralStore(), revocations: InMemoryRevocations(),
            refreshTokens: InMemoryRefreshTokenStore(users: users),
            signer: JWTSigner(secret: secret), passwords: PasswordWork(hasher: PasswordHasher(cost: 4), concurrency: 1, maxWait: .seconds(1)),
            policy: .init(
                tokenLifetime: .seconds(60), maxLoginFailures: 3, failureWindowSeconds: 60, maxSignupsPerAddress: 3, signupWindowSeconds: 60),
            verifiedTokens: verifiedTokens)
    }

    static func message(of body: () throws -> Any) -> String? {
        do {
            _ = try body()
            return nil
        } catch let error as ServiceError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func aCachedTokenIsRefusedOnceItExpires() throws {
        let cache = VerifiedTokens()
        let auth = Self.makeAuth(verifiedTokens: cache)
        let issued = Date(timeIntervalSince1970: 1_900_000_000)
        let token = auth.issueToken(for: Self.user, now: issued)
        #expect(try auth.verify(token, now: issued).claims.userID == 7)
        #expect(cache.entry(for: token) != nil, "verified once, then served from the cache")
        #expect(try auth.verify(token, now: issued + 59).claims.userID == 7)
        #expect(Self.message { try auth.verify(token, now: issued + 60) } == "token expired")
        #expect(Self.message { try auth.verify(token, now: issued + 3600) } == "token expired")
    }

    @Test func onlyVerifiedTokensAreCached() {
        let cache = VerifiedTokens()
        let auth = Self.makeAuth(verifiedTokens: cache)
        let foreign = Self.makeAuth(verifiedTokens: VerifiedTokens(), secret: String(repeating: "x", count: 40)).issueToken(for: Self.user)
        #expect(Self.message { try auth.verify(foreign) } == "invalid token")
        #expect(Self.message { try auth.verify(foreign) } == "invalid token")
        #expect(cache.entry(for: foreign) == nil)
    }

    @Test func theCacheKeepsTwoGenerationsAndTokensInUse() {
        let cache = VerifiedTokens(generationSize: 2)
        let verified = VerifiedToken(
            claims: AccessTokenClaims(userID: 1, name: "", email: "", issuedAt: nil, expiresAt: Int.max, tokenID: "t"), revocationKey: "t")
        for token in ["a", "b", "c"] { cache.insert(verified, for: token) }
        #expect(cache.entry(for: "a") != nil, "a hit in the older generation moves the token to the newer one")
        for token in ["d", "e"] { cache.insert(verified, for: token) }
        #expect(cache.entry(for: "a") != nil)
        #expect(cache.entry(for: "b") == nil, "unused, it aged out with its generation")
        #expect(cache.entry(for: "e") != nil)
    }
}
