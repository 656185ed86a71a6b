import Foundation
import Logging
import Testing

@testable import LeaderboardCore

/// Pages kept in a process's `PageCache` against the real Redis: served while the board's stamp holds, and never
/// once anything that changes the page (a submission on any connection, a rebuild, a renamed player, a
/// revocation) has been answered. In `LeaderboardTests`, serialized, since a rebuild swaps the whole index.
extension LeaderboardTests {
    /// A worker of a process: connections of its own, the process's caches.
    struct Worker {
        let auth: AuthService
        let leaderboard: LeaderboardService

        init(pages: PageCache?, reports: ReportCache? = nil, verifiedTokens: VerifiedTokens = VerifiedTokens()) {
            let (database, redis) = (TestStack.database(), TestStack.redis())
            auth = AuthService(
                config: TestStack.config, users: PostgresUserStore(database: database), ephemeral: RedisEphemeralStore(redis: redis),
                revocations: RevocationList(database: database, redis: redis),
                refreshTokens: PostgresRefreshTokenStore(database: database), passwords: TestStack.passwords, verifiedTokens: verifiedTokens)
            leaderboard = LeaderboardService(
                scores: PostgresScoreStore(database: database), index: BoardIndex(redis: redis), games: PostgresGameCatalog(database: database),
                ephemeral: RedisEphemeralStore(redis: redis), pages: pages, reports: reports)
        }

        func submit(_ user: Int, _ name: String, _ game: String, _ score: Int) throws {
            guard case .applied = try leaderboard.submit(userId: user, name: name, game: game, score: score, idempotencyKey: nil) else {
                throw ServiceError.unavailable("index")
            }
        }

        /// A token of the player's, logged out here, and its revocation key.
        func loggedOutToken(_ user: Int, _ name: String) throws -> (token: String, key: String) {
            let token = auth.issueToken(for: User(id: user, name: name, email: "\(name.lowercased())@example.com"))
            let claims = try auth.authenticate(token)
            try auth.logout(token: token, claims: claims)
            return (token, AuthService.revocationKey(token: token, claims: claims))
        }

        func top(_ game: String, _ period: PeriodKind = .allTime, token: String? = nil) throws -> [BoardRow] {
            try auth.whileNotRevoked(try auth.verifyIfPresent(token)) { tokenKey in
                try leaderboard.renderedPage(game: game, period: period, date: UTCDay.today, start: 0, end: 9, unlessRevoked: tokenKey).page.result
            }
        }
    }

    func isKept(_ pages: PageCache, _ game: String, _ period: PeriodKind = .allTime) throws -> Bool {
        let board = BoardPeriod(period, containing: UTCDay.today)
        let stamp = try #require(try BoardIndex(redis: redis).stamps([BoardIndex.StampQuery(game: game, period: board, tokenKey: nil)])[0].get())
        return pages.page(for: PageCache.Key(game: game, period: board.key, start: 0, stop: 9), at: stamp) != nil
    }

    /// Whether the worker's global page (kept or read) is the board as a direct read sees it. Other suites' players
    /// share the global board and may change it meanwhile, so the comparison counts only while the board holds still
    /// (two direct reads around the worker's agree).
    func keptGlobalPageMatchesADirectRead(_ worker: Worker, _ period: PeriodKind) throws -> Bool {
        func direct() throws -> [BoardRow] {
            try worker.leaderboard.page(game: BoardIndex.globalGame, period: period, date: UTCDay.today, start: 0, end: 9).result
        }
        for _ in 0..<50 {
            let before = try direct()
            let kept = try worker.top(BoardIndex.globalGame, period)
            if try direct() == before { return kept == before }
        }
        Issue.record("the global board never held still for three reads")
        return false
    }

    @Test func aKeptPageIsServedUntilTheBoardChangesAndShowsASubmissionFromAnotherProcessAtOnce() throws {
        try withGame { game in
            let pages = PageCache()
            let (reader, elsewhere) = (Worker(pages: pages), Worker(pages: PageCache()))
            let (ann, bo) = (try makeUser("Ann"), try makeUser("Bo"))
            try elsewhere.submit(ann, "Ann", game, 100)
            for period in PeriodKind.allCases {
                #expect(try reader.top(game, period).map(\.userId) == [ann])
                #expect(try isKept(pages, game, period))
            }
            // Written behind the index's back (no version change): the kept page is what is served.
            let board = "lb:\(try #require(try BoardIndex(redis: redis).generation())):b:\(game):all"
            try redis.command(["ZADD", board, "5", "999999999"])
            #expect(try reader.top(game).map(\.userId) == [ann], "served from the cache")
            try redis.command(["ZREM", board, "999999999"])

            // A submission on another connection (another process, its own cache): the very next read shows it,
            // on every period of the game and on the global boards.
            try elsewhere.submit(bo, "Bo", game, 200)
            for period in PeriodKind.allCases {
                #expect(try reader.top(game, period).map(\.userId) == [bo, ann])
                #expect(try keptGlobalPageMatchesADirectRead(reader, period))
            }
            // A score that changes nothing (not a best) keeps the pages.
            try elsewhere.submit(bo, "Bo", game, 150)
            #expect(try isKept(pages, game))
        }
    }

