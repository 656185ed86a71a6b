/// Where submitted scores are kept for good: the source of truth the index is rebuilt from.
public protocol ScoreStore {
    /// Stores submissions in one transaction, each one, or finds the one stored earlier under the same
    /// idempotency key; or refuses one, storing nothing for it, when its token is revoked, its game refuses it
    /// (archived, authoritative and the submission not a trusted server's, or the score outside the bounds, as the game is now),
    /// or its player already sent `perMinute` scores to the game in the last 60 seconds (their own: a trusted server's are
    /// neither limited nor counted; earlier ones of the same batch count). All or nothing: when one fails (a deleted
    /// account), nothing is stored.
    func insert(_ submissions: [NewScore], perMinute: Int) throws -> [Insertion]
    /// The player's submissions, newest first, before the cursor id.
    func history(userId: Int, game: String?, before: Int?, limit: Int) throws -> [ScoreEntry]
    /// Per player, how many different games they played in `[from, to)` (epoch seconds).
    func gamesPlayed(userIds: [Int], from: Int, to: Int) throws -> [Int: Int]
    /// The report computed from every score of `games` in the range: each player's best single score, in
    /// descending order of score or, `ascending`, ascending; ties by user id. Of a player's equal bests, the one of
    /// the earliest day, then of the first game in `games`, then the earliest (as the index's report names it). For
    /// ranges older than the index keeps, and for games whose boards hold something else than a best score.
    func topPlayers(from: Int, to: Int, games: [String], ascending: Bool, limit: Int) throws -> [TopScore]
    /// The ids of scores above `id`, oldest first, with whether they are older than one second (by then the worker that
    /// stored one has most likely applied it itself): what the reconciler checks every second, so no more than that.
    func pending(after id: Int, limit: Int) throws -> [(id: Int, isRipe: Bool)]
    /// The scores with these ids that the boards count (not deleted, not a banned player's), as the index needs them, in id order.
    func scores(ids: [Int]) throws -> [BoardIndex.Score]
}

/// A submission to store; `tokenKey` is the revocation key of the token that sent it, if any; `isTrusted` when a game
/// server sent it with an API key (the only submissions an authoritative game takes).
public struct NewScore: Sendable {
    public let userId: Int
    public let game: String
    public let score: Int
    public let idempotencyKey: String?
    public let tokenKey: String?
    public let isTrusted: Bool

    public init(userId: Int, game: String, score: Int, idempotencyKey: String?, tokenKey: String?, isTrusted: Bool = false) {
        self.userId = userId
        self.game = game
        self.score = score
        self.idempotencyKey = idempotencyKey
        self.tokenKey = tokenKey
        self.isTrusted = isTrusted
    }
}

/// What became of one submission in `ScoreStore.insert`.
public enum Insertion: Sendable {
    case stored(StoredScore)
    case revoked
    /// The player is banned: a token the ban could not revoke (the predecessor's carry no `jti`, so none was recorded as
    /// issued), or a game server's submission that crossed the ban.
    case banned
    case archived
    /// A player's own submission to a game that takes scores only from its servers.
    case authoritative
    case outOfBounds(min: Int, max: Int)
    /// The player's own submissions to the game in the last minute reached the limit; the oldest of them leaves the
    /// minute in `retryAfterSeconds`.
    case rateLimited(retryAfterSeconds: Int)

    public var stored: StoredScore? {
        if case .stored(let row) = self { row } else { nil }
    }
}

/// A stored submission; `isReplay` when an earlier request with the same idempotency key stored it. `ranking`:
/// the game's, as the statement that stored it read it.
public struct StoredScore: Sendable {
    public let id: Int
    public let game: String
    public let score: Int
    public let epochSeconds: Int
    public let isReplay: Bool
    public let ranking: Ranking

    public init(id: Int, game: String, score: Int, epochSeconds: Int, isReplay: Bool, ranking: Ranking = .standard) {
        self.id = id
        self.game = game
        self.score = score
        self.epochSeconds = epochSeconds
        self.isReplay = isReplay
        self.ranking = ranking
    }
}

