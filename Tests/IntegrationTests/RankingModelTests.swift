import Foundation
import LeaderboardCore
import Logging
import Testing

/// The ranking engine against `RankingModel` (issue 20, "Tests"): games of every (order, rule, tieBreak), in and
/// out of the global board, random scores across day, ISO week and month boundaries applied in random order
/// and each twice, then every board, rank, standing and report compared with the model's recomputation; again
/// after a rebuild from PostgreSQL, after replaying scores the rebuild already holds, and after the reconciler
/// applied scores stored since.
///
/// Runs in a world of its own (`PrivateStores`), so the global board and reports hold only its players.
/// `MODEL_SEED` replays a run; every run prints its seed.
@Suite struct RankingModelTests {
    static let largestBound = 9_007_199_254_740_991
    static let playerCount = 24
    static let scoreCount = 480

    /// Every (order, rule, tieBreak); `desc` games both in and out of the global board (`asc` never is).
    /// Best and latest games out of the global board reach the largest bounds (±(2^53 - 1)); sums and global
    /// totals stay far inside them, where every total is exact.
    static let games: [RankingModel.GameSettings] = ScoreOrder.allCases.flatMap { order in
        ScoreRule.allCases.flatMap { rule in
            TieBreak.allCases.flatMap { tieBreak in
                (order == .desc ? [true, false] : [false]).map { inGlobal in
                    let (minScore, maxScore) =
                        switch (inGlobal, rule) {
                        case (true, .best) where tieBreak == .shared: (0, 1_000_000_000)
                        case (true, _): (-(1 << 40), 1 << 40)
                        case (false, .sum): (-(1 << 44), 1 << 44)
                        case (false, _): (-RankingModelTests.largestBound, RankingModelTests.largestBound)
                        }
                    return RankingModel.GameSettings(
                        slug: "\(order.rawValue)-\(rule.rawValue)-\(tieBreak.rawValue)-\(inGlobal ? "global" : "alone")", order: order, rule: rule,
                        tieBreak: tieBreak, inGlobal: inGlobal, minScore: minScore, maxScore: maxScore)
                }
            }
        }
    }

