import Foundation
import Logging
import Testing

@testable import LeaderboardCore

/// The engine against the real PostgreSQL and Redis: submission, boards for every period, ranks,
/// reports, idempotency, queueing while Redis is away, reconciliation and rebuild.
///
/// Serialized: a rebuild swaps the whole index, which would race with another test's submit-then-read.
@Suite(.serialized) struct LeaderboardTests {
    let database = TestStack.database()
    let redis = TestStack.redis()
    let logger = Logger(label: "test")

    var service: LeaderboardService { TestStack.leaderboard(database: database, redis: redis) }

    /// A service whose Redis is unreachable (a port nothing listens on): PostgreSQL stores, the index is away.
    func offlineService(submissionsPerMinute: Int = LeaderboardService.defaultSubmissionsPerMinute) throws -> LeaderboardService {
        let unreachable = RedisConnection(settings: try RedisSettings(url: "redis://127.0.0.1:1/0"))
        return TestStack.leaderboard(database: database, redis: unreachable, submissionsPerMinute: submissionsPerMinute)
    }

    var today: UTCDay { UTCDay(epochSeconds: Int(Date().timeIntervalSince1970)) }

    /// A game of its own, so its board holds only this test's players; removed afterwards.
    func withGame<Result>(maxScore: Int = 1_000_000_000, _ body: (String) throws -> Result) throws -> Result {
        let slug = "t" + TestStack.unique("g").suffix(12).replacingOccurrences(of: "-", with: "")
        try database.query("INSERT INTO games (slug, label, position, max_score) VALUES ($1, $2, 100, $3)", [slug, "Test " + slug, maxScore])
        defer {
            _ = try? database.query("DELETE FROM scores WHERE game = $1", [slug])
            _ = try? database.query("DELETE FROM games WHERE slug = $1", [slug])
        }
        try ensureIndex()
        return try body(slug)
    }

    func ensureIndex() throws {
        if try BoardIndex(redis: redis).generation() == nil {
            _ = try IndexRebuilder(database: database, redis: redis, logger: logger).rebuild(wait: true)
        }
    }

    func makeUser(_ name: String) throws -> Int {
        let rows = try database.query(
            "INSERT INTO users (name, email, password) VALUES ($1, $2, 'x') RETURNING id", [name, TestStack.unique("p") + "@example.com"])
        return try rows[0].requiredInt("id")
    }

    func submit(_ user: Int, _ name: String, _ game: String, _ score: Int, key: String? = nil) throws -> SubmissionResult {
        guard case .applied(let result) = try service.submit(userId: user, name: name, game: game, score: score, idempotencyKey: key) else {
            throw ServiceError.unavailable("index")
        }
        return result
    }

    /// Two workers with connections and token caches of their own, as two FastCGI threads or two nodes have:
    /// a token logged out on one is refused by the other's very next read or submission, whose revocation
    /// check travels in the board script (the Redis cache) or in the score insert (PostgreSQL).
    @Test func aTokenLoggedOutOnOneWorkerIsRefusedByAnotherAtOnce() throws {
        try withGame { game in
            let user = try makeUser("Rev")
            func worker() -> (auth: AuthService, leaderboard: LeaderboardService) {
                let (database, redis) = (TestStack.database(), TestStack.redis())
                let auth = AuthService(
                    config: TestStack.config, users: PostgresUserStore(database: database), ephemeral: RedisEphemeralStore(redis: redis),
                    revocations: RevocationList(database: database, redis: redis),
                    refreshTokens: PostgresRefreshTokenStore(database: database), passwords: TestStack.passwords)
                return (auth, TestStack.leaderboard(database: database, redis: redis))
            }
            let (one, other) = (worker(), worker())
            let token = one.auth.issueToken(for: User(id: user, name: "Rev", email: "rev@example.com"))
            func read() throws -> [Int] {
                try other.auth.whileNotRevoked(try other.auth.verify(token)) { tokenKey in
                    try other.leaderboard.page(game: game, period: .allTime, date: today, start: 0, end: 9, unlessRevoked: tokenKey)
                        .result.map(\.userId)
                }
            }
            func submit(key: String?) throws {
                _ = try other.auth.whileNotRevoked(try other.auth.verify(token)) { tokenKey in
                    try other.leaderboard.submit(userId: user, name: "Rev", game: game, score: 10, idempotencyKey: key, unlessRevoked: tokenKey)
                }
            }
            try submit(key: "first")
            #expect(try read() == [user])

            try one.auth.logout(token: token, claims: try one.auth.authenticate(token))
            let attempts: [() throws -> Void] = [{ _ = try read() }, { try submit(key: nil) }, { try submit(key: "first") }]
            for attempt in attempts {
                do {
                    try attempt()
                    Issue.record("a revoked token was accepted")
                } catch let error as ServiceError {
                    #expect(error == .unauthorized("token revoked"))
                }
            }
            let stored = try database.query("SELECT count(*) AS n FROM scores WHERE user_id = $1", [user])
            #expect(try stored[0].requiredInt("n") == 1, "nothing stored for the revoked token")
        }
    }

    /// PostgreSQL rounds when it casts an epoch to bigint: a score from 23:59:59.7 would count for the next
    /// day (and week, and month) when applied, and for its own day when rebuilt.
    @Test func aScoreFromTheLastHalfSecondOfADayCountsForThatDay() throws {
        try withGame { game in
            let user = try makeUser("Late")
            let rows = try database.query(
                "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, 7, timestamptz '2025-01-31 23:59:59.7+00') RETURNING id",
                [user, game])
            let id = try rows[0].requiredInt("id")
            let stored = try PostgresScoreStore(database: database).scores(ids: [id])
            #expect(stored.first?.id == id)
            #expect(stored.first.map { UTCDay(epochSeconds: $0.epochSeconds).description } == "2025-01-31")
        }
    }

