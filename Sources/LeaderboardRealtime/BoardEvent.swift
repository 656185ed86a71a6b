import LeaderboardCore

/// A submission as the apply script announced it on `lb:events` (each message an array of them; an empty one
/// after a rebuild, when every board may have changed).
struct BoardEvent: Sendable, Equatable {
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

    struct Unreadable: Error, Equatable {
        let reason: String
    }

    /// The events of one message. Every ws daemon reads every message, clients or not, so this is our own parser's
    /// work, not a `Decodable`'s (Foundation's `JSONDecoder` took ~100 µs for a message of ten).
    static func parse(_ message: [UInt8]) throws(Unreadable) -> [BoardEvent] {
        let document: JSONValue
        do {
            document = try JSONParser.parse(message, maximumDepth: 3)
        } catch {
            throw Unreadable(reason: "not JSON: \(error)")
        }
        guard case .array(let elements) = document else { throw Unreadable(reason: "not an array") }
        return try elements.map { element throws(Unreadable) in try BoardEvent(element) }
    }

    /// The totals come as strings, exact past the 14 digits cjson writes numbers with.
    private init(_ element: JSONValue) throws(Unreadable) {
        guard case .object(let fields) = element, let game = fields["game"]?.string, let userId = fields["userId"]?.wholeNumber,
            let periods = fields["periods"]?.strings
        else { throw Unreadable(reason: "an event without game, userId or periods") }
        func optional<Value>(_ name: String, _ read: (JSONValue) -> Value?) throws(Unreadable) -> Value? {
            guard let value = fields[name], value != .null else { return nil }
            guard let parsed = read(value) else { throw Unreadable(reason: "\(name) is not what it should be") }
            return parsed
        }
        self.init(
            game: game, userId: userId, periods: periods, totalBefore: try optional("totalBefore") { $0.string.flatMap { Int($0) } },
            totalAfter: try optional("totalAfter") { $0.string.flatMap { Int($0) } }, at: try optional("at", \.wholeNumber))
    }
}
