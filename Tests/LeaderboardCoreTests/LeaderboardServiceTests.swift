import Foundation
import LeaderboardTesting
import Testing

@testable import LeaderboardCore

/// The leaderboard's rules, over in-memory stores: what a submission answers, what boards, standings and
/// reports show. The Redis index is held to the same rules by the integration tests.
@Suite struct LeaderboardServiceTests {
    let scores = InMemoryScoreStore()
    let index = InMemoryRankingIndex()
    let service: LeaderboardService

    init() {
        service = LeaderboardService(scores: scores, index: index, games: FixedGameCatalog(), ephemeral: InMemoryEphemeralStore())
    }

    var today: UTCDay { UTCDay.today }

    /// Submits as player `userId` (named `player<id>`) and returns the applied answer.
    @discardableResult
    func submit(_ userId: Int, _ game: String, _ score: Int, key: String? = nil) throws -> SubmissionResult {
        let submission = try service.submit(userId: userId, name: "player\(userId)", game: game, score: score, idempotencyKey: key)
        guard case .applied(let result) = submission else {
            Issue.record("queued: \(submission)")
            throw CancellationError()
        }
        return result
    }

    func board(_ game: String, _ period: PeriodKind = .allTime, date: UTCDay? = nil) throws -> BoardPage {
        try service.page(game: game, period: period, date: date ?? today, start: 0, end: 99)
    }

    /// The field a refusal names, or nil when `body` was not refused as invalid input.
    func refusedField(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as ServiceError {
            return error.fieldErrors.first?.field
        } catch {
            return nil
        }
    }

    @Test func aPlayersEntryOnAGameBoardIsTheirBestScore() throws {
        #expect(try submit(1, "cod", 300) == SubmissionResult(game: "cod", score: 300, best: 300, improved: true, rank: 1, globalRank: 1))
        #expect(try submit(1, "cod", 200) == SubmissionResult(game: "cod", score: 200, best: 300, improved: false, rank: 1, globalRank: 1))
        #expect(try submit(1, "cod", 450).improved)
        #expect(try board("cod").result.map(\.score) == [450])
        #expect(scores.rows.count == 3, "every accepted submission is kept")
    }

    @Test func theGlobalBoardIsTheSumOfEachPlayersPerGameBests() throws {
        try submit(1, "cod", 100)
        try submit(1, "cod", 150)
        try submit(1, "cod", 120)
        try submit(1, "valrnt", 50)
        try submit(2, "valrnt", 180)
        let global = try board(BoardIndex.globalGame)
        #expect(global.result.map(\.userId) == [1, 2])
        #expect(global.result.map(\.score) == [200, 180])
        #expect(global.totalCount == 2)
    }

    @Test func aSubmissionAnswersItsRankOnTheGameAndGlobalBoards() throws {
        try submit(1, "cod", 500)
        try submit(2, "valrnt", 900)
        let answer = try submit(3, "cod", 400)
        #expect(answer.rank == 2)
        #expect(answer.globalRank == 3)
    }

    @Test func equalScoresShareARankAndTheNextRankSkips() throws {
        for (user, score) in [(1, 50), (2, 40), (3, 40), (4, 10)] { try submit(user, "cod", score) }
        let page = try board("cod")
        #expect(page.result.map(\.rank) == [1, 2, 2, 4])
        #expect(try service.position(userId: 4, game: "cod", period: .allTime, date: today, around: 1).rank == 4)
        #expect(try submit(5, "cod", 40).rank == 2)
    }

    @Test func aPageShowsItsRowsWithTheBoardsSize() throws {
        for user in 1...5 { try submit(user, "cod", user * 10) }
        let page = try service.page(game: "cod", period: .allTime, date: today, start: 1, end: 2)
        #expect(page.result.map(\.userId) == [4, 3])
        #expect(page.result.map(\.rank) == [2, 3])
        #expect(page.totalCount == 5)
    }

    @Test func aScoreIsOnTheBoardsOfTheDayWeekAndMonthItWasReachedIn() throws {
        let yesterday = today.adding(days: -1)
        scores.now = yesterday.epochSeconds + 3_600
        try submit(1, "cod", 700)
        scores.now = UTCDay.nowSeconds
        try submit(2, "cod", 300)
        #expect(try board("cod", .daily).result.map(\.userId) == [2])
        #expect(try board("cod", .daily, date: yesterday).result.map(\.userId) == [1])
        #expect(try board("cod", .allTime).result.map(\.userId) == [1, 2])
        let sameWeek = BoardPeriod(.weekly, containing: yesterday) == BoardPeriod(.weekly, containing: today)
        #expect(try board("cod", .weekly).result.map(\.userId) == (sameWeek ? [1, 2] : [2]))
        let sameMonth = BoardPeriod(.monthly, containing: yesterday) == BoardPeriod(.monthly, containing: today)
        #expect(try board("cod", .monthly).result.map(\.userId) == (sameMonth ? [1, 2] : [2]))
        #expect(try board("cod", .daily).result.first?.date == today.description)
    }

