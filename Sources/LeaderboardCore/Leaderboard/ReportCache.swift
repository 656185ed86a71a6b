/// Rendered reports of one process, each with the stamp it was read at (`ReportStamp`) and the games it was made
/// with: a read whose stamp, fetched by one plain `MGET`, and whose game list are still the report's is answered
/// from here, instead of by `topOfBoards` and the count of games played.
///
/// A report of the index depends on: the generation (a rebuild, which a change of a game's ranking settings makes
/// too), the display names, and the board of every game for every period of the range's covering. Those of the
/// report's games hold its rows; those of every game count the `games` each player played: a player's first score
/// in a game within the range is a new entry on that day's board, and a ban, an unban, a deletion or a restore
/// sets the version of every board it changes. The game list gives the labels and which games `all` covers, and
/// is compared whole. So a report served from here is what it would be read as at the moment of its `MGET`.
///
/// Reports read from PostgreSQL (a `latest` or `sum` game's, or a range older than the boards kept) are never
/// kept: a `latest` or `sum` score applied out of order may change no entry, so no version, yet be the best single
/// score of the range; and a board past its retention has no version at all.
///
/// Shared by the worker threads of a process and bounded (see `GenerationalCache`).
public final class ReportCache: Sendable {
    struct Key: Hashable, Sendable {
        let game: String
        let from: UTCDay
        let to: UTCDay
        let limit: Int
    }

    /// A report's plan (`LeaderboardService.ReportPlan`) is its key's on `today` (which boards are still kept): with
    /// the same game list, the same plan, so a warm read does not work out the covering and the version keys again.
    struct PlanKey: Hashable, Sendable {
        let report: Key
        let today: UTCDay
    }

    private struct Entry {
        let stamp: ReportStamp
        let games: [Game]
        let report: RenderedReport
    }

    /// A report being made: equal ones name one content (a complete stamp, the same game list).
    struct Making: Hashable {
        let report: Key
        let stamp: ReportStamp
        let games: [Game]
    }

    /// 2 × 64 reports of at most 100 rows.
    public static let defaultGenerationSize = 64

    private let cache: GenerationalCache<Key, Entry>
    private let plans: GenerationalCache<PlanKey, LeaderboardService.ReportPlan>
    let stampReads = SharedRoundTrip<ReportStampQuery, ReportStamp?, ReportStamp?>()
    /// Under submissions a popular report's boards change every few milliseconds, so its readers mostly miss
    /// together: those at the same stamp wait for one of them to make it (~1 ms of Redis for 30 days) rather than
    /// each making it.
    let making = SingleFlight<Making, RenderedReport>()

    public init(generationSize: Int = ReportCache.defaultGenerationSize) {
        cache = GenerationalCache(generationSize: generationSize)
        plans = GenerationalCache(generationSize: generationSize)
    }

    /// The plan kept for `key`, if it was made with the same `catalog`.
    func plan(for key: PlanKey, catalog: [Game]) -> LeaderboardService.ReportPlan? {
        guard let plan = plans.value(for: key), plan.catalog == catalog else { return nil }
        return plan
    }

    func insert(_ plan: LeaderboardService.ReportPlan, for key: PlanKey) {
        plans.insert(plan, for: key)
    }

    /// The report kept for `key`, if it was read at `stamp` with the same `games`.
    func report(for key: Key, at stamp: ReportStamp, games: [Game]) -> RenderedReport? {
        guard let entry = cache.value(for: key), entry.stamp == stamp, entry.games == games else { return nil }
        return entry.report
    }

    /// The report for `key` at the complete `stamp` with `games`, made by `make` and kept, unless another worker of the
    /// process is making that same one: then its report (or its error), when it is made.
    func report(for key: Key, at stamp: ReportStamp, games: [Game], making make: () throws -> RenderedReport) throws -> RenderedReport {
        try making.value(for: Making(report: key, stamp: stamp, games: games)) {
            let report = try make()
            insert(report, at: stamp, games: games, for: key)
            return report
        }
    }

    /// Keeps `report`, read at the complete `stamp` with `games`, in place of what `key` held. Two readers may race and
    /// leave the older one: the next read's stamp then differs from it and it is read again, never served.
    func insert(_ report: RenderedReport, at stamp: ReportStamp, games: [Game], for key: Key) {
        precondition(stamp.isComplete, "only a complete stamp names one content")
        cache.insert(Entry(stamp: stamp, games: games, report: report), for: key)
    }
}
