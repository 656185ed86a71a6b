import Metrics

/// The Redis index with board pages read from a replica (`REDIS_READ_REPLICAS`), so the page script's work
/// leaves the primary. A page read there is used only when the replica's stamp is the one the primary holds
/// now: a stamp names one content of a board for good (see `PageStamp`), so the page is exactly the primary's,
/// and a score whose 200 was sent is never missing from it. Otherwise, or when the replica fails, the primary
/// reads it. Everything else goes to the primary.
public struct ReplicaReadIndex: RankingIndex {
    private let primary: BoardIndex
    private let replica: BoardIndex

    public init(primary: BoardIndex, replica: BoardIndex) {
        self.primary = primary
        self.replica = replica
    }

    public func apply(_ scores: [BoardIndex.Score], today: UTCDay) throws(IndexError) -> [Result<BoardIndex.Applied, IndexError>] {
        try primary.apply(scores, today: today)
    }

    public func page(game: String, period: BoardPeriod, start: Int, stop: Int, unlessRevoked tokenKey: String?) throws(IndexError) -> (
        rows: [BoardRow], total: Int, stamp: PageStamp
    ) {
        // The primary's stamp also answers for the token: a revocation the replica has not received yet counts.
        let query = BoardIndex.StampQuery(game: game, period: period, tokenKey: tokenKey)
        if case .success(let current?) = try primary.stamps([query]).first,
            let read = try? replica.page(game: game, period: period, start: start, stop: stop, unlessRevoked: tokenKey),
            read.stamp == current
        {
            Self.count("replica")
            return read
        }
        Self.count("primary")
        return try primary.page(game: game, period: period, start: start, stop: stop, unlessRevoked: tokenKey)
    }

    public func stamps(_ queries: [BoardIndex.StampQuery]) throws(IndexError) -> [Result<PageStamp?, IndexError>] {
        try primary.stamps(queries)
    }

    public func around(userId: Int, game: String, period: BoardPeriod, radius: Int, unlessRevoked tokenKey: String?) throws(IndexError)
        -> PlayerPosition?
    {
        try primary.around(userId: userId, game: game, period: period, radius: radius, unlessRevoked: tokenKey)
    }

    public func standing(userId: Int, period: BoardPeriod, games: [String]) throws(IndexError) -> Standing {
        try primary.standing(userId: userId, period: period, games: games)
    }

    public func top(limit: Int, of boards: [(game: String, period: BoardPeriod)]) throws(IndexError) -> [TopScore]? {
        try primary.top(limit: limit, of: boards)
    }

    public func reportStamps(_ queries: [ReportStampQuery]) throws(IndexError) -> [Result<ReportStamp?, IndexError>] {
        try primary.reportStamps(queries)
    }

    public func completeReportStamp(of dependencies: ReportDependencies) throws(IndexError) -> ReportStamp {
        try primary.completeReportStamp(of: dependencies)
    }

    public func gamesPlayed(userIds: [Int], games: [String], periods: [BoardPeriod]) throws(IndexError) -> [Int: Int] {
        try primary.gamesPlayed(userIds: userIds, games: games, periods: periods)
    }

    private static func count(_ source: String) {
        Counter(label: "leaderboard_page_reads_total", dimensions: [("from", source)]).increment()
    }
}