public struct PostgresScoreStore: ScoreStore {
    let database: PostgresConnection
    /// How long `topPlayers` may run before PostgreSQL cancels it (see `defaultReportTimeout`).
    let reportTimeout: Duration

    /// A report made from PostgreSQL reads every score of its range, and anyone may ask for one: without a bound, one
    /// over years of a large dataset would hold a worker and a backend for as long as it takes (and nginx stops
    /// waiting after 60 s). Past it the statement is cancelled and the caller refused (503).
    public static let defaultReportTimeout: Duration = .seconds(10)

    public init(database: PostgresConnection, reportTimeout: Duration = defaultReportTimeout) {
        self.database = database
        self.reportTimeout = reportTimeout
    }

    /// One statement, one round trip, one commit for the whole batch: the revocation checks (PostgreSQL
    /// holds every revocation), the game's checks (against the `games` row itself, so an admin's change counts
    /// from the next submission on every process), the rate (the player's own scores of the last minute, so it holds
    /// for every process and while Redis is down), the inserts (ids drawn first, so each row is matched to its
    /// submission), and for an idempotency conflict the earlier row. A retry of a stored submission is answered
    /// as one, even if its game changed since, and is not counted.
    public func insert(_ submissions: [NewScore], perMinute: Int) throws -> [Insertion] {
        guard !submissions.isEmpty else { return [] }
        // Columns as arrays, so every batch size is one prepared statement (which PostgreSQL soon plans once
        // for all); an absent key is '' (never a real one: keys are 1 to 200 bytes, tokens are never empty).
        let rows = try database.query(
            Self.insertStatement,
            [
                submissions.map(\.userId), submissions.map(\.game), submissions.map(\.score),
                submissions.map { $0.idempotencyKey ?? "" }, submissions.map { $0.tokenKey ?? "" }, submissions.map(\.isTrusted),
                perMinute,
            ], prepared: true)
        guard rows.count == submissions.count else { throw PostgresError.unexpectedResult("score insert returned \(rows.count) rows") }
        return try zip(submissions, rows).map { submission, row in
            switch try row.string("refusal") {
            case "revoked": return .revoked
            case "banned": return .banned
            case "archived": return .archived
            case "authoritative": return .authoritative
            case "bounds": return .outOfBounds(min: try row.requiredInt("min_score"), max: try row.requiredInt("max_score"))
            case "rate": return .rateLimited(retryAfterSeconds: try row.requiredInt("retry_after"))
            default: break
            }
            if try row.int("id") != nil { return .stored(try Self.stored(row, isReplay: try row.bool("replay") ?? false)) }
            // The conflicting row was committed after this statement's snapshot was taken (a concurrent
            // retry, or a retry in the same batch): a new statement sees it.
            let earlier = try database.query(
                """
                SELECT s.id, s.game, s.score, floor(extract(epoch FROM s.created_at))::bigint AS epoch, \(Self.rankingColumns)
                FROM scores s JOIN games g ON g.slug = s.game WHERE s.user_id = $1 AND s.idempotency_key = $2
                """,
                [submission.userId, submission.idempotencyKey])
            guard let row = earlier.first else { throw PostgresError.unexpectedResult("idempotent insert found no row") }
            return .stored(try Self.stored(row, isReplay: true))
        }
    }

    /// A game's ranking settings, from `games g`.
    static let rankingColumns = "g.sort_order, g.rule, g.tie_break, g.in_global"

