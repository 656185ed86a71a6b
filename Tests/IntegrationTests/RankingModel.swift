import Foundation
import LeaderboardCore

/// The boards, ranks and reports recomputed from the submissions alone, straight from DESIGN.md's
/// "Leaderboard semantics" and "Game settings", written apart from the engine (Foundation's ISO calendar for the
/// periods, plain sorting for the ranks): what `RankingModelTests` holds the engine to.
struct RankingModel {
    struct GameSettings: Sendable {
        let slug: String
        let order: ScoreOrder
        let rule: ScoreRule
        let tieBreak: TieBreak
        let inGlobal: Bool
        let minScore: Int
        let maxScore: Int
    }

    /// A stored score; `microseconds` is its `created_at` since the epoch.
    struct Submission: Sendable {
        let id: Int
        let userId: Int
        let game: String
        let score: Int
        let microseconds: Int
    }

    /// One board's period: its kind and its first day (`YYYY-MM-DD`; empty for all-time).
    struct Period: Hashable, Sendable, CustomStringConvertible {
        let kind: PeriodKind
        let firstDay: String

        static let allTime = Period(kind: .allTime, firstDay: "")

        var description: String { kind == .allTime ? "all-time" : "\(kind.rawValue) \(firstDay)" }
    }

    /// A player's entry on a board; `reachedId` is the score id that decides `earliest` ties.
    struct Entry: Equatable, Sendable {
        let userId: Int
        let score: Int
        let reachedId: Int
        let day: String
    }

    struct Row: Equatable, Sendable {
        let rank: Int
        let userId: Int
        let score: Int
        let day: String
    }

    /// A player in a report, before the limit cuts the list: their best single score in the range, the places
    /// (game and day) where they made it, and how many games they played in the range.
    struct ReportEntry: Equatable, Sendable {
        let rank: Int
        let userId: Int
        let score: Int
        let places: Set<String>
        let gamesPlayed: Int
    }

