/// The ranking index as `LeaderboardService` uses it: applying scores and reading boards. `BoardIndex` keeps it in
/// Redis; unit tests of the service's rules use one in memory.
///
/// A board's entry for a player is their best score in the game, or on `all` the sum of their per-game bests, for
/// each period; rows carry standard competition ranks ("1224"). Applying a score twice changes nothing.
public protocol RankingIndex {
    /// Applies scores in order: one outcome per score, the all-time best and ranks after it. Throws when nothing
    /// is known about any of them.
    func apply(_ scores: [BoardIndex.Score], today: UTCDay) throws(IndexError) -> [Result<BoardIndex.Applied, IndexError>]
    /// Rows `start...stop` (0-based, inclusive) of a board, its size, and the stamp of the content they come from.
    /// With `tokenKey`, throws `.tokenRevoked` when that token's revocation is cached.
    func page(game: String, period: BoardPeriod, start: Int, stop: Int, unlessRevoked tokenKey: String?) throws(IndexError) -> (
        rows: [BoardRow], total: Int, stamp: PageStamp
    )
    /// The boards' stamps as they are now, one outcome per query; nil when no index is built.
    func stamps(_ queries: [BoardIndex.StampQuery]) throws(IndexError) -> [Result<PageStamp?, IndexError>]
    /// The rows within `radius` of a player, or nil when the player is not on the board; `tokenKey` as for `page`.
    func around(userId: Int, game: String, period: BoardPeriod, radius: Int, unlessRevoked tokenKey: String?) throws(IndexError)
        -> PlayerPosition?
    /// The player's rank and score on each of `games`' boards for the period, those they are on.
    func standing(userId: Int, period: BoardPeriod, games: [String]) throws(IndexError) -> Standing
    /// The best `limit` players by best single score across `boards`, best first, ties by user id; nil when the index
    /// would have to read too many players tied at a board's cut, and PostgreSQL must answer.
    func top(limit: Int, of boards: [(game: String, period: BoardPeriod)]) throws(IndexError) -> [TopScore]?
    /// The reports' stamps as they are now, one outcome per query; nil when no index is built. With a `tokenKey`,
    /// `.tokenRevoked` when that token's revocation is cached.
    func reportStamps(_ queries: [ReportStampQuery]) throws(IndexError) -> [Result<ReportStamp?, IndexError>]
    /// The boards' stamp, with a version given to each board that had none.
    func completeReportStamp(of dependencies: ReportDependencies) throws(IndexError) -> ReportStamp
    /// Per player, how many of `games` they have an entry for on any of `periods`' boards.
    func gamesPlayed(userIds: [Int], games: [String], periods: [BoardPeriod]) throws(IndexError) -> [Int: Int]
}