    /// The batch insert: $1 to $6 are the columns user id, game, score, idempotency key, token key and whether trusted;
    /// $7 the submissions a player may send a game per minute. A player's count is what the statement sees committed
    /// (at most $7 rows of `scores_player_rate_idx`) and the earlier rows of the batch: exact for a process, which stores
    /// one batch at a time; two processes storing the same player's scores at the same moment may each take one more.
    static let insertStatement = """
        WITH input AS (
            SELECT position, user_id, game, score, nullif(idempotency_key, '') AS idempotency_key, nullif(token_key, '') AS token_key,
                trusted
            FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::boolean[])
                WITH ORDINALITY AS columns (user_id, game, score, idempotency_key, token_key, trusted, position)
        ), players AS (
            -- Locked as the foreign key locks them, before the checks: a ban, which locks the player's row to set it,
            -- is seen once it commits, where this statement's snapshot would still show the player unbanned.
            SELECT u.id, u.banned_at IS NOT NULL AS banned FROM users u WHERE u.id = ANY($1::bigint[]) FOR KEY SHARE
        ), checked AS (
            SELECT input.*, g.min_score, g.max_score, \(rankingColumns),
                greatest(1, ceil(extract(epoch FROM recent.oldest + interval '60 seconds' - now())))::bigint AS retry_after,
                CASE
                    WHEN EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.token_key = input.token_key AND r.expires_at > now()) THEN 'revoked'
                    WHEN players.banned THEN 'banned'
                    WHEN input.idempotency_key IS NOT NULL AND EXISTS (
                        SELECT 1 FROM scores e WHERE e.user_id = input.user_id AND e.idempotency_key = input.idempotency_key) THEN NULL
                    WHEN g.archived THEN 'archived'
                    WHEN g.authoritative AND NOT input.trusted THEN 'authoritative'
                    WHEN input.score NOT BETWEEN g.min_score AND g.max_score THEN 'bounds'
                    WHEN NOT input.trusted AND recent.count + count(*) FILTER (WHERE NOT input.trusted) OVER (
                        PARTITION BY input.user_id, input.game ORDER BY input.position ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                    ) >= $7 THEN 'rate'
                END AS refusal
            FROM input JOIN games g ON g.slug = input.game
            LEFT JOIN players ON players.id = input.user_id
            CROSS JOIN LATERAL (
                SELECT count(*) AS count, coalesce(min(created_at), now()) AS oldest FROM (
                    SELECT r.created_at FROM scores r
                    WHERE NOT input.trusted AND NOT r.trusted AND r.user_id = input.user_id AND r.game = input.game
                        AND r.created_at > now() - interval '60 seconds'
                    ORDER BY r.created_at DESC LIMIT $7
                ) newest
            ) recent
        ), accepted AS (
            SELECT checked.*, nextval('scores_id_seq') AS id FROM checked WHERE refusal IS NULL
        ), inserted AS (
            INSERT INTO scores (id, user_id, game, score, idempotency_key, trusted)
            SELECT id, user_id, game, score, idempotency_key, trusted FROM accepted
            ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id, game, score, created_at
        )
        SELECT checked.refusal, checked.min_score, checked.max_score, checked.retry_after, checked.sort_order, checked.rule, checked.tie_break,
               checked.in_global, coalesce(inserted.id, earlier.id) AS id,
               coalesce(inserted.game, earlier.game) AS game, coalesce(inserted.score, earlier.score) AS score,
               floor(extract(epoch FROM coalesce(inserted.created_at, earlier.created_at)))::bigint AS epoch,
               inserted.id IS NULL AS replay
        FROM input
        LEFT JOIN checked ON checked.position = input.position
        LEFT JOIN accepted ON accepted.position = input.position
        LEFT JOIN inserted ON inserted.id = accepted.id
        LEFT JOIN scores earlier ON inserted.id IS NULL AND earlier.user_id = accepted.user_id
            AND earlier.idempotency_key = accepted.idempotency_key
        ORDER BY input.position
        """

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
            SELECT user_id, count(DISTINCT game) AS games FROM scores s
            WHERE user_id = ANY($1::bigint[]) AND created_at >= to_timestamp($2) AND created_at < to_timestamp($3)
                AND \(IndexRebuilder.countedScores)
            GROUP BY user_id
            """, [userIds, from, to])
        var games: [Int: Int] = [:]
        for row in rows { games[try row.requiredInt("user_id")] = try row.requiredInt("games") }
        return games
    }

    public func topPlayers(from: Int, to: Int, games: [String], ascending: Bool, limit: Int) throws -> [TopScore] {
        let milliseconds = Int(reportTimeout / .milliseconds(1))
        do {
            return try database.transaction {
                // Local to this transaction: the connection's other statements keep no timeout.
                try database.query("SELECT set_config('statement_timeout', $1, true)", ["\(milliseconds)ms"])
                return try bestOfEachPlayer(from: from, to: to, games: games, ascending: ascending, limit: limit)
            }
        } catch let error as PostgresError where error.sqlState == "57014" {
            throw ServiceError.unavailable("the report took longer than \(reportTimeout) to make; ask for a shorter range")
        }
    }

    private func bestOfEachPlayer(from: Int, to: Int, games: [String], ascending: Bool, limit: Int) throws -> [TopScore] {
        try database.query(
            """
            WITH best AS (
                SELECT DISTINCT ON (user_id) user_id, game, score, created_at, CASE WHEN $5 THEN -score ELSE score END AS rank_value
                FROM scores s
                WHERE created_at >= to_timestamp($1) AND created_at < to_timestamp($2) AND game = ANY($3::text[])
                    AND \(IndexRebuilder.countedScores)
                ORDER BY user_id, rank_value DESC, (created_at AT TIME ZONE 'UTC')::date, array_position($3::text[], game), created_at, id
            )
            SELECT b.user_id, u.name, b.game, b.score, floor(extract(epoch FROM b.created_at))::bigint AS epoch
            FROM best b JOIN users u ON u.id = b.user_id
            ORDER BY b.rank_value DESC, b.user_id LIMIT $4
            """, [from, to, games, limit, ascending]
        ).map { row in
            TopScore(
                userId: try row.requiredInt("user_id"), name: try row.requiredString("name"), score: try row.requiredInt("score"),
                game: try row.requiredString("game"), epochSeconds: try row.requiredInt("epoch"))
        }
    }

    public func pending(after id: Int, limit: Int) throws -> [(id: Int, isRipe: Bool)] {
        try database.query(
            "SELECT id, created_at < now() - interval '1 second' AS ripe FROM scores WHERE id > $1 ORDER BY id LIMIT $2", [id, limit],
            prepared: true
        ).map { row in (try row.requiredInt("id"), try row.bool("ripe") ?? false) }
    }

    public func scores(ids: [Int]) throws -> [BoardIndex.Score] {
        guard !ids.isEmpty else { return [] }
        return try database.query(
            """
            SELECT s.id, s.user_id, u.name, s.game, s.score, floor(extract(epoch FROM s.created_at))::bigint AS epoch, \(Self.rankingColumns)
            FROM scores s JOIN users u ON u.id = s.user_id JOIN games g ON g.slug = s.game
            WHERE s.id = ANY($1::bigint[]) AND \(IndexRebuilder.countedScores) ORDER BY s.id
            """, [ids]
        ).map { row in
            BoardIndex.Score(
                id: try row.requiredInt("id"), userId: try row.requiredInt("user_id"), name: try row.requiredString("name"),
                game: try row.requiredString("game"), score: try row.requiredInt("score"), epochSeconds: try row.requiredInt("epoch"),
                ranking: try Self.ranking(row))
        }
    }

    private static func stored(_ row: PostgresRow, isReplay: Bool) throws -> StoredScore {
        StoredScore(
            id: try row.requiredInt("id"), game: try row.requiredString("game"), score: try row.requiredInt("score"),
            epochSeconds: try row.requiredInt("epoch"), isReplay: isReplay, ranking: try ranking(row))
    }

    /// The ranking from `rankingColumns`.
    static func ranking(_ row: PostgresRow) throws -> Ranking {
        guard let order = ScoreOrder(rawValue: try row.requiredString("sort_order")), let rule = ScoreRule(rawValue: try row.requiredString("rule")),
            let tieBreak = TieBreak(rawValue: try row.requiredString("tie_break"))
        else { throw PostgresError.unexpectedResult("a game's ranking settings") }
        return Ranking(order: order, rule: rule, tieBreak: tieBreak, inGlobal: try row.bool("in_global") ?? false)
    }
}
