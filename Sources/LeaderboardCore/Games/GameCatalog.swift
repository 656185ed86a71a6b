/// The games, as the hot paths read them: kept in memory, re-read every few seconds.
public protocol GameCatalog {
    /// Every game, archived ones too (their boards stay readable), in display order.
    func games() throws -> [Game]
    /// The game with this slug, looked up in the store when the list does not know it (a game just created elsewhere).
    func game(_ slug: String) throws -> Game?
}

/// The list of games every worker of a process reads: shared, so that a worker that has not read it yet is not
/// the one that finds PostgreSQL down with nothing to serve.
public final class GameList: Sendable {
    fileprivate let cached = Locked<(games: [Game], readAt: ContinuousClock.Instant)?>(nil)

    public init() {}
}

/// The `games` table, re-read at most every few seconds so that a change made by an admin elsewhere shows up.
/// Submissions do not rely on it for bounds or archiving: the statement that stores a score checks those
/// against the table itself (see `PostgresScoreStore`).
public final class PostgresGameCatalog: GameCatalog {
    static let columns = """
        slug, label, position, sort_order, rule, min_score, max_score, tie_break, in_global, format, authoritative, archived
        """
    private static let freshSeconds = 10
    private let database: PostgresConnection
    private let list: GameList
    private let clock = ContinuousClock()

    /// `list`: one for all the workers of a process.
    public init(database: PostgresConnection, list: GameList = GameList()) {
        self.database = database
        self.list = list
    }

    /// The games, re-read when the list is older than 10 s.
    public func games() throws -> [Game] {
        if let cached = list.cached.withLock({ $0 }), clock.now - cached.readAt < .seconds(Self.freshSeconds) { return cached.games }
        return try read()
    }

    public func game(_ slug: String) throws -> Game? {
        if let known = try games().first(where: { $0.slug == slug }) { return known }
        // One primary-key lookup, so a game created elsewhere is found at once; not for what cannot be a slug,
        // nor while PostgreSQL is down (then the list is all there is).
        guard GameAdmin.slugErrors(slug).isEmpty else { return nil }
        do {
            guard let row = try database.query("SELECT \(Self.columns) FROM games WHERE slug = $1", [slug]).first else { return nil }
            let created = try Self.game(row)
            list.cached.withLock { cached in
                if cached?.games.contains(where: { $0.slug == created.slug }) == false { cached?.games.append(created) }
            }
            return created
        } catch let error as PostgresError where error.isUnavailable {
            return nil
        }
    }

    /// While PostgreSQL is unavailable the last list read is served, so that reads answered from Redis (boards,
    /// standings) keep working without it.
    private func read() throws -> [Game] {
        do {
            let games = try database.query("SELECT \(Self.columns) FROM games ORDER BY position, slug").map { row in try Self.game(row) }
            let readAt = clock.now
            list.cached.withLock { $0 = (games, readAt) }
            return games
        } catch let error as PostgresError where error.isUnavailable {
            guard let cached = list.cached.withLock({ $0 }) else { throw error }
            return cached.games
        }
    }

    /// A row with `columns`.
    public static func game(_ row: PostgresRow) throws -> Game {
        let order: ScoreOrder = try setting(row, "sort_order")
        let rule: ScoreRule = try setting(row, "rule")
        let tieBreak: TieBreak = try setting(row, "tie_break")
        let format: ScoreFormat = try setting(row, "format")
        return Game(
            slug: try row.requiredString("slug"), label: try row.requiredString("label"), position: try row.requiredInt("position"),
            order: order, rule: rule, minScore: try row.requiredInt("min_score"), maxScore: try row.requiredInt("max_score"),
            tieBreak: tieBreak, inGlobal: try row.bool("in_global") ?? true, format: format,
            authoritative: try row.bool("authoritative") ?? false, archived: try row.bool("archived") ?? false)
    }

    private static func setting<Value: RawRepresentable>(_ row: PostgresRow, _ column: String) throws -> Value where Value.RawValue == String {
        let text = try row.requiredString(column)
        if let value = Value(rawValue: text) { return value }
        throw PostgresError.unexpectedResult("games.\(column) = '\(text)'")
    }
}
