/// A submission as the apply script announced it on `lb:events` (each message an array of them; an empty one
/// after a rebuild, when every board may have changed).
struct BoardEvent: Decodable, Sendable, Equatable {
    let game: String
    let userId: Int
    let periods: [String]
    /// The player's global all-time total before and after (-1: not on the board), when it changed.
    let totalBefore: Int?
    let totalAfter: Int?
    /// When Redis published it, in milliseconds since the epoch.
    let at: Int?

    init(game: String, userId: Int, periods: [String], totalBefore: Int?, totalAfter: Int?, at: Int?) {
        self.game = game
        self.userId = userId
        self.periods = periods
        self.totalBefore = totalBefore
        self.totalAfter = totalAfter
        self.at = at
    }

    private enum CodingKeys: String, CodingKey {
        case game, userId, periods, totalBefore, totalAfter, at
    }

    /// The totals come as strings, exact past the 14 digits cjson writes numbers with.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        game = try container.decode(String.self, forKey: .game)
        userId = try container.decode(Int.self, forKey: .userId)
        periods = try container.decode([String].self, forKey: .periods)
        totalBefore = try container.decodeIfPresent(String.self, forKey: .totalBefore).flatMap { Int($0) }
        totalAfter = try container.decodeIfPresent(String.self, forKey: .totalAfter).flatMap { Int($0) }
        at = try container.decodeIfPresent(Int.self, forKey: .at)
    }
}
