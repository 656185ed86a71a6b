import Foundation
import Testing

@testable import LeaderboardCore

/// Bans and score deletions against the real PostgreSQL and a Redis of the test's own: each action leaves the
/// player's entries exactly as a rebuild from PostgreSQL computes them, on every period board and the global ones,
/// under each game's rule; undoing it restores the prior standing; nothing is half done when Redis fails.
@Suite(.serialized) struct ModerationTests {
    let database = TestStack.database()
    let today = UTCDay.today

    struct Fixture {
        let redis: RedisConnection
        let moderation: PlayerModeration
        let games: (best: String, latest: String, sum: String)
        let player: Int
        let rival: Int
        /// The player's score ids per game, oldest first.
        let scores: [String: [Int]]
    }

    /// Three games of the test's own (best, latest, sum; all in the global board), a player with three scores on each
    /// (one of them 40 days old, on other period boards), a rival, and an index holding all of it.
    func withFixture(_ body: (Fixture) throws -> Void) throws {
        let server = try PrivateRedis()
        defer { server.stop() }
        let redis = RedisConnection(settings: try RedisSettings(url: "unix://\(server.socketPath)"))
        let tag = TestStack.unique("mod").replacingOccurrences(of: "-", with: "")
        let games = (best: tag + "b", latest: tag + "l", sum: tag + "s")
        for (slug, rule) in [(games.best, "best"), (games.latest, "latest"), (games.sum, "sum")] {
            try database.query("INSERT INTO games (slug, label, position, rule) VALUES ($1, $1, 100, $2)", [slug, rule])
        }
        defer {
            for slug in [games.best, games.latest, games.sum] {
                _ = try? database.query("DELETE FROM scores WHERE game = $1", [slug])
                _ = try? database.query("DELETE FROM games WHERE slug = $1", [slug])
            }
        }
        let player = try makeUser("Mod Player")
        let rival = try makeUser("Mod Rival")
        var scores: [String: [Int]] = [:]
        for (game, values) in [(games.best, [100, 300, 200]), (games.latest, [10, 30, 20]), (games.sum, [5, 7, 11])] {
            for (position, value) in values.enumerated() {
                let age = position == 0 ? 40 : 0
                let id = try database.query(
                    "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, $3, now() - make_interval(days => $4)) RETURNING id",
                    [player, game, value, age])[0].requiredInt("id")
                scores[game, default: []].append(id)
            }
            try database.query("INSERT INTO scores (user_id, game, score) VALUES ($1, $2, 150)", [rival, game])
        }
        // The index as the daemons build it: a rebuild of everything in PostgreSQL.
        _ = try IndexRebuilder(database: database, redis: redis, logger: .init(label: "test")).rebuild(wait: true)
        let moderation = PlayerModeration(connections: StoreConnections(database: database, redis: redis))
        try body(Fixture(redis: redis, moderation: moderation, games: games, player: player, rival: rival, scores: scores))
    }

    func makeUser(_ name: String) throws -> Int {
        try database.query(
            "INSERT INTO users (name, email, password) VALUES ($1, $2, 'x') RETURNING id", [name, TestStack.unique("mod") + "@example.com"]
        )[0].requiredInt("id")
    }

    /// Every board of the fixture's games and the global one, for each period of today and of 40 days ago: `player`'s
    /// entry on each (`game period=score`).
    func entries(_ fixture: Fixture, of user: Int) throws -> [String] {
        let index = BoardIndex(redis: fixture.redis)
        let games = [fixture.games.best, fixture.games.latest, fixture.games.sum]
        var entries: Set<String> = []
        for day in [today, today.adding(days: -40)] {
            for period in BoardPeriod.all(containing: day) {
                let standing = try index.standing(userId: user, period: period, games: games + [BoardIndex.globalGame])
                for entry in standing.boards {
                    let game = entry.game == BoardIndex.globalGame ? "global" : String(entry.game.suffix(1))
                    entries.insert("\(game) \(period.key)=\(entry.score)")
                }
            }
        }
        return entries.sorted()
    }