    static let globalGame = "all"

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        calendar.firstWeekday = 2
        calendar.minimumDaysInFirstWeek = 4
        return calendar
    }()

    let games: [String: GameSettings]
    let submissions: [Submission]
    private let periodsOfSubmission: [Int: [Period]]

    init(games: [GameSettings], submissions: [Submission]) {
        self.games = Dictionary(uniqueKeysWithValues: games.map { ($0.slug, $0) })
        self.submissions = submissions
        periodsOfSubmission = Dictionary(uniqueKeysWithValues: submissions.map { ($0.id, Self.periods(ofMicroseconds: $0.microseconds)) })
    }

    /// Every period some submission counts towards.
    var periodsTouched: Set<Period> { Set(periodsOfSubmission.values.joined()) }

    /// The UTC day of an instant, `YYYY-MM-DD`.
    static func day(ofMicroseconds microseconds: Int) -> String {
        format(Date(timeIntervalSince1970: Double(floorDivide(microseconds, 1_000_000))))
    }

    /// All-time, and the day, ISO week (from Monday) and month containing the instant, in UTC.
    static func periods(ofMicroseconds microseconds: Int) -> [Period] {
        let instant = Date(timeIntervalSince1970: Double(floorDivide(microseconds, 1_000_000)))
        let week = calendar.dateInterval(of: .weekOfYear, for: instant)!.start
        let month = calendar.dateInterval(of: .month, for: instant)!.start
        return [
            .allTime, Period(kind: .daily, firstDay: format(instant)), Period(kind: .weekly, firstDay: format(week)),
            Period(kind: .monthly, firstDay: format(month)),
        ]
    }

    static func format(_ date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    private static func floorDivide(_ value: Int, _ divisor: Int) -> Int {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }

    /// Each player's entry on a game's board for the period, by the game's rule.
    func entries(game slug: String, period: Period) -> [Int: Entry] {
        let game = games[slug]!
        let counted = submissions.filter { $0.game == slug && periodsOfSubmission[$0.id]!.contains(period) }
        return Dictionary(grouping: counted, by: \.userId).mapValues { scores in
            switch game.rule {
            case .best:
                let best = game.order == .desc ? scores.map(\.score).max()! : scores.map(\.score).min()!
                let first = scores.filter { $0.score == best }.min { $0.id < $1.id }!
                return Entry(userId: first.userId, score: best, reachedId: first.id, day: Self.day(ofMicroseconds: first.microseconds))
            case .latest:
                let last = scores.max { $0.id < $1.id }!
                return Entry(userId: last.userId, score: last.score, reachedId: last.id, day: Self.day(ofMicroseconds: last.microseconds))
            case .sum:
                let last = scores.max { $0.id < $1.id }!
                return Entry(
                    userId: last.userId, score: scores.map(\.score).reduce(0, +), reachedId: last.id,
                    day: Self.day(ofMicroseconds: last.microseconds))
            }
        }
    }

    /// The global board's entries: per player, the sum of their entries on the `inGlobal` games' boards, dated
    /// by the latest of those entries.
    func globalEntries(period: Period) -> [Int: Entry] {
        var totals: [Int: Entry] = [:]
        for game in games.values where game.inGlobal {
            for (user, entry) in entries(game: game.slug, period: period) {
                let earlier = totals[user]
                totals[user] = Entry(
                    userId: user, score: (earlier?.score ?? 0) + entry.score, reachedId: max(earlier?.reachedId ?? 0, entry.reachedId),
                    day: max(earlier?.day ?? "", entry.day))
            }
        }
        return totals
    }

    /// The board in rank order. Within a `shared` tie the order is the model's own (by user id); only ranks and
    /// who holds them are the semantics.
    func board(_ slug: String, period: Period) -> [Row] {
        let (entries, order, tieBreak) =
            slug == Self.globalGame
            ? (globalEntries(period: period), ScoreOrder.desc, TieBreak.shared)
            : (self.entries(game: slug, period: period), games[slug]!.order, games[slug]!.tieBreak)
        let sorted = entries.values.sorted { first, second in
            if first.score != second.score { return order == .desc ? first.score > second.score : first.score < second.score }
            if tieBreak == .earliest && first.reachedId != second.reachedId { return first.reachedId < second.reachedId }
            return first.userId < second.userId
        }
        var rows: [Row] = []
        for (index, entry) in sorted.enumerated() {
            let sharesRank = tieBreak == .shared && index > 0 && sorted[index - 1].score == entry.score
            rows.append(Row(rank: sharesRank ? rows[index - 1].rank : index + 1, userId: entry.userId, score: entry.score, day: entry.day))
        }
        return rows
    }

    /// Every player with a score in `from...to` (whole UTC days), on `game` or, for `all`, on the `inGlobal`
    /// games, ranked by their best single score in the game's order (competition ranks).
    func report(from: String, to: String, game slug: String) -> [ReportEntry] {
        let inRange = submissions.filter { (from...to).contains(Self.day(ofMicroseconds: $0.microseconds)) }
        let reportGames = slug == Self.globalGame ? Set(games.values.filter(\.inGlobal).map(\.slug)) : [slug]
        let order = slug == Self.globalGame ? ScoreOrder.desc : games[slug]!.order
        let isBetter: (Int, Int) -> Bool = { order == .desc ? $0 > $1 : $0 < $1 }
        let bests = Dictionary(grouping: inRange.filter { reportGames.contains($0.game) }, by: \.userId).map { user, scores in
            let best = scores.map(\.score).reduce(scores[0].score) { isBetter($1, $0) ? $1 : $0 }
            let places = Set(scores.filter { $0.score == best }.map { "\($0.game) \(Self.day(ofMicroseconds: $0.microseconds))" })
            let played = Set(inRange.filter { $0.userId == user }.map(\.game)).count
            return (user: user, score: best, places: places, played: played)
        }
        let sorted = bests.sorted { isBetter($0.score, $1.score) || ($0.score == $1.score && $0.user < $1.user) }
        var entries: [ReportEntry] = []
        for (index, best) in sorted.enumerated() {
            let rank = index > 0 && sorted[index - 1].score == best.score ? entries[index - 1].rank : index + 1
            entries.append(ReportEntry(rank: rank, userId: best.user, score: best.score, places: best.places, gamesPlayed: best.played))
        }
        return entries
    }
}