    @Test func aSubmissionLandsOnEveryPeriodOfItsGameAndOnTheGlobalBoards() throws {
        try withGame { game in
            let user = try makeUser("Ann")
            let result = try submit(user, "Ann", game, 1500)
            #expect(result == SubmissionResult(game: game, score: 1500, best: 1500, improved: true, rank: 1, globalRank: result.globalRank))
            #expect(result.globalRank >= 1)
            for period in PeriodKind.allCases {
                let page = try service.page(game: game, period: period, date: today, start: 0, end: 9)
                #expect(page.result == [BoardRow(rank: 1, userId: user, player: "Ann", game: game, score: 1500, date: today.description)])
                #expect(page.totalCount == 1)
                let standing = try service.standing(userId: user, period: period, date: today)
                #expect(standing.boards.map(\.game) == ["all", game])
                #expect(standing.boards.map(\.score) == [1500, 1500])
                #expect(standing.player == "Ann")
            }
        }
    }

    @Test func ranksAreStandardCompetitionRanksOnEveryPage() throws {
        try withGame { game in
            var users: [Int] = []
            for (name, score) in [("A", 100), ("B", 90), ("C", 90), ("D", 80), ("E", 80), ("F", 70)] {
                let user = try makeUser(name)
                users.append(user)
                _ = try submit(user, name, game, score)
            }
            let page = try service.page(game: game, period: .allTime, date: today, start: 0, end: 9)
            #expect(page.result.map(\.rank) == [1, 2, 2, 4, 4, 6])
            #expect(page.result.map(\.score) == [100, 90, 90, 80, 80, 70])
            #expect(page.totalCount == 6)
            // A page starting inside a tie still shows the tie's shared rank.
            #expect(try service.page(game: game, period: .daily, date: today, start: 2, end: 4).result.map(\.rank) == [2, 4, 4])
            #expect(try service.page(game: game, period: .allTime, date: today, start: 6, end: 9).result.isEmpty)
            // Ties are listed in a stable order: the same on every read.
            #expect(try service.page(game: game, period: .allTime, date: today, start: 0, end: 9).result == page.result)
            let around = try service.position(userId: users[3], game: game, period: .weekly, date: today, around: 1)
            #expect(around.rank == 4)
            #expect(around.score == 80)
            let index = try #require(page.result.firstIndex { $0.userId == users[3] })
            #expect(around.around == Array(page.result[(index - 1)...(index + 1)]))
        }
    }

    @Test func onlyAPersonalBestMovesAPlayer() throws {
        try withGame { game in
            let user = try makeUser("Bo")
            _ = try submit(user, "Bo", game, 500)
            let lower = try submit(user, "Bo", game, 300)
            #expect(lower.best == 500 && !lower.improved)
            let higher = try submit(user, "Bo", game, 700)
            #expect(higher.best == 700 && higher.improved)
            #expect(try service.page(game: game, period: .monthly, date: today, start: 0, end: 0).result.first?.score == 700)
            #expect(try service.history(userId: user, game: game, before: nil, limit: 10).result.map(\.score) == [700, 300, 500])
        }
    }

    @Test func theGlobalBoardSumsEachPlayersBestPerGame() throws {
        try withGame { first in
            try withGame { second in
                let user = try makeUser("Cy")
                _ = try submit(user, "Cy", first, 100)
                _ = try submit(user, "Cy", first, 60)
                _ = try submit(user, "Cy", second, 50)
                let standing = try service.standing(userId: user, period: .allTime, date: today)
                #expect(standing.boards.first { $0.game == "all" }?.score == 150)
                let global = try BoardIndex(redis: redis).around(userId: user, game: "all", period: .allTime, radius: 0)
                #expect(global?.score == 150)
            }
        }
    }

    @Test func aRetryWithTheSameIdempotencyKeyGetsTheFirstAnswerAndStoresOnce() throws {
        try withGame { game in
            let user = try makeUser("Di")
            let key = TestStack.unique("key")
            let first = try submit(user, "Di", game, 400, key: key)
            let other = try makeUser("Ed")
            _ = try submit(other, "Ed", game, 900)
            let retry = try submit(user, "Di", game, 400, key: key)
            #expect(retry == first, "the first answer, though Ed has since passed Di")
            #expect(try database.query("SELECT 1 FROM scores WHERE user_id = $1", [user]).count == 1)
        }
    }

