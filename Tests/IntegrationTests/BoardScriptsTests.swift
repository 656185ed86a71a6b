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
                    expected.insert(RedisKeys.generationPrefix(5) + RedisKeys.whensPart + board)
                    expected.insert(RedisKeys.boardVersion(game: game, period: period.key))
                    if game == "xp" { expected.insert(RedisKeys.generationPrefix(5) + RedisKeys.entryIdsPart + board) }
                }
            }
            let keys = try redis.command(["KEYS", "*"]).array?.compactMap(\.string) ?? []
            #expect(Set(keys) == expected)
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
