import Foundation
import Testing

@testable import LeaderboardCore

/// The board scripts against a Redis of the test's own: the keys they write are the ones `RedisKeys` names, and
/// without a generation every one of them answers that the index is not built.
@Suite struct BoardScriptsTests {
    func withPrivateRedis(_ body: (RedisConnection) throws -> Void) throws {
        let server = try PrivateRedis()
        defer { server.stop() }
        try body(RedisConnection(settings: try RedisSettings(url: "unix://\(server.socketPath)")))
    }

    func isNotBuilt(_ body: () throws -> Void) -> Bool {
        do {
            try body()
            return false
        } catch IndexError.notBuilt {
            return true
        } catch {
            return false
        }
    }

    @Test func theKeysAnApplyAndAPageWriteAreTheOnesRedisKeysNames() throws {
        try withPrivateRedis { redis in
            try redis.command(["SET", RedisKeys.generation, "5"])
            let index = BoardIndex(redis: redis)
            let day = UTCDay.today
            let score = BoardIndex.Score(id: 3, userId: 9, name: "Ann", game: "cod", score: 40, epochSeconds: day.epochSeconds)
            _ = try index.apply(score, today: day)
            _ = try index.page(game: "cod", period: .allTime, start: 0, stop: 9)
            // A name that changes moves the names' version.
            _ = try index.apply(BoardIndex.Score(id: 4, userId: 9, name: "Anna", game: "cod", score: 41, epochSeconds: day.epochSeconds), today: day)
            // A game whose boards keep each entry's score id.
            let xp = Ranking(order: .desc, rule: .sum, tieBreak: .earliest, inGlobal: true)
            _ = try index.apply(
                BoardIndex.Score(id: 5, userId: 9, name: "Anna", game: "xp", score: 7, epochSeconds: day.epochSeconds, ranking: xp), today: day)

            var expected: Set<String> = [
                RedisKeys.generation, RedisKeys.versionCounter, RedisKeys.namesVersion,
                RedisKeys.generationPrefix(5) + RedisKeys.namesPart, RedisKeys.appliedShard(0, generation: 5),
                RedisKeys.generationPrefix(5) + RedisKeys.gamesPart,
            ]
            for period in BoardPeriod.all(containing: day) {
                for game in ["cod", "xp", BoardIndex.globalGame] {
                    let board = game + ":" + period.key
                    expected.insert(RedisKeys.generationPrefix(5) + RedisKeys.boardPart + board)
                    // A day board keeps no dates: its entries were all reached on its day.
                    if period.keepsDates { expected.insert(RedisKeys.generationPrefix(5) + RedisKeys.whensPart + board) }
                    expected.insert(RedisKeys.boardVersion(game: game, period: period.key))
                    if game == "xp" { expected.insert(RedisKeys.generationPrefix(5) + RedisKeys.entryIdsPart + board) }
                }
            }
            let keys = try redis.command(["KEYS", "*"]).array?.compactMap(\.string) ?? []
            #expect(Set(keys) == expected)
        }
    }

    /// A day board keeps no dates: the scripts count its day from its key (`datesOf`), as `UTCDay` counts it, on
    /// every kind of day: around leap days, the turn of a year and of a century (2100 is no leap year).
    @Test func aDayBoardsDayIsCountedFromItsKeyAsUTCDayCountsIt() throws {
        try withPrivateRedis { redis in
            let script = """
                local p = ''
                \(BoardScripts.entryFunctions)
                local days = {}
                for i, board in ipairs(ARGV) do days[i] = datesOf(board).day end
                return days
                """
            let start = try #require(UTCDay(iso: "1970-01-01"))
            let days =
                stride(from: 0, through: 65_000, by: 7).map { start.adding(days: $0) }
                + ["2000-02-28", "2000-02-29", "2000-03-01", "2024-02-29", "2024-12-31", "2025-01-01", "2100-02-28", "2100-03-01"].compactMap {
                    UTCDay(iso: $0)
                }
            let reply = try redis.command(["EVAL", script, "0"] + days.map { "cod:" + BoardPeriod(.daily, containing: $0).key })
            #expect(reply.array?.compactMap(\.int) == days.map(\.daysSinceEpoch))
            let weekly = try redis.command(["EVAL", script, "0", "cod:" + BoardPeriod(.weekly, containing: start).key])
            #expect(weekly.array?.isEmpty == true, "a week's board keeps its dates")
        }
    }

