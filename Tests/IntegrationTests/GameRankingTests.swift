import Foundation
import Testing

@testable import LeaderboardCore

/// Each game setting on the boards, through the scripts, against a Redis of the test's own. (The property test
/// checks random submissions against a model; these name one rule each.)
@Suite struct GameRankingTests {
    let day = UTCDay.today

    func withIndex(_ body: (BoardIndex) throws -> Void) throws {
        let server = try PrivateRedis()
        defer { server.stop() }
        let redis = RedisConnection(settings: try RedisSettings(url: "unix://\(server.socketPath)"))
        try redis.command(["SET", RedisKeys.generation, "1"])
        try body(BoardIndex(redis: redis))
    }

    func score(_ id: Int, user: Int, _ game: String, _ value: Int, _ ranking: Ranking) -> BoardIndex.Score {
        BoardIndex.Score(id: id, userId: user, name: "P\(user)", game: game, score: value, epochSeconds: day.epochSeconds, ranking: ranking)
    }

    func board(_ index: BoardIndex, _ game: String, period: BoardPeriod = .allTime) throws -> [String] {
        try index.page(game: game, period: period, start: 0, stop: 99).rows.map { "\($0.rank):\($0.userId)=\($0.score)" }
    }

    @Test func anAscendingEarliestBoardRanksTheLowestFirstAndTiesByWhoReachedItFirst() throws {
        let race = Ranking(order: .asc, rule: .best, tieBreak: .earliest, inGlobal: false)
        try withIndex { index in
            // Applied out of id order: user 3 reached 61_000 (id 4) before user 2 did (id 6).
            for applied in [
                score(6, user: 2, "race", 61_000, race), score(5, user: 1, "race", 59_500, race), score(4, user: 3, "race", 61_000, race),
            ] {
                _ = try index.apply(applied, today: day)
            }
            // A slower lap changes nothing; an equal one with a lower id (a late reconcile) moves the tie.
            _ = try index.apply(score(7, user: 1, "race", 70_000, race), today: day)
            #expect(try board(index, "race") == ["1:1=59500", "2:3=61000", "3:2=61000"])
            _ = try index.apply(score(2, user: 2, "race", 61_000, race), today: day)
            #expect(try board(index, "race") == ["1:1=59500", "2:2=61000", "3:3=61000"])
            #expect(try index.around(userId: 3, game: "race", period: .allTime, radius: 0)?.rank == 3)
            #expect(try index.standing(userId: 2, period: .allTime, games: ["race"]).boards.map(\.rank) == [2])
            #expect(try board(index, BoardIndex.globalGame).isEmpty, "not in the global board")
        }
    }

    @Test func aLatestBoardKeepsTheHighestScoreIdWhateverTheOrderOfApplying() throws {
        let last = Ranking(order: .desc, rule: .latest, tieBreak: .shared, inGlobal: true)
        try withIndex { index in
            _ = try index.apply(score(10, user: 1, "last", 300, last), today: day)
            let older = try index.apply(score(9, user: 1, "last", 900, last), today: day)
            #expect(older.best == 300 && !older.improved)
            #expect(try board(index, "last") == ["1:1=300"])
            _ = try index.apply(score(11, user: 1, "last", 100, last), today: day)
            #expect(try board(index, "last") == ["1:1=100"])
            #expect(try board(index, BoardIndex.globalGame) == ["1:1=100"], "the global board follows the entry down")
        }
    }

    @Test func aSumCountsEachScoreOnceHoweverOftenItIsApplied() throws {
        let xp = Ranking(order: .desc, rule: .sum, tieBreak: .shared, inGlobal: true)
        try withIndex { index in
            let scores = [score(1, user: 1, "xp", 40, xp), score(2, user: 1, "xp", -15, xp), score(3, user: 2, "xp", 20, xp)]
            for outcome in try index.apply(scores + scores.reversed(), today: day) { _ = try outcome.get() }
            #expect(try board(index, "xp") == ["1:1=25", "2:2=20"])
            #expect(try board(index, "xp", period: BoardPeriod(.daily, containing: day)) == ["1:1=25", "2:2=20"])
            #expect(try board(index, BoardIndex.globalGame) == ["1:1=25", "2:2=20"])
        }
    }

    /// Every allowed score is a whole number of at most 53 bits, which a double holds exactly: the extremes come
    /// back as they went in, and ranks between neighbours at the top of the range stay apart.
    @Test func theBoundsOfTheRangeAreExact() throws {
        let wide = Ranking(order: .desc, rule: .best, tieBreak: .earliest, inGlobal: false)
        let largest = Game.largestBound
        try withIndex { index in
            _ = try index.apply(score(1, user: 1, "wide", largest, wide), today: day)
            _ = try index.apply(score(2, user: 2, "wide", largest - 1, wide), today: day)
            _ = try index.apply(score(3, user: 3, "wide", -largest, wide), today: day)
            #expect(try board(index, "wide") == ["1:1=\(largest)", "2:2=\(largest - 1)", "3:3=\(-largest)"])
            let top = try index.top(limit: 2, of: [("wide", .allTime)])
            #expect(top?.map(\.score) == [largest, largest - 1])
        }
    }
}
