/// Where submitted scores are kept for good: the source of truth the index is rebuilt from.
public protocol ScoreStore {
    /// Stores a submission, or finds the one stored earlier under the same idempotency key; nil, storing
    /// nothing, when `tokenKey` names a revoked token.
    func insert(userId: Int, game: String, score: Int, idempotencyKey: String?, unlessRevoked tokenKey: String?) throws -> StoredScore?
    /// The player's submissions, newest first, before the cursor id.
    func history(userId: Int, game: String?, before: Int?, limit: Int) throws -> [ScoreEntry]
    /// Per player, how many different games they played in `[from, to)` (epoch seconds).
    func gamesPlayed(userIds: [Int], from: Int, to: Int) throws -> [Int: Int]
    /// The report computed from every score in the range; for ranges older than the index keeps.
    func topPlayers(from: Int, to: Int, game: String?, limit: Int) throws -> [(
        userId: Int, name: String, score: Int, game: String, epochSeconds: Int
    )]
    /// Scores with ids above `id`, oldest first, with whether they are older than `settledSeconds`.
    func scores(after id: Int, limit: Int, settledSeconds: Int) throws -> [(score: BoardIndex.Score, isSettled: Bool, isRipe: Bool)]
}

/// A stored submission; `isReplay` when an earlier request with the same idempotency key stored it.
public struct StoredScore: Sendable {
    public let id: Int
    public let game: String
    public let score: Int
    public let epochSeconds: Int
    public let isReplay: Bool
}

public struct PostgresScoreStore: ScoreStore {
    let database: PostgresConnection

    public init(database: PostgresConnection) {
        self.database = database
    }

    /// One statement, one round trip: the revocation check (PostgreSQL holds every revocation), the insert,
    /// and on an idempotency conflict the earlier row.
    public func insert(userId: Int, game: String, score: Int, idempotencyKey: String?, unlessRevoked tokenKey: String?) throws -> StoredScore? {
        let rows = try database.query(
            """
            WITH revoked AS (
                SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE token_key = $5::text AND expires_at > now()) AS yes
            ), inserted AS (
                INSERT INTO scores (user_id, game, score, idempotency_key)
                SELECT $1::bigint, $2::text, $3::bigint, $4::text FROM revoked WHERE NOT revoked.yes
                ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING id, game, score, created_at
            )
            SELECT revoked.yes AS revoked, s.id, s.game, s.score, floor(extract(epoch FROM s.created_at))::bigint AS epoch, s.replay
            FROM revoked LEFT JOIN (
                SELECT id, game, score, created_at, false AS replay FROM inserted
                UNION ALL
                SELECT id, game, score, created_at, true FROM scores
                WHERE user_id = $1::bigint AND idempotency_key = $4::text AND NOT EXISTS (SELECT 1 FROM inserted)
            ) s ON true
            """, [userId, game, score, idempotencyKey, tokenKey], prepared: true)
        guard let row = rows.first else { throw PostgresError.unexpectedResult("score insert returned no row") }
        if try row.bool("revoked") == true { return nil }
        if try row.int("id") != nil { return try Self.stored(row, isReplay: try row.bool("replay") ?? false) }
        // The conflicting row was committed after this statement's snapshot was taken (a concurrent retry):
        // a new statement sees it.
        let earlier = try database.query(
            "SELECT id, game, score, floor(extract(epoch FROM created_at))::bigint AS epoch FROM scores WHERE user_id = $1 AND idempotency_key = $2",
            [userId, idempotencyKey])
        guard let row = earlier.first else { throw PostgresError.unexpectedResult("idempotent insert found no row") }
        return try Self.stored(row, isReplay: true)
    }

    public func history(userId: Int, game: String?, before: Int?, limit: Int) throws -> [ScoreEntry] {
        try database.query(
            """
            SELECT id, game, score, to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created
            FROM scores WHERE user_id = $1 AND ($2::text IS NULL OR game = $2) AND ($3::bigint IS NULL OR id < $3)
            ORDER BY id DESC LIMIT $4
            """, [userId, game, before, limit]
        ).map { row in
            ScoreEntry(
                id: try row.requiredInt("id"), game: try row.requiredString("game"), score: try row.requiredInt("score"),
                createdAt: try row.requiredString("created"))
        }
    }

    public func gamesPlayed(userIds: [Int], from: Int, to: Int) throws -> [Int: Int] {
        guard !userIds.isEmpty else { return [:] }
        let rows = try database.query(
            """
            SELECT user_id, count(DISTINCT game) AS games FROM scores
            WHERE user_id = ANY($1::bigint[]) AND created_at >= to_timestamp($2) AND created_at < to_timestamp($3)
            GROUP BY user_id
            """, ["{" + userIds.map(String.init).joined(separator: ",") + "}", from, to])
        var games: [Int: Int] = [:]
        for row in rows { games[try row.requiredInt("user_id")] = try row.requiredInt("games") }
        return games
    }

    public func topPlayers(from: Int, to: Int, game: String?, limit: Int) throws -> [(
        userId: Int, name: String, score: Int, game: String, epochSeconds: Int
    )] {
        try database.query(
            """
            WITH best AS (
                SELECT DISTINCT ON (user_id) user_id, game, score, created_at FROM scores
                WHERE created_at >= to_timestamp($1) AND created_at < to_timestamp($2) AND ($3::text IS NULL OR game = $3)
                ORDER BY user_id, score DESC, created_at, id
            )
            SELECT b.user_id, u.name, b.game, b.score, floor(extract(epoch FROM b.created_at))::bigint AS epoch
            FROM best b JOIN users u ON u.id = b.user_id
            ORDER BY b.score DESC, b.user_id LIMIT $4
            """, [from, to, game, limit]
        ).map { row in
            (
                try row.requiredInt("user_id"), try row.requiredString("name"), try row.requiredInt("score"), try row.requiredString("game"),
                try row.requiredInt("epoch")
            )
        }
    }

    public func scores(after id: Int, limit: Int, settledSeconds: Int) throws -> [(score: BoardIndex.Score, isSettled: Bool, isRipe: Bool)] {
        try database.query(
            """
            SELECT s.id, s.user_id, u.name, s.game, s.score, floor(extract(epoch FROM s.created_at))::bigint AS epoch,
                   s.created_at < now() - make_interval(secs => $3) AS settled,
                   s.created_at < now() - interval '1 second' AS ripe
            FROM scores s JOIN users u ON u.id = s.user_id
            WHERE s.id > $1 ORDER BY s.id LIMIT $2
            """, [id, limit, settledSeconds]
        ).map { row in
            let score = BoardIndex.Score(
                id: try row.requiredInt("id"), userId: try row.requiredInt("user_id"), name: try row.requiredString("name"),
                game: try row.requiredString("game"), score: try row.requiredInt("score"), epochSeconds: try row.requiredInt("epoch"))
            return (score, try row.bool("settled") ?? false, try row.bool("ripe") ?? false)
        }
    }

    private static func stored(_ row: PostgresRow, isReplay: Bool) throws -> StoredScore {
        StoredScore(
            id: try row.requiredInt("id"), game: try row.requiredString("game"), score: try row.requiredInt("score"),
            epochSeconds: try row.requiredInt("epoch"), isReplay: isReplay)
    }
}