    @Test func aPeriodBoardRanksTheBestScoreReachedInsideThePeriod() throws {
        scores.now = today.adding(days: -1).epochSeconds
        try submit(1, "cod", 900)
        scores.now = UTCDay.nowSeconds
        try submit(1, "cod", 100)
        #expect(try board("cod", .daily).result.map(\.score) == [100])
        #expect(try board("cod", .allTime).result.map(\.score) == [900])
    }

    @Test func boardsOlderThanTheirRetentionAreRefused() {
        let old = today.adding(days: -(BoardPeriod.retentionDays + 40))
        #expect(refusedField { _ = try board("cod", .daily, date: old) } == "date")
        #expect(refusedField { _ = try board("cod", .allTime, date: old) } == nil)
    }

    @Test func aSubmissionWhileTheIndexIsDownIsStoredAndQueued() throws {
        index.isBuilt = false
        let submission = try service.submit(userId: 1, name: "player1", game: "cod", score: 640, idempotencyKey: nil)
        guard case .queued(let queued) = submission else {
            Issue.record("expected queued, got \(submission)")
            return
        }
        #expect(queued == QueuedSubmission(game: "cod", score: 640, queued: true))
        #expect(scores.rows.map(\.score.score) == [640], "stored in PostgreSQL for the reconciler to apply")
        index.isBuilt = true
        #expect(try board("cod").result.isEmpty)
    }

    @Test func aRetryWithTheSameIdempotencyKeyGetsTheFirstAnswerAndStoresNothingTwice() throws {
        let first = try submit(1, "cod", 500, key: "retry-1")
        try submit(2, "cod", 800)
        #expect(try submit(1, "cod", 500, key: "retry-1") == first)
        #expect(scores.rows.count == 2)
        #expect(try board("cod").result.map(\.score) == [800, 500])
    }

    /// A retry in the batch of its first submission (a client that retried at once) gets the first's answer, which the
    /// batch remembers with its others' for later retries.
    @Test func aRetryInTheBatchOfItsFirstGetsTheFirstAnswer() throws {
        let batch = [1, 1, 2].map { user in
            LeaderboardService.PendingScore(
                score: NewScore(userId: user, game: "cod", score: 500 + user, idempotencyKey: "same", tokenKey: nil), name: "player\(user)",
                today: today)
        }
        let answers = service.finish(batch, stored: service.store(batch)).map { try? $0.get() }
        guard case .applied(let first)? = answers[0], case .applied(let retry)? = answers[1], case .applied(let other)? = answers[2] else {
            Issue.record("answers: \(answers)")
            return
        }
        #expect(first.improved && retry == first)
        try submit(3, "cod", 900)
        #expect(try submit(1, "cod", 501, key: "same") == first, "remembered with the batch, though player3 has since passed")
        #expect(try submit(2, "cod", 502, key: "same") == other)
        #expect(scores.rows.count == 3)
    }

