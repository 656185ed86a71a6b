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

/// `{"event": "token-expiring", "in": 60}`: the socket's token expires in that many seconds (the client may renew it in
/// place with `{"auth": token}`), or `token-renewed`: it was renewed, and now expires in that many seconds.
struct TokenEventPush: Encodable {
    let event: String
    let secondsLeft: Int

    enum CodingKeys: String, CodingKey {
        case event
        case secondsLeft = "in"
    }
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