    /// Dates are packed in buckets of user ids (`BoardScripts.whenFunctions`): players who share a bucket, or sit on
    /// either side of a bucket's edge, each keep their own day through an apply, a late equal score from an earlier
    /// day, and another player's removal.
    @Test func playersSharingADateBucketEachKeepTheirOwnDay() throws {
        try withPrivateRedis { redis in
            try redis.command(["SET", RedisKeys.generation, "5"])
            let index = BoardIndex(redis: redis)
            let today = UTCDay.today
            let width = BoardIndex.whenBucketWidth
            let users = [width - 1, width, width + 1, width + 2, 2 * width - 1, 2 * width]
            var expected: [Int: String] = [:]
            for (offset, user) in users.enumerated() {
                let day = today.adding(days: -offset)
                let score = BoardIndex.Score(
                    id: 10 + offset, userId: user, name: "P\(user)", game: "cod", score: 100, epochSeconds: day.epochSeconds + 3_600)
                _ = try index.apply(score, today: today)
                expected[user] = day.description
            }
            func dates() throws -> [Int: String] {
                let rows = try index.page(game: "cod", period: .allTime, start: 0, stop: 99).rows
                return Dictionary(uniqueKeysWithValues: rows.map { ($0.userId, $0.date) })
            }
            #expect(try dates() == expected)
            // An equal best from an earlier day, applied late, moves that player's date back, and only theirs.
            let earlier = today.adding(days: -30)
            let late = BoardIndex.Score(id: 5, userId: width + 1, name: "P\(width + 1)", game: "cod", score: 100, epochSeconds: earlier.epochSeconds)
            _ = try index.apply(late, today: today)
            expected[width + 1] = earlier.description
            #expect(try dates() == expected)
            #expect(try index.standing(userId: width + 1, period: .allTime, games: ["cod"]).boards.first?.date == earlier.description)
            // Taking a player off the board leaves the others in their bucket as they were.
            try index.replaceEntries(
                userId: width, name: "P\(width)", scoreIds: [],
                entries: [BoardIndex.ReplacedEntry(game: "cod", ranking: .standard, period: .allTime, entry: nil)])
            expected[width] = nil
            #expect(try dates() == expected)
        }
    }

