import Foundation
import Testing

@testable import LeaderboardCore

/// Reports kept in a process's `ReportCache` against the real Redis and PostgreSQL: served while their stamp holds,
/// and never once anything that changes the report has been answered: a score on any connection (one that moves the
/// rows, or a top player's first score in another game, which changes their `games`), a ban or unban, a deletion or
/// restore, a rebuild, a game setting change, a revocation. In `LeaderboardTests`, serialized, since a rebuild swaps
/// the whole index.
extension LeaderboardTests {
    /// The last 30 days' report, as `GET /reports/top` reads it.
    func report(_ worker: Worker, _ game: String, limit: Int = 10, token: String? = nil) throws -> [ReportRow] {
        try worker.auth.whileNotRevoked(try worker.auth.verifyIfPresent(token)) { tokenKey in
            try worker.leaderboard.renderedReport(
                from: today.adding(days: -29), to: today, game: game, limit: limit, today: today, unlessRevoked: tokenKey
            ).result
        }
    }

    func isKept(_ reports: ReportCache, report game: String) throws -> Bool {
        let plan = try service.reportPlan(from: today.adding(days: -29), to: today, game: game, limit: 10, today: today)
        let query = ReportStampQuery(dependencies: plan.dependencies, tokenKey: nil)
        let stamp = try #require(try BoardIndex(redis: redis).reportStamps([query])[0].get())
        return reports.report(for: plan.key, at: stamp, games: plan.catalog) != nil
    }

