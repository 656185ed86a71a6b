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