    @Test func everyBoardRankStandingAndReportEqualsTheModelAppliedTwiceInAnyOrderAndAfterARebuild() throws {
        let seed = ProcessInfo.processInfo.environment["MODEL_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        print("RankingModelTests: seed \(seed) (MODEL_SEED=\(seed) replays this run)")
        var random = SeededGenerator(seed: seed)
        let stores = try PrivateStores()
        defer { stores.remove() }

        for game in Self.games { try stores.insert(game) }
        var names: [Int: String] = [:]
        for number in 0..<Self.playerCount {
            let name = number == 7 ? "Zoë \(number)" : "Player \(number)"
            names[try stores.makePlayer(name)] = name
        }
        // An index generation to apply into, built while PostgreSQL holds no score yet.
        try stores.rebuild()

        let (instants, span) = Self.randomInstants(count: Self.scoreCount, using: &random)
        let players = names.keys.sorted()
        let submissions = try store(instants, players: players, in: stores, using: &random)
        let check = ModelCheck(model: RankingModel(games: Self.games, submissions: submissions), service: stores.service, names: names, span: span)

        let scores = try PostgresScoreStore(database: stores.database).scores(ids: submissions.map(\.id))
        #expect(scores.count == submissions.count)
        try apply((scores + scores).shuffled(using: &random), to: stores, using: &random)
        try check.run(phase: "each score applied twice, in random order", seed: seed, using: &random)

        try stores.rebuild()
        try check.run(phase: "after a rebuild from PostgreSQL", seed: seed, using: &random)

        let replayed = scores.shuffled(using: &random).prefix(scores.count / 2)
        try apply(Array(replayed), to: stores, using: &random)
        try check.run(phase: "after replaying half the scores into the rebuilt index", seed: seed, using: &random)

        // Scores stored since the rebuild (settled: a few seconds old), which only the reconciler applies.
        let newest = (instants.max() ?? 0) + 1
        let nowMicroseconds = Int(Date().timeIntervalSince1970) * 1_000_000
        let later = try store(
            (0..<Self.scoreCount / 8).map { _ in Int.random(in: newest...(nowMicroseconds - 5_000_000), using: &random) }, players: players,
            in: stores, using: &random)
        let pass = try IndexReconciler(connections: StoreConnections(database: stores.database, redis: stores.redis), logger: Logger(label: "model"))
            .reconcile()
        #expect(pass.applied == later.count, "the reconciler applies exactly the scores the index lacks")
        try ModelCheck(model: RankingModel(games: Self.games, submissions: submissions + later), service: stores.service, names: names, span: span)
            .run(phase: "after the reconciler applied scores stored since the rebuild", seed: seed, using: &random)
        #expect(try stores.isStillPrivate(), "the connection kept the private schema throughout")
    }

    /// Stores a random score at each instant, in time order, so ids rise with created_at as they do in service.
    private func store(_ instants: [Int], players: [Int], in stores: PrivateStores, using random: inout SeededGenerator) throws
        -> [RankingModel.Submission]
    {
        try instants.sorted().map { microseconds in
            // Lower-numbered players play more: some boards get long histories, some players one score.
            let player = players[min(Int.random(in: 0..<players.count, using: &random), Int.random(in: 0..<players.count, using: &random))]
            let game = Self.games.randomElement(using: &random)!
            let score = Self.randomScore(for: game, using: &random)
            let id = try stores.insertScore(userId: player, game: game.slug, score: score, microseconds: microseconds)
            return RankingModel.Submission(id: id, userId: player, game: game.slug, score: score, microseconds: microseconds)
        }
    }

    /// Applies in runs of random length, as submission batches and reconciler passes do.
    private func apply(_ scores: [BoardIndex.Score], to stores: PrivateStores, using random: inout SeededGenerator) throws {
        let index = BoardIndex(redis: stores.redis)
        var rest = scores[...]
        while !rest.isEmpty {
            let run = rest.prefix(Int.random(in: 1...40, using: &random))
            rest = rest.dropFirst(run.count)
            for outcome in try index.apply(Array(run), today: UTCDay.today) { _ = try outcome.get() }
        }
    }

    /// Instants (microseconds since the epoch) in a span of 19 days around a month's first day, a month or two
    /// back (so every board is still kept), a quarter of them within 1.5 s of a midnight, a Monday's or the
    /// month's most often; and a tenth today, up to a minute ago, when the day is old enough. Returns the span's
    /// first and last day too.
    static func randomInstants(count: Int, using random: inout SeededGenerator) -> ([Int], (first: Int, last: Int)) {
        let day = 86_400
        let now = Int(Date().timeIntervalSince1970)
        let today = now / day
        let monthStart =
            Int(
                RankingModel.calendar.dateInterval(of: .month, for: Date(timeIntervalSince1970: Double((today - 40) * day)))!.start
                    .timeIntervalSince1970) / day
        let span = (first: monthStart - 9, last: monthStart + 9)
        // Day 0, 1970-01-01, was a Thursday.
        let mondays = (span.first + 1...span.last).filter { ($0 + 3) % 7 == 0 }
        let boundaries = [monthStart] + mondays
        let secondsIntoToday = now - today * day
        let instants = (0..<count).map { _ -> Int in
            let roll = Int.random(in: 0..<20, using: &random)
            if roll < 2 && secondsIntoToday > 120 {
                return (today * day + Int.random(in: 0...(secondsIntoToday - 60), using: &random)) * 1_000_000
                    + Int.random(in: 0..<1_000_000, using: &random)
            }
            if roll < 7 {
                let midnight =
                    Bool.random(using: &random)
                    ? boundaries.randomElement(using: &random)! : Int.random(in: span.first + 1...span.last, using: &random)
                return midnight * day * 1_000_000 + Int.random(in: -1_500_000..<1_500_000, using: &random)
            }
            return Int.random(in: span.first * day * 1_000_000..<(span.last + 1) * day * 1_000_000, using: &random)
        }
        return (instants, span)
    }

    /// Half the time a few small values (ties), else anywhere within the bounds or at their very ends.
    static func randomScore(for game: RankingModel.GameSettings, using random: inout SeededGenerator) -> Int {
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<5: max(game.minScore, min(game.maxScore, Int.random(in: -3...5, using: &random) * 10))
        case 5..<7: Int.random(in: game.minScore...game.maxScore, using: &random)
        default: [game.minScore, game.minScore + 1, game.maxScore - 1, game.maxScore].randomElement(using: &random)!
        }
    }
}