    @Test func aRebuildIsNeverAnsweredWithAPageOfTheGenerationBefore() throws {
        try withGame { game in
            let pages = PageCache()
            let reader = Worker(pages: pages)
            let (ann, cy) = (try makeUser("Ann"), try makeUser("Cy"))
            try reader.submit(ann, "Ann", game, 100)
            #expect(try reader.top(game).map(\.userId) == [ann])
            #expect(try isKept(pages, game))
            // In PostgreSQL only (settled, so the rebuild takes it): no script ran, no version changed.
            try database.query(
                "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, 300, now() - interval '1 minute')", [cy, game])
            _ = try #require(try IndexRebuilder(database: database, redis: redis, logger: logger).rebuild(wait: true))
            #expect(try reader.top(game).map(\.userId) == [cy, ann])
        }
    }

    @Test func aBoardWhoseVersionIsLostIsReadAgain() throws {
        try withGame { game in
            let pages = PageCache()
            let reader = Worker(pages: pages)
            let ann = try makeUser("Ann")
            try reader.submit(ann, "Ann", game, 100)
            #expect(try reader.top(game).map(\.score) == [100])
            // As after a flush and a refill: the version key is gone, so the stamp no longer matches.
            try redis.command(["DEL", "lb:ver:\(game):all"])
            #expect(try !isKept(pages, game))
            #expect(try reader.top(game).map(\.score) == [100])
            #expect(try isKept(pages, game), "kept again under a new version")
        }
    }

    @Test func aPeriodBoardsVersionExpiresBeforeTheBoard() throws {
        try withGame { game in
            let reader = Worker(pages: PageCache())
            try reader.submit(try makeUser("Ann"), "Ann", game, 100)
            let generation = try #require(try BoardIndex(redis: redis).generation())
            for period in [PeriodKind.daily, .weekly, .monthly] {
                let key = BoardPeriod(period, containing: UTCDay.today).key
                let board = try redis.command(["EXPIRETIME", "lb:\(generation):b:\(game):\(key)"]).int
                #expect(try redis.command(["EXPIRETIME", "lb:ver:\(game):\(key)"]).int == board.map { $0 - 1 })
                #expect(try redis.command(["EXPIRETIME", "lb:ver:all:\(key)"]).int ?? 0 < (board ?? 0))
            }
        }
    }

    /// A period's boards and times (the game's and the global ones) go when the period stops being kept,
    /// whoever created them; a day board keeps no times (its entries were all reached on its day).
    @Test func aPeriodsBoardsAndTimesExpireWithThePeriod() throws {
        try withGame { game in
            try Worker(pages: nil).submit(try makeUser("Ann"), "Ann", game, 100)
            let generation = try #require(try BoardIndex(redis: redis).generation())
            for period in [PeriodKind.daily, .weekly, .monthly] {
                let board = BoardPeriod(period, containing: UTCDay.today)
                let parts = board.keepsDates ? ["b:\(game)", "w:\(game)", "b:all", "w:all"] : ["b:\(game)", "b:all"]
                for key in parts.map({ "lb:\(generation):\($0):\(board.key)" }) {
                    #expect(try redis.command(["EXPIRETIME", key]).int == board.expiresAt, "\(key)")
                }
                if !board.keepsDates {
                    #expect(try redis.command(["EXISTS", "lb:\(generation):w:\(game):\(board.key)", "lb:\(generation):w:all:\(board.key)"]).int == 0)
                }
            }
        }
    }

    @Test func aRenamedPlayerIsShownByTheirNewNameOnKeptPages() throws {
        try withGame { game in
            let reader = Worker(pages: PageCache())
            let ann = try makeUser("Ann")
            try reader.submit(ann, "Ann", game, 100)
            #expect(try reader.top(game).map(\.player) == ["Ann"])
            try Worker(pages: nil).submit(ann, "Anne", game, 50)
            #expect(try reader.top(game).map(\.player) == ["Anne"])
        }
    }