    /// A client retries a 202 with its key: the stored score is applied, answered as stored once, not as improving.
    @Test func aRetryOfAQueuedSubmissionOnceTheIndexIsBackGetsItsRanks() throws {
        index.isBuilt = false
        _ = try service.submit(userId: 1, name: "player1", game: "cod", score: 640, idempotencyKey: "after-202")
        index.isBuilt = true
        #expect(
            try submit(1, "cod", 640, key: "after-202")
                == SubmissionResult(game: "cod", score: 640, best: 640, improved: false, rank: 1, globalRank: 1))
        #expect(scores.rows.count == 1)
        #expect(try board("cod").result.map(\.score) == [640])
    }

    @Test func anIdempotencyKeyReusedForAnotherSubmissionIsRefused() throws {
        try submit(1, "cod", 500, key: "once")
        #expect(refusedField { try submit(1, "cod", 501, key: "once") } == "Idempotency-Key")
        #expect(refusedField { try submit(1, "valrnt", 500, key: "once") } == "Idempotency-Key")
        #expect(scores.rows.count == 1)
    }

    @Test func aReplayWhoseAnswerWasForgottenIsAnsweredFromTheIndexAsNotImproved() throws {
        let service = LeaderboardService(scores: scores, index: index, games: FixedGameCatalog(), ephemeral: InMemoryEphemeralStore())
        _ = try service.submit(userId: 1, name: "player1", game: "cod", score: 500, idempotencyKey: "k")
        // Another service's ephemeral store never saw the first answer.
        let replay = try self.service.submit(userId: 1, name: "player1", game: "cod", score: 500, idempotencyKey: "k")
        guard case .applied(let result) = replay else {
            Issue.record("queued: \(replay)")
            return
        }
        #expect(result == SubmissionResult(game: "cod", score: 500, best: 500, improved: false, rank: 1, globalRank: 1))
        #expect(scores.rows.count == 1)
    }

    @Test(arguments: [("cod", -1, "score"), ("cod", 1_000_000_001, "score"), ("nope", 1, "game"), ("all", 1, "game")])
    func anInvalidSubmissionIsRefusedAndNothingIsStored(game: String, score: Int, field: String) {
        #expect(refusedField { try submit(1, game, score) } == field)
        #expect(scores.rows.isEmpty)
    }

    @Test func anEmptyOrOverlongIdempotencyKeyIsRefused() {
        #expect(refusedField { try submit(1, "cod", 1, key: "") } == "Idempotency-Key")
        #expect(refusedField { try submit(1, "cod", 1, key: String(repeating: "k", count: 201)) } == "Idempotency-Key")
        #expect(scores.rows.isEmpty)
    }

    @Test func aStandingListsTheGlobalBoardFirstThenEveryGameThePlayerIsOn() throws {
        try submit(1, "valrnt", 70)
        try submit(2, "valrnt", 90)
        try submit(1, "cod", 30)
        let standing = try service.standing(userId: 1, period: .allTime, date: today)
        #expect(standing.player == "player1")
        #expect(standing.boards.map(\.game) == ["all", "cod", "valrnt"])
        #expect(standing.boards.map(\.rank) == [1, 1, 2])
        #expect(standing.boards.map(\.score) == [100, 30, 70])
    }

    @Test func aPlayerNotOnABoardHasNoPosition() throws {
        try submit(1, "cod", 30)
        #expect(throws: ServiceError.notFound("you are not ranked on this board yet")) {
            try service.position(userId: 2, game: "cod", period: .allTime, date: today, around: 2)
        }
        #expect(refusedField { _ = try service.position(userId: 1, game: "cod", period: .allTime, date: today, around: 51) } == "around")
    }

    @Test func aReportRanksPlayersByTheirBestSingleScoreWithSharedRanks() throws {
        try submit(1, "cod", 400)
        try submit(1, "valrnt", 300)
        try submit(2, "valrnt", 400)
        try submit(3, "cod", 100)
        let rows = try service.report(from: today.adding(days: -3), to: today, game: BoardIndex.globalGame, limit: 10, today: today)
        #expect(rows.map(\.userId) == [1, 2, 3])
        #expect(rows.map(\.rank) == [1, 1, 3])
        #expect(rows.map(\.score) == [400, 400, 100])
        #expect(rows.map(\.games) == [2, 1, 1])
        #expect(rows[2].gameLabel == "Call of Duty")
        #expect(rows[0].date == today.description)
    }

    /// A report older than the boards kept is made from PostgreSQL, from every score of its range, and anyone may ask
    /// for one: past the process's slots for them, another is refused at once rather than take another worker.
    @Test func reportsMadeFromPostgreSQLAtOnceAreBounded() throws {
        let held = HeldFirstCall()
        let slots = LeaderboardService.postgresReportSlots(1)
        // Two workers' services, sharing the process's slots.
        @Sendable func worker() -> LeaderboardService {
            LeaderboardService(
                scores: HeldReports(held: held), index: InMemoryRankingIndex(), games: FixedGameCatalog(), ephemeral: InMemoryEphemeralStore(),
                postgresReports: slots)
        }
        let (today, from, to) = (today, today.adding(days: -700), today.adding(days: -600))
        let first = Locked<Result<[ReportRow], any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let rows = Result { try worker().report(from: from, to: to, game: "cod", limit: 10, today: today) }
            first.withLock { $0 = rows }
            done.signal()
        }
        #expect(held.waitUntilStarted())
        let service = worker()
        #expect(throws: ServiceError.unavailable("too many reports are being made from the score history right now; retry shortly")) {
            try service.report(from: from, to: to, game: "cod", limit: 10, today: today)
        }
        held.release()
        #expect(done.wait(timeout: .now() + SharedRoundTripTests.bound) == .success)
        #expect(try first.withLock { $0 }?.get().isEmpty == true)
        #expect(try service.report(from: from, to: to, game: "cod", limit: 10, today: today).isEmpty, "the slot is free again")
    }
}

/// No scores; a report from them is held in `held` (the first one).
private struct HeldReports: ScoreStore {
    let held: HeldFirstCall
    func insert(_ submissions: [NewScore], perMinute: Int) throws -> [Insertion] { [] }
    func history(userId: Int, game: String?, before: Int?, limit: Int) throws -> [ScoreEntry] { [] }
    func gamesPlayed(userIds: [Int], from: Int, to: Int) throws -> [Int: Int] { [:] }
    func topPlayers(from: Int, to: Int, games: [String], ascending: Bool, limit: Int) throws -> [TopScore] {
        held.call()
        return []
    }
    func pending(after id: Int, limit: Int) throws -> [(id: Int, isRipe: Bool)] { [] }
    func scores(ids: [Int]) throws -> [BoardIndex.Score] { [] }
}
