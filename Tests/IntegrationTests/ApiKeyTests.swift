import Foundation
import Testing

@testable import LeaderboardCore

/// API keys, authoritative games and the submission rate against the real PostgreSQL and Redis: the key stored as a hash
/// with its audit rows, its last use noted at most once a minute, a revocation seen by the next lookup on any connection,
/// the insert statement's authoritative check, and one rate shared by two processes' services.
@Suite struct PostgresApiKeyTests {
    let database = TestStack.database()
    var keys: ApiKeys { ApiKeys(store: PostgresApiKeyStore(database: database), games: PostgresGameAdminStore(database: database)) }

    func makeUser() throws -> Int {
        let rows = try database.query(
            "INSERT INTO users (name, email, password) VALUES ('Key Player', $1, 'x') RETURNING id", [TestStack.unique("key") + "@example.com"])
        return try rows[0].requiredInt("id")
    }

    @Test func aKeyIsStoredAsItsHashWithAuditRowsAndRevokedForEveryConnection() throws {
        let created = try keys.create(name: "EU servers", games: ["cod", "valrnt"], actor: "user:7")
        let id = created.apiKey.id
        let stored = try database.query("SELECT hash, prefix, games::text AS games FROM api_keys WHERE id = $1", [id])[0]
        #expect(try stored.requiredString("hash") == ApiKeySecret.hash(created.key))
        #expect(try stored.requiredString("prefix") == String(created.key.prefix(12)))
        #expect(try stored.requiredString("games") == "{cod,valrnt}")
        #expect(try database.query("SELECT 1 FROM api_keys WHERE hash = $1 OR prefix = $1", [created.key]).isEmpty)

        // Another process's connection sees the key, and its revocation from the next lookup on.
        let other = ApiKeys(store: PostgresApiKeyStore(database: TestStack.database()), games: PostgresGameAdminStore(database: database))
        #expect(try other.authenticate(created.key).games == ["cod", "valrnt"])
        _ = try keys.revoke(id: id, actor: AuditEntry.shellActor)
        _ = try keys.revoke(id: id, actor: AuditEntry.shellActor)
        #expect(throws: ServiceError.unauthorized("API key revoked")) { try other.authenticate(created.key) }

        let audit = try database.query("SELECT action, actor FROM audit_log WHERE target = $1 ORDER BY id", ["api_key:\(id)"]).map {
            "\(try $0.requiredString("action")) \(try $0.requiredString("actor"))"
        }
        #expect(audit == ["api_key.create user:7", "api_key.revoke leaderboardctl"])
        #expect(try keys.list().first { $0.id == id }?.revoked == true)
    }

    @Test func lastUseIsNotedAtMostOnceAMinute() throws {
        let created = try keys.create(name: "busy", games: nil, actor: "user:7")
        let first = try #require(try keys.authenticate(created.key).lastUsedAt)
        // Pretend the use was 30 s ago: within the minute, a lookup leaves it; past it, a lookup updates it.
        try database.query("UPDATE api_keys SET last_used_at = now() - interval '30 seconds' WHERE id = $1", [created.apiKey.id])
        let noted = try #require(try keys.authenticate(created.key).lastUsedAt)
        #expect(noted < first)
        try database.query("UPDATE api_keys SET last_used_at = now() - interval '61 seconds' WHERE id = $1", [created.apiKey.id])
        #expect(try #require(try keys.authenticate(created.key).lastUsedAt) > noted)
    }

    @Test func unknownGamesAreRefusedAndNothingIsStored() throws {
        let name = TestStack.unique("refused")
        #expect(throws: ServiceError.self) { try keys.create(name: name, games: ["cod", "no-such-game"], actor: "user:7") }
        #expect(try database.query("SELECT 1 FROM api_keys WHERE name = $1", [name]).isEmpty)
    }

    @Test func theKeysPlayerIsFoundWithWhetherTheyAreBanned() throws {
        let userId = try makeUser()
        let key = try keys.create(name: "all", games: nil, actor: "user:7").apiKey
        #expect(try keys.player(userId, game: "cod", key: key) == "Key Player")
        #expect(throws: ServiceError.notFound("unknown user 0")) { try keys.player(0, game: "cod", key: key) }
    }

    @Test func anAuthoritativeGameTakesOnlyTrustedSubmissionsInTheInsertStatement() throws {
        let userId = try makeUser()
        let slug = "auth" + TestStack.unique("").replacingOccurrences(of: "-", with: "")
        try database.query("INSERT INTO games (slug, label, position, authoritative) VALUES ($1, 'Chess', 100, true)", [slug])
        defer {
            _ = try? database.query("DELETE FROM scores WHERE game = $1", [slug])
            _ = try? database.query("DELETE FROM games WHERE slug = $1", [slug])
        }
        let store = PostgresScoreStore(database: database)
        let landed = try store.insert(
            [
                NewScore(userId: userId, game: slug, score: 5, idempotencyKey: nil, tokenKey: nil),
                NewScore(userId: userId, game: slug, score: 6, idempotencyKey: nil, tokenKey: nil, isTrusted: true),
            ], perMinute: 120)
        guard case .authoritative = landed[0] else {
            Issue.record("a player's submission was not refused: \(landed[0])")
            return
        }
        #expect(landed[1].stored?.score == 6)
        #expect(try database.query("SELECT score FROM scores WHERE game = $1", [slug]).map { try $0.requiredInt("score") } == [6])
    }

    @Test func twoProcessesShareOnePlayersRate() throws {
        let userId = try makeUser()
        func service() -> LeaderboardService {
            let stores = Stores(connections: StoreConnections(database: TestStack.database(), redis: TestStack.redis()))
            return LeaderboardService(
                scores: stores.scores, index: stores.index, games: stores.games, ephemeral: stores.ephemeral, submissionsPerMinute: 4)
        }
        let (first, second) = (service(), service())
        for score in 1...4 {
            _ = try (score.isMultiple(of: 2) ? first : second).submit(
                userId: userId, name: "Key Player", game: "cod", score: score, idempotencyKey: nil)
        }
        do {
            _ = try first.submit(userId: userId, name: "Key Player", game: "cod", score: 5, idempotencyKey: nil)
            Issue.record("the fifth submission within the minute was accepted")
        } catch ServiceError.rateLimited(let seconds) {
            #expect((1...60).contains(seconds))
        }
        _ = try second.submit(userId: userId, name: "Key Player", game: "cod", score: 5, idempotencyKey: nil, isTrusted: true)
    }
}
