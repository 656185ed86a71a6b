import LeaderboardCore

/// A page of a board a client watches; `date` nil means the current day, week or month.
struct BoardView: Hashable, Sendable {
    let game: String
    let period: PeriodKind
    let date: UTCDay?
    let start: Int
    let end: Int

    func boardPeriod(today: UTCDay) -> BoardPeriod { BoardPeriod(period, containing: date ?? today) }
}

/// What a client asked for, parsed and checked on the event loop; nothing here needs a store.
enum ClientMessage: Equatable, Sendable {
    case echo(String)
    case watch(BoardView)
    case refreshStanding
    case submit(game: String, score: Int)
    case report(from: UTCDay, to: UTCDay, limit: Int, game: String)
    /// `{"auth": token}`, on any route: renew the socket's token in place.
    case renew(token: String)

    static let maximumDepth = 4
    static let maximumRow = Int(Int32.max)

    /// The message, or the `{error}` text to answer with; unknown fields are refused.
    static func parse(_ text: String, route: SocketRoute, today: UTCDay) -> Result<ClientMessage, MessageError> {
        if let renewal = renewal(text) { return renewal }
        switch route {
        case .welcome: return .success(.echo(text))
        case .myScore: return .success(.refreshStanding)
        default: break
        }
        do {
            var fields = try JSONFields.parse(Array(text.utf8), maximumDepth: maximumDepth)
            let allowed: Set<String> =
                switch route {
                case .scores: ["game", "channel", "start", "end", "period", "date"]
                case .addScore: ["game", "gameChannel", "score"]
                default: ["start", "end", "limit", "game"]
                }
            if let unknown = fields.names.subtracting(allowed).sorted().first {
                return .failure(MessageError("unknown field '\(unknown)'"))
            }
            let message: ClientMessage
            switch route {
            case .scores:
                let game = fields.string("game", "channel")
                let (start, end) = (fields.integer("start"), fields.integer("end"))
                let period = fields.contains("period") ? PeriodKind(rawValue: fields.string("period")) : .allTime
                let date = fields.contains("date") ? UTCDay(iso: fields.string("date")) : nil
                try fields.validate()
                guard let period else { return .failure(MessageError("period must be all-time, daily, weekly or monthly")) }
                if fields.contains("date") && date == nil { return .failure(MessageError("date must look like 2025-03-01")) }
                // The same bound as REST's: row numbers travel to Redis through Lua, whose numbers are doubles.
                guard start >= 0, start <= maximumRow, end >= start, end - start < 100 else {
                    return .failure(MessageError("start and end must satisfy 0 <= start <= end < start + 100, start <= \(maximumRow)"))
                }
                message = .watch(BoardView(game: game, period: period, date: date, start: start, end: end))
            case .addScore:
                let (game, score) = (fields.string("game", "gameChannel"), fields.integer("score"))
                try fields.validate()
                message = .submit(game: game, score: score)
            default:
                let (start, end) = (fields.string("start"), fields.contains("end") ? fields.string("end") : today.description)
                let limit = fields.contains("limit") ? fields.integer("limit") : 10
                let game = fields.contains("game") ? fields.string("game") : BoardIndex.globalGame
                try fields.validate()
                guard let from = UTCDay(iso: start), let to = UTCDay(iso: end) else {
                    return .failure(MessageError("start and end must be ISO dates such as 2025-03-01"))
                }
                message = .report(from: from, to: to, limit: limit, game: game)
            }
            return .success(message)
        } catch {
            return .failure(MessageError(error))
        }
    }
}

extension ClientMessage {
    /// A message whose only field is `auth`, else nil (the route's own messages, or the welcome route's echo).
    private static func renewal(_ text: String) -> Result<ClientMessage, MessageError>? {
        guard text.contains(#""auth""#), var fields = try? JSONFields.parse(Array(text.utf8), maximumDepth: maximumDepth),
            fields.names == ["auth"]
        else { return nil }
        let token = fields.string("auth")
        do {
            try fields.validate()
        } catch {
            return .failure(MessageError(error))
        }
        return .success(.renew(token: token))
    }
}

/// Why a message was refused, as the client reads it in `{"error": ...}`.
struct MessageError: Error, Equatable, Sendable {
    let text: String

    init(_ text: String) {
        self.text = text
    }

    /// A domain error in one line: its message, or for a validation error the fields at fault.
    init(_ error: ServiceError) {
        text =
            error.fieldErrors.isEmpty ? error.message : error.fieldErrors.map { "\($0.field): \($0.message)" }.joined(separator: "; ")
    }
}
