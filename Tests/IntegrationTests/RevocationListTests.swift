import Foundation
import Logging
import Testing

@testable import LeaderboardCore

@Suite struct RevocationListTests {
    /// A revocation list over the test stack's PostgreSQL and a private Redis whose index is built and whose
    /// revocation cache is marked complete (so it is trusted), with an expiry ten minutes ahead for the tokens revoked.
    func withPrivateRedis(_ body: (_ redis: RedisConnection, _ revocations: RevocationList, _ expiresAt: Int) throws -> Void) throws {
        let redisServer = try PrivateRedis()
        defer { redisServer.stop() }
        let redis = RedisConnection(settings: try RedisSettings(url: "unix://\(redisServer.socketPath)"))
        try redis.command(["MSET", "lb:meta:gen:v2", "1", "lb:meta:revocations-cached", "1"])
        try body(redis, RevocationList(database: TestStack.database(), redis: redis), Int(Date().timeIntervalSince1970) + 600)
    }

    /// A Redis that answers but refuses writes cannot cache a revocation: the revocation still succeeds (it is
    /// in PostgreSQL), and the cache stops vouching for tokens, while Redis refuses writes and after it takes
    /// them again, until the reconciler has reloaded it. (Before, revoking threw a 503 after storing the
    /// revocation, and once Redis took writes again its cache said the token was not revoked.)
    @Test func aRevocationRedisRefusesToCacheStillWinsAfterRedisRecovers() throws {
        try withPrivateRedis { redis, revocations, expiresAt in
            let cached = TestStack.unique("cached")
            try revocations.revoke(cached, until: expiresAt)
            // Every write is now over the memory limit (the default policy evicts nothing).
            try redis.command(["CONFIG", "SET", "maxmemory", "1"])
            let refused = TestStack.unique("refused")
            try revocations.revoke(refused, until: expiresAt)
            #expect(try revocations.isRevoked(refused))
            try redis.command(["CONFIG", "SET", "maxmemory", "0"])
            #expect(try revocations.isRevoked(refused))
            #expect(try revocations.revoked(among: [cached, refused, TestStack.unique("kept")]) == [cached, refused])
            // A board read carrying the token's key is told to ask PostgreSQL instead of being served.
            #expect {
                try BoardIndex(redis: redis).page(game: "all", period: .allTime, start: 0, stop: 9, unlessRevoked: refused)
            } throws: { error in
                "\(error)" == IndexError.revocationsNotCached.description
            }
            #expect(try redis.command(["EXISTS", "lb:revoked:" + refused]) == .integer(0))

            // The reconciler reloads the cache from PostgreSQL and marks it complete again.
            try redis.command(["SET", "lb:1:watermark", String(Int.max)])
            try IndexReconciler(connections: StoreConnections(database: TestStack.database(), redis: redis), logger: Logger(label: "test"))
                .reconcile()
            #expect(try redis.command(["EXISTS", "lb:revoked:" + refused, "lb:meta:revocations-cached"]) == .integer(2))
            #expect(try revocations.isRevoked(refused))
        }
    }

    /// A Redis that does not answer for a while (paused here; a stall, a network cut) keeps its mark of a complete
    /// cache and lacks the revocation made meanwhile: the revocation succeeds (it is in PostgreSQL), and once Redis
    /// answers again the reconciler reloads the cache rather than let it vouch for the token until it expires.
    @Test func aRevocationMadeWhileRedisDidNotAnswerIsCachedOnceItDoes() throws {
        try withPrivateRedis { redis, revocations, expiresAt in
            let stalled = TestStack.unique("stalled")
            try redis.command(["CLIENT", "PAUSE", "2500", "WRITE"])
            try revocations.revoke(stalled, until: expiresAt)
            try redis.command(["CLIENT", "UNPAUSE"])
            try redis.command(["SET", "lb:1:watermark", String(Int.max)])
            try IndexReconciler(connections: StoreConnections(database: TestStack.database(), redis: redis), logger: Logger(label: "test"))
                .reconcile()
            #expect(try redis.command(["EXISTS", "lb:revoked:" + stalled, "lb:meta:revocations-cached"]) == .integer(2))
            #expect(try revocations.isRevoked(stalled))
            let row = try TestStack.database().query("SELECT uncached FROM revoked_tokens WHERE token_key = $1", [stalled])
            #expect(try row.first?.bool("uncached") == false, "reloaded: nothing left for the next pass")
        }
    }

    /// A replica promoted by a failover holds the old primary's mark of a complete cache, but maybe not the
    /// revocations cached just before the failure (replication is asynchronous). The mark names the server that
    /// set it, so the reconciler reloads the cache on the new primary instead of letting it vouch for those
    /// tokens until they expire.
    @Test func aCacheMarkedCompleteByAnotherServerIsReloaded() throws {
        try withPrivateRedis { redis, revocations, expiresAt in
            let lost = TestStack.unique("lost")
            try revocations.revoke(lost, until: expiresAt)
            try redis.command(["DEL", "lb:revoked:" + lost])
            try redis.command(["SET", "lb:meta:revocations-cached", "the-old-primary's-run-id"])
            #expect(try !RevocationList.isCacheComplete(in: redis))
            try redis.command(["SET", "lb:1:watermark", String(Int.max)])
            try IndexReconciler(connections: StoreConnections(database: TestStack.database(), redis: redis), logger: Logger(label: "test"))
                .reconcile()
            #expect(try redis.command(["EXISTS", "lb:revoked:" + lost]) == .integer(1))
            #expect(try RevocationList.isCacheComplete(in: redis))
        }
    }

    /// A revocation PostgreSQL did not store is an error (a 503), never a silent success.
    @Test func aRevocationFailsWhenPostgreSQLCannotStoreIt() throws {
        let redisServer = try PrivateRedis()
        defer { redisServer.stop() }
        var settings = TestStack.config.postgres
        settings.ports = [1]
        let revocations = RevocationList(
            database: PostgresConnection(settings: settings),
            redis: RedisConnection(settings: try RedisSettings(url: "unix://\(redisServer.socketPath)")))
        #expect(throws: PostgresError.self) { try revocations.revoke(TestStack.unique("lost"), until: Int(Date().timeIntervalSince1970) + 600) }
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
            try redis.command(["DEL", "lb:meta:gen:v2", "lb:revoked:" + revoked[0]])
            #expect(try revocations.revoked(among: all, batchSize: 2) == Set(revoked))
            #expect(try revocations.revoked(among: []).isEmpty)
        }
    }
}
