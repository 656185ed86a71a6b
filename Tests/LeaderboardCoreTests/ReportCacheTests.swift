import Foundation
import LeaderboardTesting
import Testing

@testable import LeaderboardCore

@Suite struct ReportCacheTests {
    static let today = UTCDay(iso: "2026-11-20")!
    static let games = FixedGameCatalog().list

    static func report(_ name: String) -> RenderedReport {
        RenderedReport([ReportRow(rank: 1, userId: 1, name: name, score: 10, game: "cod", gameLabel: "Call of Duty", date: "2026-11-20", games: 1)])
    }

    static func key(days: Int = 30, game: String = "all", limit: Int = 10) -> ReportCache.Key {
        ReportCache.Key(game: game, from: today.adding(days: 1 - days), to: today, limit: limit)
    }

    static let stamp = ReportStamp(generation: "3", names: nil, boards: ["1764374400000001-7", "1764374400000001-8"])

    @Test func aReportIsServedOnlyAtTheStampAndWithTheGamesItWasMadeWith() {
        let cache = ReportCache()
        cache.insert(Self.report("Ann"), at: Self.stamp, games: Self.games, for: Self.key())
        #expect(cache.report(for: Self.key(), at: Self.stamp, games: Self.games)?.result.first?.name == "Ann")
        for later in [
            ReportStamp(generation: "4", names: nil, boards: Self.stamp.boards),
            ReportStamp(generation: "3", names: "1764374400000003-9", boards: Self.stamp.boards),
            ReportStamp(generation: "3", names: nil, boards: ["1764374400000001-7", "1764374400000002-9"]),
            ReportStamp(generation: "3", names: nil, boards: ["1764374400000001-7", nil]),
            ReportStamp(generation: "3", names: nil, boards: ["1764374400000001-7"]),
        ] {
            #expect(cache.report(for: Self.key(), at: later, games: Self.games) == nil)
        }
        var renamed = Self.games
        renamed[0].label = "Renamed"
        #expect(cache.report(for: Self.key(), at: Self.stamp, games: renamed) == nil, "another label")
        var moved = Self.games
        moved[1].inGlobal.toggle()
        #expect(cache.report(for: Self.key(), at: Self.stamp, games: moved) == nil, "another set of games in the global board")
    }

    @Test func eachRangeGameAndLimitIsAReportOfItsOwn() {
        let cache = ReportCache()
        cache.insert(Self.report("Ann"), at: Self.stamp, games: Self.games, for: Self.key())
        for other in [Self.key(days: 7), Self.key(game: "cod"), Self.key(limit: 11)] {
            #expect(cache.report(for: other, at: Self.stamp, games: Self.games) == nil)
        }
    }

    @Test func aStampIsCompleteOnlyWhenEveryBoardHasAVersion() {
        #expect(Self.stamp.isComplete)
        #expect(!ReportStamp(generation: "3", names: nil, boards: ["1764374400000001-7", nil]).isComplete)
        #expect(ReportStamp(generation: "3", names: nil, boards: []).isComplete)
    }

    @Test func reportsInDemandStayAndTheCacheStaysBounded() {
        let cache = ReportCache(generationSize: 4)
        cache.insert(Self.report("Ann"), at: Self.stamp, games: Self.games, for: Self.key())
        for limit in 11...30 {
            cache.insert(Self.report("Bo"), at: Self.stamp, games: Self.games, for: Self.key(limit: limit))
            #expect(cache.report(for: Self.key(), at: Self.stamp, games: Self.games) != nil, "the report read all along stays")
        }
        let kept = (10...30).filter { cache.report(for: Self.key(limit: $0), at: Self.stamp, games: Self.games) != nil }
        #expect(kept.count <= 8)
    }

    /// The service with a cache: the second read of a report is the kept one; a score that changes a board it reads
    /// makes the next read a new one.
    @Test func theServiceServesAKeptReportUntilABoardItReadsChanges() throws {
        let index = InMemoryRankingIndex()
        let service = LeaderboardService(
            scores: InMemoryScoreStore(), index: index, games: FixedGameCatalog(), ephemeral: InMemoryEphemeralStore(), reports: ReportCache())
        let today = UTCDay.today
        func read() throws -> RenderedReport {
            try service.renderedReport(from: today.adding(days: -29), to: today, game: "all", limit: 10, today: today)
        }
        _ = try service.submit(userId: 1, name: "Ann", game: "cod", score: 100, idempotencyKey: nil)
        let first = try read()
        #expect(first.result.map(\.userId) == [1])
        #expect(try read().json == first.json)
        _ = try service.submit(userId: 2, name: "Bo", game: "valrnt", score: 200, idempotencyKey: nil)
        #expect(try read().result.map(\.userId) == [2, 1])
    }

    /// Readers that miss while the same report is being made (at the same stamp) wait for it rather than make it too.
    @Test func readersOfAReportBeingMadeShareIt() throws {
        let shared = ServiceReadOnThreads()
        let today = UTCDay.today
        let read: @Sendable () throws -> RenderedReport = {
            try shared.service.renderedReport(from: today.adding(days: -29), to: today, game: "all", limit: 10, today: today)
        }
        _ = try shared.service.submit(userId: 1, name: "Ann", game: "cod", score: 100, idempotencyKey: nil)
        _ = try read()
        // A change to a board the report reads: the next reads miss, at one complete stamp.
        _ = try shared.service.submit(userId: 2, name: "Bo", game: "valrnt", score: 200, idempotencyKey: nil)
        let held = HeldFirstCall()
        shared.index.whileReadingTop = held.call
        let reports = try held.callers(
            3, waitingFor: { shared.reports.making.waitingCount }, calling: { (try? read())?.result.map(\.userId) ?? [] })
        #expect(held.calls.withLock { $0 } == 1)
        #expect(reports == [[2, 1], [2, 1], [2, 1]])
    }
}