    /// One batch, one statement: each submission gets its own answer, a revoked token or a deleted account
    /// costs only its own submission, and a retry in the same batch finds the row of the first; then one
    /// round trip applies the stored ones.
    @Test func aBatchOfSubmissionsLandsEachWithItsOwnAnswer() throws {
        try withGame { game in
            let (ann, bea, cid) = (try makeUser("Ann"), try makeUser("Bea"), try makeUser("Cid"))
            let gone = try makeUser("Gone")
            try database.query("DELETE FROM users WHERE id = $1", [gone])
            let revokedKey = TestStack.unique("revoked")
            try database.query("INSERT INTO revoked_tokens (token_key, expires_at) VALUES ($1, now() + interval '1 hour')", [revokedKey])
            let retryKey = TestStack.unique("retry")
            func pending(_ user: Int, _ name: String, _ score: Int, key: String? = nil, token: String? = nil) -> LeaderboardService.PendingScore {
                LeaderboardService.PendingScore(
                    score: NewScore(userId: user, game: game, score: score, idempotencyKey: key, tokenKey: token), name: name, today: today)
            }
            let batch = [
                pending(ann, "Ann", 500), pending(gone, "Gone", 900), pending(bea, "Bea", 800, token: revokedKey),
                pending(cid, "Cid", 700, key: retryKey), pending(cid, "Cid", 700, key: retryKey),
            ]
            let stored = service.store(batch)
            #expect(stored.count == 5)
            let annRow = try #require(try stored[0].get().stored)
            #expect(annRow.score == 500 && !annRow.isReplay)
            #expect(throws: PostgresError.self) { try stored[1].get() }
            guard case .revoked = try stored[2].get() else {
                Issue.record("Bea's token is revoked")
                return
            }
            let first = try #require(try stored[3].get().stored)
            let retry = try #require(try stored[4].get().stored)
            #expect(!first.isReplay && retry.isReplay && retry.id == first.id)

            let landed = service.apply(batch, stored: stored)
            guard case .success(.applied(_, let annApplied)) = landed[0], case .success(.refused(.unauthorized)) = landed[2],
                case .success(.applied(_, let cidApplied)) = landed[3], case .success(.applied(_, let retryApplied)) = landed[4]
            else {
                Issue.record("outcomes: \(landed)")
                return
            }
            #expect(throws: PostgresError.self) { try landed[1].get() }
            let bests: [Int] = [annApplied.best, cidApplied.best, retryApplied.best]
            #expect(bests == [500, 700, 700])
            #expect(annApplied.rank == 1 && cidApplied.rank == 1, "each ranked as it was applied, in order")
            #expect(cidApplied.improved && !retryApplied.improved, "the replay changes nothing")

            let rows = try database.query("SELECT user_id, score FROM scores WHERE game = $1 ORDER BY score DESC", [game])
            #expect(try rows.map { try $0.requiredInt("user_id") } == [cid, ann], "one row each for Cid and Ann, none for Bea or Gone")
            let board = try service.page(game: game, period: .allTime, date: today, start: 0, end: 9)
            #expect(board.result.map(\.userId) == [cid, ann])
            #expect(board.result.map(\.rank) == [1, 2])
        }
    }

    /// More scores than one run of the apply script takes: the runs share one round trip, keep the order,
    /// and each score gets its own answer.
    @Test func aBatchLongerThanOneScriptRunIsAppliedInOrder() throws {
        try withGame { game in
            let players = [(id: try makeUser("Ann"), name: "Ann"), (id: try makeUser("Bea"), name: "Bea")]
            let count = 2 * BoardIndex.applyChunk + 5
            // Each score tops the board, so one applied out of order would rank second.
            let batch = (1...count).map { score in
                let player = players[score % 2]
                return LeaderboardService.PendingScore(
                    score: NewScore(userId: player.id, game: game, score: score, idempotencyKey: nil, tokenKey: nil), name: player.name,
                    today: today)
            }
            let answers = try service.apply(batch, stored: service.store(batch)).map { outcome -> BoardIndex.Applied in
                guard case .applied(_, let applied) = try outcome.get() else { throw ServiceError.unavailable("index") }
                return applied
            }
            #expect(answers.map(\.best) == Array(1...count))
            #expect(answers.allSatisfy { $0.rank == 1 && $0.improved })
            let board = try service.page(game: game, period: .allTime, date: today, start: 0, end: 9)
            #expect(board.result.map(\.userId) == [players[count % 2].id, players[(count - 1) % 2].id])
            #expect(board.result.map(\.score) == [count, count - 1])
        }
    }

