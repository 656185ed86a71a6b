import LeaderboardCore

/// Computes what a view shows, on a store worker: the JSON its watchers get, apart from who watches it.
enum ViewRenderer {
    /// A view's JSON as clients receive it, and for a standing view the player's total.
    static func render(_ view: Hub.View, context: StoreContext, today: UTCDay) throws -> (text: [UInt8], total: Int?) {
        switch view {
        case .board(let board):
            let page = try context.leaderboard.page(
                game: board.game, period: board.period, date: board.date ?? today, start: board.start, end: board.end)
            let push = BoardPush(
                result: page.result, totalCount: page.totalCount, game: board.game, period: board.period, start: board.start, end: board.end)
            return (try JSONCoding.encode(push), nil)
        case .standing(let user):
            let row = try context.stores.index.around(userId: user, game: BoardIndex.globalGame, period: .allTime, radius: 0, unlessRevoked: nil)?
                .around.first
            return (try JSONCoding.encode(StandingPush(result: row)), row?.score)
        }
    }
}

/// A page of a watched board; the view's own fields come along, so a client that just switched views
/// can tell a late push for the old one from the new.
struct BoardPush: Encodable {
    let result: [BoardRow]
    let totalCount: Int
    let game: String
    let period: PeriodKind
    let start: Int
    let end: Int
}

struct StandingPush: Encodable {
    let result: BoardRow?

    enum CodingKeys: String, CodingKey { case result }

    /// `result` is written as null for a player not on the board yet.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(result, forKey: .result)
    }
}