    @Test func aKeptReportIsServedUntilABoardItDependsOnChanges() throws {
        try withGame { game in
            try withGame { other in
                let reports = ReportCache()
                let (reader, elsewhere) = (Worker(pages: nil, reports: reports), Worker(pages: nil))
                let (ann, bo) = (try makeUser("Ann"), try makeUser("Bo"))
                try elsewhere.submit(ann, "Ann", game, 100)
                #expect(try report(reader, game).map(\.userId) == [ann])
                #expect(try isKept(reports, report: game))

                // Written behind the index's back (no version change): the kept report is what is served.
                let board = "lb:\(try #require(try BoardIndex(redis: redis).generation())):b:\(game):\(BoardPeriod(.daily, containing: today).key)"
                try redis.command(["ZADD", board, "500", String(bo)])
                #expect(try report(reader, game).map(\.userId) == [ann], "served from the cache")
                try redis.command(["ZREM", board, String(bo)])

                // A score on another connection (another process): the very next read shows it.
                try elsewhere.submit(bo, "Bo", game, 200)
                #expect(try report(reader, game).map(\.userId) == [bo, ann])
                // A score that is no best on any board changes nothing: the report stays kept.
                try elsewhere.submit(bo, "Bo", game, 150)
                #expect(try isKept(reports, report: game))
                // Ann's first score in another game changes her games played.
                #expect(try report(reader, game).map(\.games) == [1, 1])
                try elsewhere.submit(ann, "Ann", other, 5)
                #expect(try report(reader, game).map(\.games) == [1, 2])
                #expect(
                    try report(reader, game) == (try service.report(from: today.adding(days: -29), to: today, game: game, limit: 10, today: today)))
            }
        }
    }

    @Test func aKeptReportFollowsBansAndDeletionsAndTheirUndoing() throws {
        try withGame { game in
            try withGame { other in
                let reports = ReportCache()
                let reader = Worker(pages: nil, reports: reports)
                let moderation = PlayerModeration(connections: StoreConnections(database: TestStack.database(), redis: TestStack.redis()))
                let (ann, bo) = (try makeUser("Ann"), try makeUser("Bo"))
                try reader.submit(ann, "Ann", game, 300)
                try reader.submit(bo, "Bo", game, 200)
                try reader.submit(bo, "Bo", other, 1)
                let otherScore = try database.query("SELECT id FROM scores WHERE user_id = $1 AND game = $2", [bo, other])[0].requiredInt("id")
                #expect(try report(reader, game).map(\.userId) == [ann, bo])
                #expect(try report(reader, game).map(\.games) == [1, 2])

                _ = try moderation.ban(userId: ann, reason: "aimbot", actor: "user:1")
                #expect(try report(reader, game).map(\.userId) == [bo])
                _ = try moderation.unban(userId: ann, reason: "appeal", actor: "user:1")
                #expect(try report(reader, game).map(\.userId) == [ann, bo])

                let annScore = try database.query("SELECT id FROM scores WHERE user_id = $1 AND game = $2", [ann, game])[0].requiredInt("id")
                _ = try moderation.deleteScore(id: annScore, reason: "impossible", actor: "user:1")
                #expect(try report(reader, game).map(\.userId) == [bo])
                _ = try moderation.restoreScore(id: annScore, reason: "verified", actor: "user:1")
                #expect(try report(reader, game).map(\.userId) == [ann, bo])

                // A deletion elsewhere that changes only a count of games played.
                _ = try moderation.deleteScore(id: otherScore, reason: "impossible", actor: "user:1")
                #expect(try report(reader, game).map(\.games) == [1, 1])
            }
        }
    }

    @Test func aRebuildIsNeverAnsweredWithAReportOfTheGenerationBefore() throws {
        try withGame { game in
            let reader = Worker(pages: nil, reports: ReportCache())
            let (ann, cy) = (try makeUser("Ann"), try makeUser("Cy"))
            try reader.submit(ann, "Ann", game, 100)
            #expect(try report(reader, game).map(\.userId) == [ann])
            // In PostgreSQL only (settled, so the rebuild takes it): no script ran, no version changed.
            try database.query(
                "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, 300, now() - interval '1 minute')", [cy, game])
            _ = try #require(try IndexRebuilder(database: database, redis: redis, logger: logger).rebuild(wait: true))
            #expect(try report(reader, game).map(\.userId) == [cy, ann])
        }
    }

    /// A report is kept with the game list it was made with: once the process's list has the change (its workers share
    /// one, re-read every 10 s), the next report shows it; a change that moves games in or out of the global board
    /// also rebuilds the index, which no kept report outlives.
    @Test func aGameSettingChangeShowsInTheNextReportMadeWithIt() throws {
        try withGame { game in
            let reports = ReportCache()
            let ann = try makeUser("Ann")
            try Worker(pages: nil).submit(ann, "Ann", game, 1_000_000_000)
            let reader = Worker(pages: nil, reports: reports)
            #expect(try report(reader, game).map(\.gameLabel) == ["Test \(game)"])
            #expect(try report(reader, BoardIndex.globalGame, limit: 100).contains { $0.userId == ann && $0.game == game })
            #expect(try isKept(reports, report: game))

            let generation = try BoardIndex(redis: redis).generation()
            try database.query("UPDATE games SET label = 'Renamed', in_global = false WHERE slug = $1", [game])
            try waitUntil {
                try BoardIndex(redis: redis).generation() != generation
            } do: {
                try IndexReconciler(connections: StoreConnections(database: database, redis: redis), logger: logger).reconcile()
            }
            let refreshed = Worker(pages: nil, reports: reports)
            #expect(try report(refreshed, game).map(\.gameLabel) == ["Renamed"])
            #expect(try !report(refreshed, BoardIndex.globalGame, limit: 100).contains { $0.userId == ann })
        }
    }

    /// The cache keeps reports, never a caller's standing: a token logged out anywhere gets its 401 on the next read of a
    /// kept report, while anonymous readers are still served.
    @Test func aTokenLoggedOutElsewhereIsRefusedAKeptReport() throws {
        try withGame { game in
            let reports = ReportCache()
            let (reader, elsewhere) = (Worker(pages: nil, reports: reports), Worker(pages: nil))
            let user = try makeUser("Rev")
            try reader.submit(user, "Rev", game, 10)
            let token = elsewhere.auth.issueToken(for: User(id: user, name: "Rev", email: "rev@example.com"))
            #expect(try report(reader, game, token: token).map(\.userId) == [user])
            #expect(try isKept(reports, report: game))

            try elsewhere.auth.logout(token: token, claims: try elsewhere.auth.authenticate(token))
            #expect {
                try report(reader, game, token: token)
            } throws: { error in
                (error as? ServiceError) == .unauthorized("token revoked")
            }
            #expect(try report(reader, game).map(\.userId) == [user])
        }
    }
}