    /// A batch travels as column arrays: keys a client chose, with the characters of an array literal in them,
    /// must be stored as sent, and a retry with one must find its row.
    @Test func idempotencyKeysWithArraySyntaxAreStoredExactly() throws {
        try withGame { game in
            let user = try makeUser("Flo")
            let keys = [#"a","b"#, #"back\slash"#, "{braces}", "NULL", " spaced ", "comma,separated", "'quote'"].map {
                TestStack.unique("key") + $0
            }
            let batch = keys.enumerated().map { index, key in
                LeaderboardService.PendingScore(
                    score: NewScore(userId: user, game: game, score: 100 + index, idempotencyKey: key, tokenKey: nil), name: "Flo", today: today)
            }
            let stored = try service.store(batch).map { try #require(try $0.get().stored) }
            #expect(stored.map(\.score) == Array(100..<(100 + keys.count)))
            let rows = try database.query("SELECT idempotency_key FROM scores WHERE user_id = $1 ORDER BY score", [user])
            #expect(try rows.map { try $0.requiredString("idempotency_key") } == keys)
            let retries = try service.store(batch).map { try #require(try $0.get().stored) }
            #expect(retries.allSatisfy(\.isReplay) && retries.map(\.id) == stored.map(\.id))
        }
    }

    /// Workers sharing one group commit, as a process's FastCGI threads do: every concurrent submission is
    /// stored once and its answer is its own.
    @Test func concurrentSubmissionsThroughOneGroupCommitAreAllStoredAndAnswered() throws {
        try withGame { game in
            // Each worker and each stage of the group commit its own connections, as in the api.
            @Sendable func makeService(batches: LeaderboardService.SubmissionBatches? = nil) -> LeaderboardService {
                let database = TestStack.database()
                let redis = TestStack.redis()
                return LeaderboardService(
                    scores: PostgresScoreStore(database: database), index: BoardIndex(redis: redis),
                    games: PostgresGameCatalog(database: database), ephemeral: RedisEphemeralStore(redis: redis), batches: batches)
            }
            let batches = LeaderboardService.submissionBatches()
            batches.start(store: { makeService().store }, finish: { makeService().finish })
            defer { batches.stop() }
            let players = try (0..<6).map { try makeUser("Con\($0)") }
            let answers = Locked<[Int: SubmissionResult]>([:])
            let failures = Locked<[String]>([])
            let done = DispatchGroup()
            for (index, player) in players.enumerated() {
                done.enter()
                Thread.detachNewThread {
                    let worker = makeService(batches: batches)
                    for round in 0..<5 {
                        do {
                            let score = 1000 * (index + 1) + round
                            guard
                                case .applied(let result) = try worker.submit(
                                    userId: player, name: "Con\(index)", game: game, score: score, idempotencyKey: nil)
                            else { throw ServiceError.unavailable("index") }
                            if result.score != score { failures.withLock { $0.append("\(player) sent \(score), got \(result.score)") } }
                            answers.withLock { $0[player] = result }
                        } catch {
                            failures.withLock { $0.append("\(error)") }
                        }
                    }
                    done.leave()
                }
            }
            done.wait()
            #expect(failures.withLock { $0 } == [])
            let counts = try database.query("SELECT user_id, count(*) AS n, max(score) AS best FROM scores WHERE game = $1 GROUP BY user_id", [game])
            #expect(counts.count == players.count)
            #expect(try counts.allSatisfy { try $0.requiredInt("n") == 5 })
            let board = try service.page(game: game, period: .allTime, date: today, start: 0, end: 9)
            #expect(board.result.map(\.userId) == players.reversed())
            #expect(board.result.map(\.score) == (0..<6).reversed().map { 1000 * ($0 + 1) + 4 })
        }
    }

    @Test func badSubmissionsAreRefusedWithTheFieldAtFault() throws {
        try withGame(maxScore: 1000) { game in
            let user = try makeUser("Fa")
            for (badGame, score, field) in [(game, -1, "score"), (game, 1001, "score"), ("nope", 5, "game"), ("all", 5, "game")] {
                #expect {
                    try service.submit(userId: user, name: "Fa", game: badGame, score: score, idempotencyKey: nil)
                } throws: { error in
                    (error as? ServiceError)?.fieldErrors.first?.field == field
                }
            }
            #expect(try database.query("SELECT 1 FROM scores WHERE user_id = $1", [user]).isEmpty)
            #expect(throws: ServiceError.self) { try service.page(game: "nope", period: .allTime, date: today, start: 0, end: 9) }
        }
    }

    @Test func withRedisAwayASubmissionIsQueuedThenTheReconcilerAppliesIt() throws {
        try withGame { game in
            let user = try makeUser("Gus")
            let offline = try offlineService()
            guard case .queued(let queued) = try offline.submit(userId: user, name: "Gus", game: game, score: 321, idempotencyKey: nil) else {
                Issue.record("expected the submission to be queued")
                return
            }
            #expect(queued == QueuedSubmission(game: game, score: 321, queued: true))
            #expect(try database.query("SELECT 1 FROM scores WHERE user_id = $1", [user]).count == 1, "stored before answering")

            // The reconciler (the stack's api runs one too) applies it once it has settled.
            try waitUntil {
                try service.page(game: game, period: .allTime, date: today, start: 0, end: 0).result.first?.userId == user
            } do: {
                try IndexReconciler(connections: StoreConnections(database: database, redis: redis), logger: logger).reconcile()
            }
            #expect(try service.page(game: game, period: .daily, date: today, start: 0, end: 0).result.first?.score == 321)
        }
    }

    /// Under a steady stream of submissions most scores above the watermark are still settling. A pass
    /// applies what is missing and moves the watermark past what settled, then rests: it must not read the
    /// unsettled rest again and again (it once did, dozens of times a second, at a few thousand a second).
    @Test func aReconcilerPassReadsPastTheSettledScoresOnce() throws {
        // A private Redis: its own lease and watermark, so the stack's reconciler is not in the way.
        let redisServer = try PrivateRedis()
        defer { redisServer.stop() }
        let privateRedis = RedisConnection(settings: try RedisSettings(url: "unix://\(redisServer.socketPath)"))
        try privateRedis.command(["SET", RedisKeys.generation, "1"])
        try withGame { game in
            let user = try makeUser("Ivy")
            let settled = try database.query(
                """
                INSERT INTO scores (user_id, game, score, created_at)
                SELECT $1, $2, score, now() - interval '10 seconds' FROM generate_series(1, 3) AS score RETURNING id
                """, [user, game]
            ).map { try $0.requiredInt("id") }.sorted()
            for score in 4...30 {
                try database.query("INSERT INTO scores (user_id, game, score) VALUES ($1, $2, $3)", [user, game, score])
            }
            // Just below them: other tests' scores (from the shared PostgreSQL) come after, or between.
            try privateRedis.command(["SET", "lb:1:watermark", String(settled[0] - 1)])
            let reconciler = IndexReconciler(connections: StoreConnections(database: database, redis: privateRedis), logger: logger, batchSize: 10)
            let pass = try reconciler.reconcile()
            #expect(pass.batchesRead == 1, "the first batch ends in scores still ripening")
            #expect(pass.applied >= 3)
            #expect(try BoardIndex(redis: privateRedis).applied(settled, generation: 1) == [true, true, true])
            // Past them once the inserts under way when the pass began (other tests' too) have ended.
            try waitUntil {
                try BoardIndex(redis: privateRedis).watermark(generation: 1) >= settled[0]
            } do: {
                try reconciler.reconcile()
            }
        }
    }

    /// A score whose insert drew its id and then waited (for a lock, a flush) commits after later ones. The watermark
    /// ("every id at or below it is applied") must not pass it meanwhile, however old the later ones are: the score
    /// would then count as applied, and be on no board until a rebuild.
    @Test func aScoreThatCommitsAfterLaterOnesIsStillApplied() throws {
        let redisServer = try PrivateRedis()
        defer { redisServer.stop() }
        let privateRedis = RedisConnection(settings: try RedisSettings(url: "unix://\(redisServer.socketPath)"))
        try privateRedis.command(["SET", RedisKeys.generation, "1"])
        let index = BoardIndex(redis: privateRedis)
        try withGame { game in
            try withAScoreHeldBehindALaterOne(game: game) { slow, slowPlayer, slowId, fastPlayer, fastId in
                try privateRedis.command(["SET", "lb:1:watermark", String(slowId - 1)])
                let reconciler = IndexReconciler(connections: StoreConnections(database: database, redis: privateRedis), logger: logger)

                try reconciler.reconcile()
                #expect(try index.applied([fastId], generation: 1) == [true])
                #expect(try index.watermark(generation: 1) < slowId, "not past a score that may still commit")

                try slow.query("COMMIT")
                try waitUntil {
                    try index.applied([slowId], generation: 1) == [true]
                } do: {
                    try reconciler.reconcile()
                }
                let board = try index.page(game: game, period: BoardPeriod(.allTime, containing: today), start: 0, stop: 9).rows
                #expect(board.map(\.userId) == [slowPlayer, fastPlayer])
            }
        }
    }

    /// A rebuild's watermark, as the reconciler's: a score whose transaction drew its id before the rebuild began
    /// and commits while it waits is in the new generation, not below its watermark and on no board.
    @Test func aRebuildWaitsForAScoreBeingStoredWhenItStarts() throws {
        let redisServer = try PrivateRedis()
        defer { redisServer.stop() }
        let redisURL = "unix://\(redisServer.socketPath)"
        // The rebuild's own lock, taken before the slow transaction starts: another test's rebuild that began after it
        // would hold the lock while it waits for that transaction too. Taken again by the rebuild on this connection.
        let rebuilding = TestStack.database()
        try rebuilding.query("SELECT pg_advisory_lock($1)", [IndexRebuilder.lockID])
        defer { _ = try? rebuilding.query("SELECT pg_advisory_unlock($1)", [IndexRebuilder.lockID]) }
        try withGame { game in
            try withAScoreHeldBehindALaterOne(game: game) { slow, slowPlayer, slowId, fastPlayer, _ in
                // The rebuild has read its horizon (the slow transaction among its writers) once it asks whether they ended
                // (`ScoreWriters.haveEnded`, the one query of the rebuild that names `virtualxid`).
                let rebuilt = try TestStack.whileRunning(
                    "the rebuild waits for the transactions storing scores", on: rebuilding,
                    { connection in
                        let redis = RedisConnection(settings: try RedisSettings(url: redisURL))
                        return try IndexRebuilder(database: connection, redis: redis, logger: Logger(label: "test")).rebuild(wait: true)
                    }, reaches: "query LIKE '%virtualxid%'",
                    release: { try slow.query("COMMIT") })
                let generation = try #require(try rebuilt.get()).generation
                let index = BoardIndex(redis: RedisConnection(settings: try RedisSettings(url: redisURL)))
                #expect(try index.watermark(generation: generation) >= slowId)
                let board = try index.page(game: game, period: BoardPeriod(.allTime, containing: today), start: 0, stop: 9).rows
                #expect(board.map(\.userId) == [slowPlayer, fastPlayer], "the score that committed during the wait is on the board")
            }
        }
    }

    /// A revocation Redis could not cache when it was made is flagged in PostgreSQL; a rebuild reloads the revocations
    /// and clears that flag, which it cannot do in the read-only transaction of its snapshot. The test holds the row's
    /// lock until the rebuild waits for it to clear the flag (the stack's daemons, which would clear it first, wait too).
    /// `wait: false`: another test's rebuild may hold the rebuild lock while it waits for this row as well; the reload
    /// comes before that lock is tried, and the index itself need not be rebuilt here.
    @Test func aRebuildCachesARevocationRedisLackedAndClearsItsFlag() throws {
        let redisServer = try PrivateRedis()
        defer { redisServer.stop() }
        let redisURL = "unix://\(redisServer.socketPath)"
        let tokenKey = TestStack.unique("uncached")
        try database.query(
            "INSERT INTO revoked_tokens (token_key, expires_at, uncached) VALUES ($1, now() + interval '1 hour', true)", [tokenKey])
        defer { _ = try? database.query("DELETE FROM revoked_tokens WHERE token_key = $1", [tokenKey]) }
        let locker = TestStack.database()
        try locker.query("BEGIN")
        defer { _ = try? locker.query("ROLLBACK") }
        try locker.query("SELECT 1 FROM revoked_tokens WHERE token_key = $1 FOR UPDATE", [tokenKey])

        let rebuilt = try TestStack.whileRunning(
            "the rebuild waits to clear the revocation's flag",
            { connection in
                let redis = RedisConnection(settings: try RedisSettings(url: redisURL))
                return try IndexRebuilder(database: connection, redis: redis, logger: Logger(label: "test")).rebuild(wait: false)
            }, reaches: "wait_event_type = 'Lock' AND wait_event IN ('transactionid', 'tuple')",
            release: { try locker.query("ROLLBACK") })
        _ = try rebuilt.get()
        let privateRedis = RedisConnection(settings: try RedisSettings(url: redisURL))
        #expect(try privateRedis.command(["EXISTS", RedisKeys.revokedToken(tokenKey)]) == .integer(1))
        #expect(try database.query("SELECT uncached FROM revoked_tokens WHERE token_key = $1", [tokenKey])[0].bool("uncached") == false)
    }

    /// The reconciler's question, read as byte ranges of the applied bitmaps: across a shard boundary, at
    /// both ends of a byte, in a shard no score has reached, and in any order.
    @Test func appliedTellsEachScoreFromItsNeighbours() throws {
        // A generation of its own, far above the stack's, so no other test's scores are in it.
        let generation = 1_000_000_000 + Int.random(in: 0..<1_000_000)
        let shard = 1 << 20
        let applied = [7, 8, 15, shard - 1, shard, 3 * shard + 12_345]
        let notApplied = [0, 6, 9, 14, 16, shard - 2, shard + 1, 2 * shard + 5]
        defer { _ = try? redis.command(["DEL"] + (0...3).map { "lb:\(generation):applied:\($0)" }) }
        for id in applied {
            try redis.command(["SETBIT", "lb:\(generation):applied:\(id / shard)", String(id % shard), "1"])
        }
        let ids = (applied + notApplied).shuffled()
        let answers = try BoardIndex(redis: redis).applied(ids, generation: generation)
        #expect(Dictionary(uniqueKeysWithValues: zip(ids, answers)) == Dictionary(uniqueKeysWithValues: ids.map { ($0, applied.contains($0)) }))
    }

    @Test func aRebuildReproducesTheLiveBoardsAndSwapsAtomically() throws {
        try withGame { game in
            for (index, score) in [300, 200, 200, 100].enumerated() {
                let user = try makeUser("R\(index)")
                _ = try submit(user, "R\(index)", game, score)
                _ = try submit(user, "R\(index)", game, score / 2)
            }
            let before = try PeriodKind.allCases.map { try service.page(game: game, period: $0, date: today, start: 0, end: 9) }
            let generation = try #require(try BoardIndex(redis: redis).generation())
            let summary = try #require(try IndexRebuilder(database: database, redis: redis, logger: logger).rebuild(wait: true))
            #expect(summary.generation > generation)
            #expect(try BoardIndex(redis: redis).generation() == summary.generation)
            let after = try PeriodKind.allCases.map { try service.page(game: game, period: $0, date: today, start: 0, end: 9) }
            #expect(after == before)
            #expect(try redis.command(["EXISTS", "lb:\(generation):b:\(game):all"]) == .integer(0), "the old generation is gone")
        }
    }

    /// Written in chunks, a sorted set ends with two hash tables (Redis moves entries to the grown one a few per
    /// command), which a closed period's board would keep until Redis restarts: the rebuild compacts its boards,
    /// keeping what they hold and when they expire.
    @Test func aRebuildLeavesItsBoardsCompactWithTheirExpiry() throws {
        try withGame { game in
            // Not on the global board, which other tests' players share.
            try database.query("UPDATE games SET in_global = false WHERE slug = $1", [game])
            let players = 5_300
            try database.query(
                """
                WITH made AS (
                    INSERT INTO users (name, email, password)
                    SELECT 'Many ' || n, $1 || n || '@example.com', 'x' FROM generate_series(1, $2::int) AS n RETURNING id)
                INSERT INTO scores (user_id, game, score) SELECT id, $3, id % 1000 FROM made
                """, [TestStack.unique("many"), players, game])
            _ = try #require(try IndexRebuilder(database: database, redis: redis, logger: logger).rebuild(wait: true))
            // The generation in use now: the stack daemons' reconcilers may have rebuilt since (their rebuilds compact too).
            let generation = try #require(try BoardIndex(redis: redis).generation())
            let day = BoardPeriod(.daily, containing: today)
            for (board, expiresAt) in [("all", nil), (day.key, day.expiresAt)] {
                let key = "lb:\(generation):b:\(game):\(board)"
                #expect(try redis.command(["ZCARD", key]).int == players)
                #expect(try redis.command(["EXPIRETIME", key]).int == expiresAt ?? -1)
                #expect(try redis.command(["ZREVRANGE", key, "0", "0", "WITHSCORES"]).array?.last?.string == "999")
                // A copy's table is sized for its members: the board takes no more memory than its copy, give or take
                // the levels of its skiplist, drawn again for the copy (a second table here would be 4096 slots, 32 KiB).
                try redis.command(["COPY", key, key + ":copy"])
                defer { _ = try? redis.command(["DEL", key + ":copy"]) }
                let used = try #require(try redis.command(["MEMORY", "USAGE", key, "SAMPLES", "0"]).int)
                let copyUsed = try #require(try redis.command(["MEMORY", "USAGE", key + ":copy", "SAMPLES", "0"]).int)
                #expect(used <= copyUsed + copyUsed / 100, "\(key): \(used) bytes, its copy \(copyUsed)")
            }
        }
    }

    @Test func anEmptiedIndexIsRebuiltByTheReconciler() throws {
        try withGame { game in
            let user = try makeUser("Hal")
            _ = try submit(user, "Hal", game, 42)
            try redis.command(["DEL", "lb:meta:gen:v2"])
            #expect(throws: IndexError.self) { try BoardIndex(redis: redis).page(game: game, period: .allTime, start: 0, stop: 9) }
            try waitUntil {
                try BoardIndex(redis: redis).generation() != nil
            } do: {
                try IndexReconciler(connections: StoreConnections(database: database, redis: redis), logger: logger).reconcile()
            }
            #expect(try service.page(game: game, period: .allTime, date: today, start: 0, end: 0).result.first?.score == 42)
        }
    }

    /// An index built under the layout before (`RedisKeys.retiredGenerationPointers`) counts as not built: the
    /// reconciler rebuilds it by itself and deletes the old generation.
    @Test func anIndexOfAnEarlierLayoutIsRebuiltAndDeletedByTheReconciler() throws {
        try withGame { game in
            let user = try makeUser("Ida")
            _ = try submit(user, "Ida", game, 43)
            let old = try #require(try BoardIndex(redis: redis).generation())
            try redis.command(["SET", "lb:meta:gen", String(old)])
            try redis.command(["DEL", RedisKeys.generation])
            try waitUntil {
                try BoardIndex(redis: redis).generation() != nil
            } do: {
                try IndexReconciler(connections: StoreConnections(database: database, redis: redis), logger: logger).reconcile()
            }
            #expect(try service.page(game: game, period: .allTime, date: today, start: 0, end: 0).result.first?.score == 43)
            // The rebuild may be a stack daemon's (their reconcilers race this test's for it), which deletes the old
            // index only after swapping in the new one: the old index is gone once that rebuild has finished.
            let oldIndexIsGone = { try redis.command(["EXISTS", "lb:meta:gen", "lb:\(old):b:\(game):all"]) == .integer(0) }
            try waitUntil(oldIndexIsGone, do: {})
        }
    }

    @Test func reportsFromTheIndexAgreeWithPostgreSQL() throws {
        try withGame { first in
            try withGame { second in
                // Scores over the last 20 days, stored with their own dates, then indexed by a rebuild.
                var users: [Int] = []
                for index in 0..<12 { users.append(try makeUser("Rep\(index)")) }
                for (index, user) in users.enumerated() {
                    for day in stride(from: index % 3, to: 20, by: 3) {
                        let game = (day + index).isMultiple(of: 2) ? first : second
                        try database.query(
                            "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, $3, now() - make_interval(days => $4))",
                            [user, game, 1000 + (index * 37 + day * 11) % 500, day])
                    }
                }
                _ = try IndexRebuilder(database: database, redis: redis, logger: logger).rebuild(wait: true)
                let store = PostgresScoreStore(database: database)
                for (from, game) in [(today.adding(days: -19), first), (today.adding(days: -6), second), (today.adding(days: -13), first)] {
                    let report = try service.report(from: from, to: today, game: game, limit: 5, today: today)
                    let expected = try store.topPlayers(
                        from: from.epochSeconds, to: today.adding(days: 1).epochSeconds, games: [game], ascending: false, limit: 5)
                    #expect(report.map(\.userId) == expected.map(\.userId))
                    #expect(report.map(\.score) == expected.map(\.score))
                    #expect(report.map(\.date) == expected.map { UTCDay(epochSeconds: $0.epochSeconds).description })
                    #expect(report.allSatisfy { $0.game == game && $0.games >= 1 })
                    // Counted on the boards; PostgreSQL counts the scores.
                    let played = try store.gamesPlayed(
                        userIds: report.map(\.userId), from: from.epochSeconds, to: today.adding(days: 1).epochSeconds)
                    #expect(report.map(\.games) == report.map { played[$0.userId] ?? 0 })
                    #expect(report.map(\.rank) == Array(1...report.count) || report.count < 2)
                }
            }
        }
    }

    /// Once a board has given `limit` rows, the report reads the others only down to its last score: a player
    /// tied with that floor on a later board still counts (and takes the tie with a lower id).
    @Test func aReportCountsAPlayerTiedWithAnEarlierBoardsLastScore() throws {
        try withGame { game in
            // Created first, so the lowest id of the test's players: it ranks first among equal scores.
            let tied = try makeUser("Tied")
            let (first, second, third, below) = (try makeUser("First"), try makeUser("Second"), try makeUser("Third"), try makeUser("Below"))
            // Yesterday's board: three players, the floor 100. Today's: a better score of `second`, a tie, one below.
            for (user, score, daysAgo) in [(first, 300, 1), (second, 200, 1), (third, 100, 1), (second, 250, 0), (tied, 100, 0), (below, 99, 0)] {
                try database.query(
                    "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, $3, now() - make_interval(days => $4))",
                    [user, game, score, daysAgo])
            }
            _ = try IndexRebuilder(database: database, redis: redis, logger: logger).rebuild(wait: true)
            let yesterday = today.adding(days: -1)
            #expect(LeaderboardService.covering(from: yesterday, to: today).count == 2, "a board per day, yesterday's read first")
            let report = try service.report(from: yesterday, to: today, game: game, limit: 3, today: today)
            let expected = try PostgresScoreStore(database: database).topPlayers(
                from: yesterday.epochSeconds, to: today.adding(days: 1).epochSeconds, games: [game], ascending: false, limit: 3)
            #expect(report.map(\.userId) == [first, second, tied])
            #expect(report.map(\.score) == [300, 250, 100])
            #expect(report.map(\.rank) == [1, 2, 3])
            #expect(expected.map(\.userId) == report.map(\.userId), "PostgreSQL's answer for the same range")
        }
    }

    /// A player's equal bests in two games of a report: both paths name the earlier day's (PostgreSQL's takes the
    /// earliest score; the index once kept the first game in the catalog's order, with its date, on a week's board).
    @Test func aReportNamesTheEarlierOfAPlayersEqualBestsOnBothPaths() throws {
        try withGame { first in
            try withGame { second in
                let player = try makeUser("Equal Bests")
                let week = BoardPeriod(.weekly, containing: today.adding(days: -7))
                let (monday, sunday) = (week.days!.lowerBound, week.days!.upperBound)
                // The later day in the game that comes first.
                for (game, day) in [(first, monday.adding(days: 3)), (second, monday.adding(days: 1))] {
                    try database.query(
                        "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, 500, to_timestamp($3) + interval '12 hours')",
                        [player, game, day.epochSeconds])
                }
                _ = try IndexRebuilder(database: database, redis: redis, logger: logger).rebuild(wait: true)
                let fromIndex = try #require(try BoardIndex(redis: redis).top(limit: 1, of: [(first, week), (second, week)]))
                let fromPostgreSQL = try PostgresScoreStore(database: database).topPlayers(
                    from: monday.epochSeconds, to: sunday.adding(days: 1).epochSeconds, games: [first, second], ascending: false, limit: 1)
                #expect(
                    fromPostgreSQL.map { [$0.game, UTCDay(epochSeconds: $0.epochSeconds).description] } == [
                        [second, monday.adding(days: 1).description]
                    ])
                #expect(
                    fromIndex.map { [$0.game, UTCDay(epochSeconds: $0.epochSeconds).description] } == [[second, monday.adding(days: 1).description]])
            }
        }
    }

    /// A report made from PostgreSQL is bounded in time: past its timeout the statement is cancelled and the caller
    /// refused (503), rather than a worker waiting as long as it takes. Here its statement waits on a table lock held
    /// longer than the timeout; the timeout is the report's alone, not the connection's.
    @Test func aReportFromPostgreSQLThatRunsPastItsTimeoutIsRefused() throws {
        try withGame { game in
            let store = PostgresScoreStore(database: database, reportTimeout: .milliseconds(200))
            let report = {
                try store.topPlayers(from: 0, to: today.adding(days: 1).epochSeconds, games: [game], ascending: false, limit: 10)
            }
            let holder = TestStack.database()
            try holder.transaction {
                try holder.query("LOCK TABLE scores IN ACCESS EXCLUSIVE MODE")
                #expect(throws: ServiceError.unavailable("the report took longer than 0.2 seconds to make; ask for a shorter range")) {
                    try report()
                }
            }
            #expect(try report().isEmpty, "the same report is made once nothing holds it up")
            #expect(try database.query("SHOW statement_timeout")[0].requiredString("statement_timeout") == "0")
        }
    }

    @Test func aReportOlderThanTheIndexKeepsIsAnsweredFromPostgreSQL() throws {
        try withGame { game in
            let user = try makeUser("Old")
            try database.query(
                "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, 777, now() - interval '500 days')", [user, game])
            let from = today.adding(days: -505)
            let report = try service.report(from: from, to: from.adding(days: 10), game: game, limit: 3, today: today)
            #expect(report.map(\.userId) == [user])
            #expect(report.first?.score == 777)
            #expect(report.first?.games == 1)
        }
    }

    /// An admin's change of a scored game's tie-break reaches the boards by a rebuild the reconciler starts
    /// itself; until the swap the boards rank as before, after it every tie is broken by who came first.
    @Test func aChangedTieBreakIsRebuiltIntoTheBoards() throws {
        try withGame { game in
            let (first, second) = (try makeUser("Early"), try makeUser("Late"))
            _ = try submit(first, "Early", game, 500)
            _ = try submit(second, "Late", game, 500)
            #expect(try service.page(game: game, period: .allTime, date: today, start: 0, end: 9).result.map(\.rank) == [1, 1])
            try database.query("UPDATE games SET tie_break = 'earliest' WHERE slug = $1", [game])
            try waitUntil {
                try service.page(game: game, period: .allTime, date: today, start: 0, end: 9).result.map(\.rank) == [1, 2]
            } do: {
                try IndexReconciler(connections: StoreConnections(database: database, redis: redis), logger: logger).reconcile()
            }
            let rows = try service.page(game: game, period: .daily, date: today, start: 0, end: 9).result
            #expect(rows.map(\.userId) == [first, second] && rows.map(\.rank) == [1, 2])
            #expect(try service.position(userId: second, game: game, period: .allTime, date: today, around: 0).rank == 2)
        }
    }

    /// A score of a new player whose transaction stays open (its id drawn, not committed) and a later score of another,
    /// committed; both dated 10 s ago, old enough for every rule that dates scores. `body` gets the open transaction, the
    /// held score's player and id, then the later one's; the transaction is rolled back afterwards unless `body` ended it.
    func withAScoreHeldBehindALaterOne(
        game: String, _ body: (_ held: PostgresConnection, _ heldPlayer: Int, _ heldId: Int, _ laterPlayer: Int, _ laterId: Int) throws -> Void
    ) throws {
        let (heldPlayer, laterPlayer) = (try makeUser("Slow"), try makeUser("Fast"))
        let insert = "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, $3, now() - interval '10 seconds') RETURNING id"
        let held = TestStack.database()
        try held.query("BEGIN")
        defer { _ = try? held.query("ROLLBACK") }
        let heldId = try held.query(insert, [heldPlayer, game, 500])[0].requiredInt("id")
        let laterId = try database.query(insert, [laterPlayer, game, 400])[0].requiredInt("id")
        try body(held, heldPlayer, heldId, laterPlayer, laterId)
    }

    /// Repeats `action` until `condition` holds, for at most five seconds.
    func waitUntil(_ condition: () throws -> Bool, do action: () throws -> Void) throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while try !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not reached in 5 s")
                return
            }
            try action()
            if try !condition() { Thread.sleep(forTimeInterval: 0.1) }
        }
    }
}
