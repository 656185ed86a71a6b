import Foundation
import LeaderboardCore
import Testing

/// The model itself on small cases worked out by hand, so a difference the property test finds is the engine's.
/// No store needed.
@Suite struct RankingModelExampleTests {
    typealias Model = RankingModel

    static func game(_ slug: String, _ order: ScoreOrder, _ rule: ScoreRule, _ tieBreak: TieBreak, inGlobal: Bool) -> Model.GameSettings {
        Model.GameSettings(slug: slug, order: order, rule: rule, tieBreak: tieBreak, inGlobal: inGlobal, minScore: -1000, maxScore: 1000)
    }

    /// Microseconds since the epoch of a UTC date-time.
    static func at(_ text: String) -> Int {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return Int((formatter.date(from: text)!.timeIntervalSince1970 * 1_000).rounded()) * 1_000
    }

    static func model(_ games: [Model.GameSettings], _ scores: [(user: Int, game: String, score: Int, at: String)]) -> Model {
        Model(
            games: games,
            submissions: scores.enumerated().map { index, score in
                Model.Submission(id: index + 1, userId: score.user, game: score.game, score: score.score, microseconds: at(score.at))
            })
    }

    @Test func periodsAreTheUTCDayTheISOWeekFromMondayAndTheMonth() {
        #expect(
            Model.periods(ofMicroseconds: Self.at("2026-01-01T12:00:00.000Z")) == [
                .allTime, Model.Period(kind: .daily, firstDay: "2026-01-01"), Model.Period(kind: .weekly, firstDay: "2025-12-29"),
                Model.Period(kind: .monthly, firstDay: "2026-01-01"),
            ])
        // A Sunday's week began on the Monday before; the last millisecond of a day is still that day.
        #expect(
            Model.periods(ofMicroseconds: Self.at("2026-03-01T23:59:59.999Z"))[1...] == [
                Model.Period(kind: .daily, firstDay: "2026-03-01"), Model.Period(kind: .weekly, firstDay: "2026-02-23"),
                Model.Period(kind: .monthly, firstDay: "2026-03-01"),
            ])
    }

    @Test func eachRuleAndTieBreakRanksAsDesigned() {
        let games = [
            Self.game("best", .desc, .best, .shared, inGlobal: true), Self.game("race", .asc, .best, .earliest, inGlobal: false),
            Self.game("last", .desc, .latest, .earliest, inGlobal: true), Self.game("xp", .desc, .sum, .shared, inGlobal: false),
        ]
        let model = Self.model(
            games,
            [
                (1, "best", 100, "2026-02-01T10:00:00.000Z"), (2, "best", 90, "2026-02-01T11:00:00.000Z"),
                (3, "best", 90, "2026-02-02T10:00:00.000Z"), (4, "best", 80, "2026-02-02T11:00:00.000Z"),
                (2, "race", 500, "2026-02-01T10:00:00.000Z"), (1, "race", 500, "2026-02-01T12:00:00.000Z"),
                (3, "race", 700, "2026-02-01T13:00:00.000Z"), (2, "race", 400, "2026-02-02T09:00:00.000Z"),
                (1, "last", 50, "2026-02-01T10:00:00.000Z"), (2, "last", 10, "2026-02-01T10:30:00.000Z"),
                (1, "last", 10, "2026-02-01T11:00:00.000Z"),
                (1, "xp", 5, "2026-02-01T10:00:00.000Z"), (1, "xp", -7, "2026-02-02T10:00:00.000Z"), (2, "xp", -2, "2026-02-01T10:00:00.000Z"),
            ])
        let allTime = Model.Period.allTime
        let feb1 = Model.Period(kind: .daily, firstDay: "2026-02-01")
        #expect(
            model.board("best", period: allTime) == [
                .init(rank: 1, userId: 1, score: 100, day: "2026-02-01"), .init(rank: 2, userId: 2, score: 90, day: "2026-02-01"),
                .init(rank: 2, userId: 3, score: 90, day: "2026-02-02"), .init(rank: 4, userId: 4, score: 80, day: "2026-02-02"),
            ])
        // Lowest first; player 2 reached 500 before player 1, then beat it on the 2nd.
        #expect(model.board("race", period: feb1).map { [$0.rank, $0.userId, $0.score] } == [[1, 2, 500], [2, 1, 500], [3, 3, 700]])
        #expect(model.board("race", period: allTime).map { [$0.rank, $0.userId, $0.score] } == [[1, 2, 400], [2, 1, 500], [3, 3, 700]])
        // Both end on 10: player 2 got there first (a lower score id), though player 1 started first.
        #expect(model.board("last", period: allTime).map { [$0.rank, $0.userId, $0.score] } == [[1, 2, 10], [2, 1, 10]])
        #expect(model.board("xp", period: allTime).map { [$0.rank, $0.userId, $0.score] } == [[1, 1, -2], [1, 2, -2]])
        #expect(model.board("xp", period: feb1).map { [$0.rank, $0.userId, $0.score] } == [[1, 1, 5], [2, 2, -2]])
        // The global board sums the entries of `best` and `last` only, and is dated by the latest entry.
        #expect(
            model.board(Model.globalGame, period: allTime) == [
                .init(rank: 1, userId: 1, score: 110, day: "2026-02-01"), .init(rank: 2, userId: 2, score: 100, day: "2026-02-01"),
                .init(rank: 3, userId: 3, score: 90, day: "2026-02-02"), .init(rank: 4, userId: 4, score: 80, day: "2026-02-02"),
            ])
    }

    @Test func aReportRanksBestSingleScoresInTheGamesOrderWithinTheDays() {
        let games = [Self.game("best", .desc, .best, .shared, inGlobal: true), Self.game("race", .asc, .best, .earliest, inGlobal: false)]
        let model = Self.model(
            games,
            [
                (1, "best", 100, "2026-02-01T10:00:00.000Z"), (2, "best", 300, "2026-02-03T10:00:00.000Z"),
                (2, "race", 50, "2026-02-01T10:00:00.000Z"), (1, "race", 40, "2026-02-02T23:59:59.999Z"), (3, "race", 45, "2026-02-03T00:00:00.000Z"),
            ])
        #expect(
            model.report(from: "2026-02-01", to: "2026-02-02", game: "race").map { [$0.rank, $0.userId, $0.score, $0.gamesPlayed] } == [
                [1, 1, 40, 2], [2, 2, 50, 1],
            ])
        #expect(model.report(from: "2026-02-01", to: "2026-02-02", game: "race").first?.places == ["race 2026-02-02"])
        // `all` covers the global games only: the race times do not count.
        #expect(
            model.report(from: "2026-02-01", to: "2026-02-03", game: Model.globalGame).map { [$0.rank, $0.userId, $0.score] } == [
                [1, 2, 300], [2, 1, 100],
            ])
    }
}