    /// The cache keeps pages, never a caller's standing: a token logged out anywhere gets its 401 on the next read of
    /// a kept page, while anonymous readers and other tokens are still served.
    @Test func aTokenLoggedOutElsewhereIsRefusedAKeptPage() throws {
        try withGame { game in
            let pages = PageCache()
            let (reader, elsewhere) = (Worker(pages: pages), Worker(pages: nil))
            let user = try makeUser("Rev")
            try reader.submit(user, "Rev", game, 10)
            let token = elsewhere.auth.issueToken(for: User(id: user, name: "Rev", email: "rev@example.com"))
            let other = elsewhere.auth.issueToken(for: User(id: user, name: "Rev", email: "rev@example.com"))
            #expect(try reader.top(game, token: token).map(\.userId) == [user])
            #expect(try isKept(pages, game))

            try elsewhere.auth.logout(token: token, claims: try elsewhere.auth.authenticate(token))
            #expect {
                try reader.top(game, token: token)
            } throws: { error in
                (error as? ServiceError) == .unauthorized("token revoked")
            }
            #expect(try reader.top(game).map(\.userId) == [user])
            #expect(try reader.top(game, token: other).map(\.userId) == [user])
            #expect(try isKept(pages, game))
        }
    }

    /// The stamps of several readers in one round trip: each gets its own, and a revoked token fails only its reader.
    @Test func stampsReadTogetherAreEachReadersOwn() throws {
        try withGame { game in
            let worker = Worker(pages: nil)
            let user = try makeUser("Sta")
            try worker.submit(user, "Sta", game, 10)
            let revokedKey = try worker.loggedOutToken(user, "Sta").key
            let index = BoardIndex(redis: redis)
            let (allTime, today) = (BoardPeriod(.allTime, containing: UTCDay.today), BoardPeriod(.daily, containing: UTCDay.today))
            let queries = [
                BoardIndex.StampQuery(game: game, period: allTime, tokenKey: nil),
                BoardIndex.StampQuery(game: game, period: allTime, tokenKey: revokedKey),
                BoardIndex.StampQuery(game: BoardIndex.globalGame, period: today, tokenKey: TestStack.unique("valid")),
            ]
            let stamps = try index.stamps(queries)
            // Each the stamp the page script reads along with that board's rows.
            #expect(try stamps[0].get() == index.page(game: game, period: allTime, start: 0, stop: 0).stamp)
            #expect(try stamps[0].get()?.board != nil)
            #expect {
                try stamps[1].get()
            } throws: { error in
                if case IndexError.tokenRevoked = error { true } else { false }
            }
            #expect(try stamps[2].get() == index.page(game: BoardIndex.globalGame, period: today, start: 0, stop: 0).stamp)
        }
    }

    /// Workers of one process reading at once share their stamp round trips; each still gets its own answer.
    @Test func readersOfOneProcessAtOnceEachGetTheirOwnAnswer() throws {
        try withGame { game in
            let pages = PageCache()
            let author = Worker(pages: nil)
            let user = try makeUser("Con")
            try author.submit(user, "Con", game, 10)
            let revoked = try author.loggedOutToken(user, "Con").token
            let valid = author.auth.issueToken(for: User(id: user, name: "Con", email: "con@example.com"))

            // Eight workers, each on a thread of its own, read 50 times at once: the even ones with the valid
            // token, the odd ones with the revoked one.
            let wrong = Locked<[String]>([])
            let reads = Locked(0)
            let done = DispatchGroup()
            for number in 0..<8 {
                done.enter()
                Thread.detachNewThread {
                    defer { done.leave() }
                    let worker = Worker(pages: pages)
                    let token = number.isMultiple(of: 2) ? valid : revoked
                    for _ in 0..<50 {
                        let answer = Result { try worker.top(game, token: token).map(\.userId) }
                        reads.withLock { $0 += 1 }
                        switch (number.isMultiple(of: 2), answer) {
                        case (true, .success(let rows)) where rows == [user]: continue
                        case (false, .failure(ServiceError.unauthorized)): continue
                        default: wrong.withLock { $0.append("worker \(number): \(answer)") }
                        }
                    }
                }
            }
            done.wait()
            #expect(reads.withLock { $0 } == 400)
            #expect(wrong.withLock { $0 } == [])
        }
    }
}