/// Reads everything the engine answers about the model's world through `LeaderboardService` and lists where it
/// differs from the model.
struct ModelCheck {
    let model: RankingModel
    let service: LeaderboardService
    let names: [Int: String]
    let span: (first: Int, last: Int)
    let boards: [String]
    let periods: [RankingModel.Period]
    /// The model's boards, computed once: every game's and the global board, for every period touched.
    private let expectedBoards: [String: [RankingModel.Period: [RankingModel.Row]]]
    private static let shownMismatches = 25
    private static let shownCharacters = 700

    init(model: RankingModel, service: LeaderboardService, names: [Int: String], span: (first: Int, last: Int)) {
        self.model = model
        self.service = service
        self.names = names
        self.span = span
        let boards = model.games.keys.sorted() + [RankingModel.globalGame]
        let periods = model.periodsTouched.sorted { ($0.kind.rawValue, $0.firstDay) < ($1.kind.rawValue, $1.firstDay) }
        self.boards = boards
        self.periods = periods
        expectedBoards = Dictionary(
            uniqueKeysWithValues: boards.map { game in
                (game, Dictionary(uniqueKeysWithValues: periods.map { ($0, model.board(game, period: $0)) }))
            })
    }

    func run(phase: String, seed: UInt64, using random: inout SeededGenerator) throws {
        var mismatches: [String] = []
        // An error is a difference too: it is listed, and the comparison goes on.
        func collect(_ what: @autoclosure () -> String, _ compare: () throws -> [String]) {
            do {
                mismatches += try compare()
            } catch {
                mismatches.append("\(what()): \(error)")
            }
        }
        for period in periods {
            for game in boards {
                collect("\(game) \(period)") { try compareBoard(game: game, period: period, using: &random) }
            }
            for user in names.keys.sorted() {
                collect("standing of \(user) \(period)") { try compareStanding(userId: user, period: period) }
            }
        }
        mismatches += compareReports(using: &random)
        // Recorded as one issue with the first few differences, each cut short: `#expect` would print them all.
        if !mismatches.isEmpty {
            Issue.record(
                """
                seed \(seed), \(phase): \(mismatches.count) differences from the model; the first:
                \(mismatches.prefix(Self.shownMismatches).map { String($0.prefix(Self.shownCharacters)) }.joined(separator: "\n"))
                """)
        }
    }

    private func date(of period: RankingModel.Period) -> UTCDay {
        period.kind == .allTime ? UTCDay.today : UTCDay(iso: period.firstDay)!
    }

    /// The whole board page by page, then each player's around-me on it.
    private func compareBoard(game: String, period: RankingModel.Period, using random: inout SeededGenerator) throws -> [String] {
        let label = "\(game) \(period)"
        var rows: [BoardRow] = []
        var total = 0
        repeat {
            let page = try service.page(game: game, period: period.kind, date: date(of: period), start: rows.count, end: rows.count + 99)
            total = page.totalCount
            rows += page.result
            if page.result.isEmpty { break }
        } while rows.count < total
        let expected = expectedBoards[game]![period]!.map { row in
            BoardRow(rank: row.rank, userId: row.userId, player: names[row.userId]!, game: game, score: row.score, date: row.day)
        }
        var mismatches: [String] = []
        if total != expected.count { mismatches.append("\(label): totalCount \(total), model \(expected.count)") }
        if rows.map(\.rank) != rows.map(\.rank).sorted() { mismatches.append("\(label): rows not in rank order: \(rows.map(\.rank))") }
        // Within a shared rank any stable order will do: compare who holds each rank.
        let byRank = { (rows: [BoardRow]) in rows.sorted { ($0.rank, $0.userId) < ($1.rank, $1.userId) } }
        if byRank(rows) != byRank(expected) {
            mismatches.append("\(label): board\n    engine \(Self.describe(byRank(rows)))\n    model  \(Self.describe(byRank(expected)))")
            return mismatches
        }
        if let absent = names.keys.sorted().first(where: { user in !rows.contains { $0.userId == user } }) {
            do {
                let position = try service.position(userId: absent, game: game, period: period.kind, date: date(of: period), around: 0)
                mismatches.append("\(label): \(absent) is not on the board, but around-me puts them at rank \(position.rank)")
            } catch ServiceError.notFound(_) {}
        }
        for (index, row) in rows.enumerated() {
            let radius = Int.random(in: 0...3, using: &random)
            let position = try service.position(userId: row.userId, game: game, period: period.kind, date: date(of: period), around: radius)
            let around = Array(rows[max(0, index - radius)...min(rows.count - 1, index + radius)])
            if position.rank != row.rank || position.score != row.score || position.date != row.date || position.around != around {
                mismatches.append(
                    "\(label): around-me of \(row.userId) (±\(radius)): rank \(position.rank), score \(position.score), date \(position.date), "
                        + "around \(Self.describe(position.around)); board says \(Self.describe([row])), around \(Self.describe(around))")
            }
        }
        return mismatches
    }