    /// Every write to a listpack scans its members, so a board a player joins is made a skiplist however small
    /// (`BoardScripts.skiplistMemberBytes`), with nothing but its players on it. Once its period has closed, the
    /// reconciler's compaction makes it a listpack again, holding the same entries until the same expiry in less
    /// memory; a day already done is not done again, and the all-time boards, never closed, are left as they are.
    @Test func aBoardIsASkiplistWhileWrittenAndCompactOnceItsPeriodHasClosed() throws {
        try withPrivateRedis { redis in
            try redis.command(["SET", RedisKeys.generation, "5"])
            let index = BoardIndex(redis: redis)
            let day = UTCDay.today.adding(days: -3)
            func join(_ user: Int) throws {
                let score = BoardIndex.Score(id: user, userId: user, name: "P\(user)", game: "cod", score: 10 * user, epochSeconds: day.epochSeconds)
                _ = try index.apply(score, today: day)
            }
            for user in 1...3 { try join(user) }
            func keys(of periods: [BoardPeriod]) -> [String] {
                periods.flatMap { period in ["cod", BoardIndex.globalGame].map { "lb:5:b:\($0):\(period.key)" } }
            }
            let boards = keys(of: BoardPeriod.all(containing: day))
            let closed = keys(of: BoardPeriod.all(containing: day).filter { $0.days?.upperBound == day })
            func encoding(_ key: String) throws -> String? { try redis.command(["OBJECT", "ENCODING", key]).string }
            func entries(_ key: String) throws -> [String] {
                try redis.command(["ZRANGE", key, "0", "-1", "WITHSCORES"]).array?.compactMap(\.string) ?? []
            }
            func bytes(_ key: String) throws -> Int { try #require(try redis.command(["MEMORY", "USAGE", key]).int) }
            for board in boards {
                #expect(try encoding(board) == "skiplist", "\(board)")
                #expect(try entries(board) == ["1", "10", "2", "20", "3", "30"], "\(board)")
            }
            let before = try closed.map { board in
                (entries: try entries(board), expiry: try redis.command(["PEXPIRETIME", board]).int, bytes: try bytes(board))
            }

            #expect(try index.compactClosedBoards(generation: 5, today: day.adding(days: 1)) == closed.count)
            for (board, before) in zip(closed, before) {
                #expect(try encoding(board) == "listpack", "\(board)")
                #expect(try entries(board) == before.entries, "\(board)")
                #expect(try redis.command(["PEXPIRETIME", board]).int == before.expiry, "\(board)")
                #expect(try bytes(board) < before.bytes, "\(board)")
            }
            for board in boards where !closed.contains(board) { #expect(try encoding(board) == "skiplist", "\(board)") }
            #expect(try index.compactClosedBoards(generation: 5, today: day.adding(days: 1)) == 0, "that day is done")

            // A player joining a compact board (a board loaded from disk is compact too) makes it a skiplist again.
            try join(4)
            for board in closed {
                #expect(try encoding(board) == "skiplist", "\(board)")
                #expect(try redis.command(["ZCARD", board]).int == 4, "\(board)")
            }
        }
    }

    /// A report's ties go to the lowest user ids, as PostgreSQL's report has them, though a board orders equal scores
    /// by member (user ids as text, highest first from the top): players tied with a board's last row read count too.
    @Test func aReportsTiesAtItsCutGoToTheLowestUserIds() throws {
        try withPrivateRedis { redis in
            try redis.command(["SET", RedisKeys.generation, "5"])
            let index = BoardIndex(redis: redis)
            let day = UTCDay.today
            for (id, user) in [10, 11, 12, 9].enumerated() {
                let score = BoardIndex.Score(id: id + 1, userId: user, name: "P\(user)", game: "cod", score: 300, epochSeconds: day.epochSeconds)
                _ = try index.apply(score, today: day)
            }
            _ = try index.apply(
                BoardIndex.Score(id: 5, userId: 12, name: "P12", game: "cod", score: 500, epochSeconds: day.epochSeconds), today: day)
            #expect(try index.top(limit: 1, of: [("cod", .allTime)])?.map(\.userId) == [12])
            #expect(try index.top(limit: 2, of: [("cod", .allTime)])?.map(\.userId) == [12, 9])
            #expect(try index.top(limit: 3, of: [("cod", .allTime), ("cod", BoardPeriod(.daily, containing: day))])?.map(\.userId) == [12, 9, 10])
        }
    }

    /// Too many players tied at a board's cut to read them all in Redis: nil, and PostgreSQL makes the report.
    @Test func aReportWithTooManyTiesAtItsCutIsLeftToPostgreSQL() throws {
        try withPrivateRedis { redis in
            try redis.command(["SET", RedisKeys.generation, "5"])
            let ties = BoardIndex.reportTiesRead + 1
            try redis.command(["ZADD", "lb:5:b:cod:all"] + (1...ties).flatMap { ["300", String($0)] })
            let index = BoardIndex(redis: redis)
            #expect(try index.top(limit: 3, of: [("cod", .allTime)]) == nil)
            try redis.command(["ZREM", "lb:5:b:cod:all", "1"])
            #expect(try index.top(limit: 3, of: [("cod", .allTime)])?.map(\.userId) == [2, 3, 4], "all the tied read: the lowest ids")
        }
    }

    @Test func withoutAGenerationEveryScriptAnswersNotBuilt() throws {
        try withPrivateRedis { redis in
            let index = BoardIndex(redis: redis)
            let score = BoardIndex.Score(id: 1, userId: 1, name: "Bo", game: "cod", score: 1, epochSeconds: UTCDay.nowSeconds)
            #expect(isNotBuilt { _ = try index.apply(score, today: .today) })
            #expect(isNotBuilt { _ = try index.page(game: "cod", period: .allTime, start: 0, stop: 9) })
            #expect(isNotBuilt { _ = try index.around(userId: 1, game: "cod", period: .allTime, radius: 1) })
            #expect(isNotBuilt { _ = try index.standing(userId: 1, period: .allTime, games: ["all", "cod"]) })
            #expect(isNotBuilt { _ = try index.top(limit: 5, of: [("cod", .allTime)]) })
            let keys = try redis.command(["KEYS", "*"]).array
            #expect(keys?.isEmpty == true, "nothing was written")
        }
    }
}
