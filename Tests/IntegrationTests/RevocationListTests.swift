import Foundation
import LeaderboardCore
import Testing

@Suite struct RevocationListTests {
    /// A revocation list over the test stack's PostgreSQL and a private Redis whose index is built (so its
    /// revocation cache is trusted), with an expiry ten minutes ahead for the tokens revoked.
    func withPrivateRedis(_ body: (_ redis: RedisConnection, _ revocations: RevocationList, _ expiresAt: Int) throws -> Void) throws {
        let redisServer = try PrivateRedis()
        defer { redisServer.stop() }
        let redis = RedisConnection(settings: try RedisSettings(url: "unix://\(redisServer.socketPath)"))
        try redis.command(["SET", "lb:meta:gen", "1"])
        try body(redis, RevocationList(database: TestStack.database(), redis: redis), Int(Date().timeIntervalSince1970) + 600)
    }

    /// A Redis that answers but refuses writes would keep vouching for a token its cache never heard was
    /// revoked: the revocation must fail (503) rather than report success.
    @Test func aRevocationFailsWhenRedisAnswersButRefusesTheWrite() throws {
        try withPrivateRedis { redis, revocations, expiresAt in
            try revocations.revoke(TestStack.unique("accepted"), until: expiresAt)
            // Every write is now over the memory limit (the default policy evicts nothing).
            try redis.command(["CONFIG", "SET", "maxmemory", "1"])
            let refused = TestStack.unique("refused")
            #expect {
                try revocations.revoke(refused, until: expiresAt)
            } throws: { error in
                (error as? RedisError)?.isUnavailable == true
            }
            // Without the generation (a restarted Redis, until the rebuild reloads the revocations) checks ask
            // PostgreSQL, where the revocation is kept: revoking succeeds, and the token is refused.
            try redis.command(["DEL", "lb:meta:gen"])
            let whileRebuilding = TestStack.unique("rebuilding")
            try revocations.revoke(whileRebuilding, until: expiresAt)
            #expect(try revocations.isRevoked(whileRebuilding))
        }
    }

    /// The ws daemon's sweep asks about every connection's token at once: the answer must be the one
    /// `isRevoked` gives for each, from the cache while the generation exists and from PostgreSQL without it.
    @Test func aSweepFindsExactlyTheRevokedTokensAmongManyFromTheCacheOrFromPostgreSQL() throws {
        try withPrivateRedis { redis, revocations, expiresAt in
            // Keys as a token's jti may be: quotes, a backslash and a comma must not break the lookup.
            let revoked = [TestStack.unique("sweep-a"), TestStack.unique(#"sweep "quoted", back\slash"#), TestStack.unique("sweep-c")]
            for key in revoked { try revocations.revoke(key, until: expiresAt) }
            let kept = (0..<5).map { TestStack.unique("sweep-kept-\($0)") }
            let all = (kept + revoked).shuffled()

            // Batches of two: several round trips, and a batch may hold no revoked key.
            #expect(try revocations.revoked(among: all, batchSize: 2) == Set(revoked))
            for key in all { #expect(try revocations.isRevoked(key) == revoked.contains(key)) }

            // Without the generation the cache is not trusted: PostgreSQL answers, even for keys the cache lost.
            try redis.command(["DEL", "lb:meta:gen", "lb:revoked:" + revoked[0]])
            #expect(try revocations.revoked(among: all, batchSize: 2) == Set(revoked))
            #expect(try revocations.revoked(among: []).isEmpty)
        }
    }
}