    private func compareStanding(userId: Int, period: RankingModel.Period) throws -> [String] {
        let standing = try service.standing(userId: userId, period: period.kind, date: date(of: period))
        let engine = Dictionary(uniqueKeysWithValues: standing.boards.map { ($0.game, "rank \($0.rank) score \($0.score) on \($0.date)") })
        var expected: [String: String] = [:]
        for game in boards {
            if let row = expectedBoards[game]![period]!.first(where: { $0.userId == userId }) {
                expected[game] = "rank \(row.rank) score \(row.score) on \(row.day)"
            }
        }
        var mismatches: [String] = []
        if standing.player != names[userId] { mismatches.append("standing of \(userId) \(period): player \(standing.player)") }
        if engine != expected {
            mismatches.append(
                "standing of \(userId) \(period):\n    engine \(engine.sorted { $0.key < $1.key })\n    model  \(expected.sorted { $0.key < $1.key })"
            )
        }
        return mismatches
    }

    /// Reports over the whole span, across the month's first day, one day, and from the span to today, for each
    /// board: whoever the limit cuts within a tie is the engine's choice, all else is the model's.
    private func compareReports(using random: inout SeededGenerator) -> [String] {
        let today = UTCDay.today
        let monthStart = span.first + 9
        let oneDay = Int.random(in: span.first...span.last, using: &random)
        let ranges = [(span.first, span.last), (monthStart - 3, monthStart + 3), (oneDay, oneDay), (span.first, today.daysSinceEpoch)]
        var mismatches: [String] = []
        for (from, to) in ranges {
            let (first, last) = (UTCDay(daysSinceEpoch: from), UTCDay(daysSinceEpoch: to))
            for game in boards {
                let limit = [3, 10, 100].randomElement(using: &random)!
                let label = "report \(game) \(first)...\(last) limit \(limit)"
                let report: [ReportRow]
                do {
                    report = try service.report(from: first, to: last, game: game, limit: limit, today: today)
                } catch {
                    mismatches.append("\(label): \(error)")
                    continue
                }
                let expected = model.report(from: first.description, to: last.description, game: game)
                let byUser = Dictionary(uniqueKeysWithValues: expected.map { ($0.userId, $0) })
                if report.map(\.rank) != expected.prefix(limit).map(\.rank) || Set(report.map(\.userId)).count != report.count {
                    mismatches.append(
                        "\(label): ranks/users \(report.map { "\($0.rank):\($0.userId)=\($0.score)" }), model \(expected.prefix(limit + 3).map { "\($0.rank):\($0.userId)=\($0.score)" })"
                    )
                    continue
                }
                for row in report {
                    guard let entry = byUser[row.userId], entry.rank == row.rank, entry.score == row.score,
                        entry.places.contains("\(row.game) \(row.date)"), entry.gamesPlayed == row.games, row.name == names[row.userId]
                    else {
                        mismatches.append("\(label): row \(row), model \(String(describing: byUser[row.userId]))")
                        continue
                    }
                }
            }
        }
        return mismatches
    }

    private static func describe(_ rows: [BoardRow]) -> String {
        rows.map { "\($0.rank):\($0.userId)=\($0.score)@\($0.date)" }.joined(separator: " ")
    }
}
