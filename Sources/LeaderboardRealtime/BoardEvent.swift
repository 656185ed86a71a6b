/// A submission as the apply script announced it on `lb:events` (each message an array of them).
struct BoardEvent: Decodable, Sendable, Equatable {
    let game: String
    let userId: Int
    let score: Int
    let periods: [String]
    /// The player's global all-time total before and after (-1: not on the board), when it changed.
    let totalBefore: Int?
    let totalAfter: Int?
    /// When Redis published it, in milliseconds since the epoch.
    let at: Int?
}