    /// The entries after a rebuild from PostgreSQL, into the same Redis.
    func rebuiltEntries(_ fixture: Fixture, of user: Int) throws -> [String] {
        _ = try IndexRebuilder(database: database, redis: fixture.redis, logger: .init(label: "test")).rebuild(wait: true)
        return try entries(fixture, of: user)
    }

    @Test func deletingAScoreRecomputesEveryBoardItCountedOnByTheGamesRule() throws {
        try withFixture { fixture in
            let before = try entries(fixture, of: fixture.player)
            let all = "all"
            #expect(before.contains("b \(all)=300") && before.contains("l \(all)=20") && before.contains("s \(all)=23"))
            #expect(before.contains("global \(all)=343"))

            // The best of three on a best game, the last on a latest game, one on a sum game.
            _ = try fixture.moderation.deleteScore(id: fixture.scores[fixture.games.best]![1], reason: "impossible", actor: "user:1")
            _ = try fixture.moderation.deleteScore(id: fixture.scores[fixture.games.latest]![2], reason: "replayed", actor: "user:1")
            let deleted = try fixture.moderation.deleteScore(id: fixture.scores[fixture.games.sum]![1], reason: "cheat", actor: "user:1")
            #expect(deleted.deletedAt != nil && deleted.deletedBy == "user:1" && deleted.deletedReason == "cheat")

            let after = try entries(fixture, of: fixture.player)
            #expect(after.contains("b \(all)=200") && after.contains("l \(all)=30") && after.contains("s \(all)=16"))
            #expect(after.contains("global \(all)=246"))
            let todayBoards = BoardPeriod.all(containing: today).map(\.key).filter { $0 != all }
            for key in todayBoards {
                // Today's boards hold only today's two scores of each game.
                #expect(after.contains("b \(key)=200") && after.contains("l \(key)=30") && after.contains("s \(key)=11"), "\(key): \(after)")
            }
            #expect(after == (try rebuiltEntries(fixture, of: fixture.player)), "the index holds PostgreSQL's recomputation")

            // Restore reverses each; a deleted score stays deleted through a rebuild until then.
            for game in [fixture.games.best, fixture.games.latest, fixture.games.sum] {
                for id in fixture.scores[game]! { _ = try fixture.moderation.restoreScore(id: id, reason: "appeal", actor: "user:1") }
            }
            #expect(try entries(fixture, of: fixture.player) == before)
            #expect(try rebuiltEntries(fixture, of: fixture.player) == before)
        }
    }

    @Test func aBanTakesThePlayerOffEveryBoardAndRevokesTheirTokensAndUnbanRestoresTheirStanding() throws {
        try withFixture { fixture in
            let before = try entries(fixture, of: fixture.player)
            let rival = try entries(fixture, of: fixture.rival)
            let users = PostgresUserStore(database: database)
            let tokenKey = TestStack.unique("token")
            #expect(try users.recordToken(tokenKey, userId: fixture.player, expiresAt: today.adding(days: 1).epochSeconds))

            let banned = try fixture.moderation.ban(userId: fixture.player, reason: "aimbot", actor: "user:1")
            #expect(banned.isBanned && banned.bannedReason == "aimbot")
            #expect(try entries(fixture, of: fixture.player).isEmpty)
            #expect(try entries(fixture, of: fixture.rival) == rival)
            #expect(try RevocationList(database: database, redis: fixture.redis).isRevoked(tokenKey))
            #expect(try !users.recordToken(TestStack.unique("token"), userId: fixture.player, expiresAt: today.adding(days: 1).epochSeconds))
            #expect(try rebuiltEntries(fixture, of: fixture.player).isEmpty, "a rebuild does not bring the player back")
            // The reconciler does not apply their scores either.
            #expect(try PostgresScoreStore(database: database).scores(ids: fixture.scores.values.flatMap { $0 }).isEmpty)

            let again = try fixture.moderation.ban(userId: fixture.player, reason: "twice", actor: "user:1")
            #expect(again == banned, "banning a banned player changes nothing")
            let unbanned = try fixture.moderation.unban(userId: fixture.player, reason: "appeal", actor: AuditEntry.shellActor)
            #expect(!unbanned.isBanned && unbanned.bannedAt == nil)
            #expect(try entries(fixture, of: fixture.player) == before)
            #expect(try RevocationList(database: database, redis: fixture.redis).isRevoked(tokenKey), "a token the ban revoked stays revoked")

            let actions = try database.query(
                "SELECT action, actor, reason FROM audit_log WHERE target = $1 ORDER BY id", ["user:\(fixture.player)"]
            ).map { "\(try $0.requiredString("action")) \(try $0.requiredString("actor")) \(try $0.string("reason") ?? "-")" }
            #expect(actions == ["user.ban user:1 aimbot", "user.unban leaderboardctl appeal"])
        }
    }

