import LeaderboardCore

struct SubmissionPush: Encodable {
    let ok = true
    let game: String
    let score: Int
    let best: Int
    let improved: Bool
    let rank: Int
    let globalRank: Int

    init(_ result: SubmissionResult) {
        (game, score, best, improved, rank, globalRank) = (result.game, result.score, result.best, result.improved, result.rank, result.globalRank)
    }
}

/// The answer to a message refused by the rate limit.
struct RefusalPush: Encodable {
    let error: String
    /// Seconds until the client may send again.
    let retryAfter: Int
}

struct QueuedPush: Encodable {
    let ok = true
    let queued = true
    let game: String
    let score: Int
}

struct ReportPush: Encodable {
    let result: [ReportRow]
}
