/// The `games` table, read at every call, and `audit_log`.
public struct PostgresGameAdminStore: GameAdminStore {
    let database: PostgresConnection

    public init(database: PostgresConnection) {
        self.database = database
    }

    public func games() throws -> [Game] {
        try database.query("SELECT \(PostgresGameCatalog.columns) FROM games ORDER BY position, slug").map(PostgresGameCatalog.game)
    }

    public func game(_ slug: String) throws -> Game? {
        try database.query("SELECT \(PostgresGameCatalog.columns) FROM games WHERE slug = $1", [slug]).first.map(PostgresGameCatalog.game)
    }

    public func insert(_ game: Game, audit: AuditEntry) throws -> Bool {
        do {
            try database.transaction {
                try database.query(
                    """
                    INSERT INTO games (slug, label, position, sort_order, rule, min_score, max_score, tie_break, in_global, format,
                        authoritative, archived)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                    """,
                    [game.slug] + Self.settings(of: game))
                try AuditEntry.insert(audit, on: database)
            }
            return true
        } catch let error as PostgresError where error.isUniqueViolation {
            return false
        }
    }

    public func update(_ slug: String, _ change: (Game, () throws -> Bool) throws -> (Game, AuditEntry)?) throws -> Game? {
        try database.transaction {
            // FOR UPDATE conflicts with the KEY SHARE lock a score's insert takes on its game row (the foreign key), so
            // no first score can commit between the check below and this transaction's commit.
            let rows = try database.query("SELECT \(PostgresGameCatalog.columns) FROM games WHERE slug = $1 FOR UPDATE", [slug])
            guard let row = rows.first else { return nil }
            let current = try PostgresGameCatalog.game(row)
            let isScored = { !(try database.query("SELECT 1 FROM scores WHERE game = $1 LIMIT 1", [slug])).isEmpty }
            guard let (changed, audit) = try change(current, isScored) else { return current }
            try database.query(
                """
                UPDATE games SET label = $2, position = $3, sort_order = $4, rule = $5, min_score = $6, max_score = $7, tie_break = $8,
                    in_global = $9, format = $10, authoritative = $11, archived = $12, updated_at = now()
                WHERE slug = $1
                """,
                [slug] + Self.settings(of: changed))
            try AuditEntry.insert(audit, on: database)
            return changed
        }
    }

    /// Parameters $2...$12 of the statements above.
    private static func settings(of game: Game) -> [(any PostgresBindable)?] {
        [
            game.label, game.position, game.order.rawValue, game.rule.rawValue, game.minScore, game.maxScore, game.tieBreak.rawValue,
            game.inGlobal, game.format.rawValue, game.authoritative, game.archived,
        ]
    }
}