    /// A ban revokes the tokens issued here; the predecessor's carry no `jti` and were never recorded, so one stays
    /// valid until it expires. Its submissions, and a game server's that crosses the ban, are refused by the statement
    /// that stores scores: nothing is stored and the player stays off every board.
    @Test func aBannedPlayersSubmissionIsRefusedWhateverTokenOrKeyItComesWith() throws {
        try withFixture { fixture in
            let leaderboard = TestStack.leaderboard(database: database, redis: fixture.redis)
            let predecessorsToken = "sha256:" + TestStack.unique("predecessor")
            _ = try fixture.moderation.ban(userId: fixture.player, reason: "aimbot", actor: "user:1")
            let stored = try database.query("SELECT count(*) AS n FROM scores WHERE user_id = $1", [fixture.player])[0].requiredInt("n")

            #expect(throws: ServiceError.unauthorized("this account is banned")) {
                _ = try leaderboard.submit(
                    userId: fixture.player, name: "Mod Player", game: fixture.games.best, score: 9_999, idempotencyKey: nil,
                    unlessRevoked: predecessorsToken)
            }
            #expect(throws: ServiceError.forbidden("user \(fixture.player) is banned")) {
                _ = try leaderboard.submit(
                    userId: fixture.player, name: "Mod Player", game: fixture.games.sum, score: 9_999, idempotencyKey: nil, isTrusted: true)
            }
            #expect(try entries(fixture, of: fixture.player).isEmpty, "the player stays off every board")
            #expect(try database.query("SELECT count(*) AS n FROM scores WHERE user_id = $1", [fixture.player])[0].requiredInt("n") == stored)
            // The rival is not banned: their submission is stored and applied as ever.
            _ = try leaderboard.submit(
                userId: fixture.rival, name: "Mod Rival", game: fixture.games.best, score: 9_999, idempotencyKey: nil,
                unlessRevoked: predecessorsToken)
            #expect(try entries(fixture, of: fixture.rival).contains("b all=9999"))
        }
    }

    /// A submission that reaches the player's row while a ban holds it (as `ban` does: the row locked, then set) waits,
    /// and once the ban commits is refused: its checks are not those of a snapshot taken before the ban.
    @Test func aSubmissionThatWaitsForABanIsRefusedOnceTheBanCommits() throws {
        try withFixture { fixture in
            let (redis, player, game) = (fixture.redis, fixture.player, fixture.games.best)
            let banning = TestStack.database()
            try banning.query("BEGIN")
            try banning.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [player])
            try banning.query("UPDATE users SET banned_at = now(), banned_reason = 'aimbot' WHERE id = $1", [player])

            let result = try TestStack.whileWaitingForALock("the submission waits for the player's row") { submitter in
                try TestStack.leaderboard(database: submitter, redis: redis).submit(
                    userId: player, name: "Mod Player", game: game, score: 9_999, idempotencyKey: nil)
            } release: {
                try banning.query("COMMIT")
            }
            #expect(throws: ServiceError.unauthorized("this account is banned")) { try result.get() }
            let stored = try database.query("SELECT count(*) AS n FROM scores WHERE user_id = $1 AND score = 9999", [fixture.player])
            #expect(try stored[0].requiredInt("n") == 0, "nothing stored")
        }
    }

    @Test func nothingChangesWhenRedisFails() throws {
        try withFixture { fixture in
            let away = RedisConnection(settings: try RedisSettings(url: "unix:///nonexistent/redis.sock"))
            let moderation = PlayerModeration(connections: StoreConnections(database: database, redis: away))
            let id = fixture.scores[fixture.games.best]![1]
            #expect {
                _ = try moderation.deleteScore(id: id, reason: "cheat", actor: "user:1")
            } throws: { error in
                (error as? any StoreFailure)?.isUnavailable == true
            }
            #expect(try database.query("SELECT deleted_at FROM scores WHERE id = $1", [id])[0].string("deleted_at") == nil)
            #expect(try database.query("SELECT 1 FROM audit_log WHERE target = $1", ["score:\(id)"]).isEmpty)
            #expect(throws: (any Error).self) { _ = try moderation.ban(userId: fixture.player, reason: "x", actor: "user:1") }
            #expect(try fixture.moderation.user(fixture.player)?.isBanned == false)
        }
    }

    @Test func reasonsAreRequiredAndUnknownTargetsAreNotFound() throws {
        try withFixture { fixture in
            #expect(throws: ServiceError.validation(field: "reason", "field required")) {
                _ = try fixture.moderation.ban(userId: fixture.player, reason: nil, actor: "user:1")
            }
            #expect(throws: ServiceError.validation(field: "reason", "must be 1 to 500 characters")) {
                _ = try fixture.moderation.deleteScore(id: 1, reason: String(repeating: "x", count: 501), actor: "user:1")
            }
            #expect(throws: ServiceError.notFound("unknown user 999999999999")) {
                _ = try fixture.moderation.ban(userId: 999_999_999_999, reason: "x", actor: "user:1")
            }
            #expect(throws: ServiceError.notFound("unknown score 999999999999")) {
                _ = try fixture.moderation.restoreScore(id: 999_999_999_999, reason: "x", actor: "user:1")
            }
        }
    }

    @Test func listingsPageNewestFirst() throws {
        try withFixture { fixture in
            let scores = try fixture.moderation.scores(userId: fixture.player, game: nil, before: nil, limit: 5)
            #expect(scores.result.count == 5 && scores.next == scores.result.last?.id)
            let rest = try fixture.moderation.scores(userId: fixture.player, game: nil, before: scores.next, limit: 5)
            #expect(rest.result.count == 4 && rest.next == nil)
            #expect(Set((scores.result + rest.result).map(\.id)) == Set(fixture.scores.values.flatMap { $0 }))
            let found = try fixture.moderation.users(query: "MOD PLAY", before: nil, limit: 100).result
            #expect(found.contains { $0.id == fixture.player } && !found.contains { $0.id == fixture.rival })
            let id = fixture.scores[fixture.games.sum]![0]
            _ = try fixture.moderation.deleteScore(id: id, reason: "page", actor: "user:2")
            // Other tests may write audit rows meanwhile: this one is among the newest.
            let audit = try fixture.moderation.audit(before: nil, limit: 100)
            let entry = try #require(audit.result.first { $0.target == "score:\(id)" })
            #expect(entry.action == "score.delete" && entry.actor == "user:2" && entry.reason == "page")
            #expect(entry.details["deleted"] == AuditChange(before: .flag(false), after: .flag(true)))
            let page = try fixture.moderation.audit(before: entry.id, limit: 2)
            #expect(page.result.count == 2 && page.result.allSatisfy { $0.id < entry.id } && page.result[0].id > page.result[1].id)
        }
    }
}
