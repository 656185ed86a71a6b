import Foundation

/// Bans and unbans players, deletes and restores scores, and lists what admins look at (players, a player's scores,
/// the audit log): for the admin API and `leaderboardctl` alike.
///
/// Each action is one PostgreSQL transaction: it locks the player's row (a score's insert shares that lock through
/// its foreign key, so the player's new submissions wait), changes the rows, writes the audit row, recomputes the
/// player's entries from PostgreSQL (`PlayerEntries`) and sets them in the index, and only then commits. When Redis
/// fails, the transaction rolls back and the error says Redis is unavailable (503): nothing is half done. When Redis
/// holds no index (flushed, restarted empty) the change commits: the rebuild that follows reads it from PostgreSQL.
public final class PlayerModeration {
    static let maximumReasonLength = 500
    public static let maximumPageSize = 100

    private let database: PostgresConnection
    private let redis: RedisConnection
    private let index: BoardIndex

    public init(connections: StoreConnections) {
        (database, redis) = (connections.database, connections.redis)
        index = BoardIndex(redis: redis)
    }

    // MARK: Bans

    /// Bans the player: refuses their login (403) and every token they hold, and takes them off every board. Banning a
    /// banned player changes nothing (and writes no audit row); an admin cannot be banned (revoke the role first).
    public func ban(userId: Int, reason: String?, actor: String) throws -> ModeratedUser {
        let reason = try Self.requiredReason(reason)
        return try changePlayer(userId) { user in
            if user.role == .admin { throw ServiceError.conflict("an administrator cannot be banned; revoke the admin role first") }
            guard user.bannedAt == nil else { return nil }
            try database.query("UPDATE users SET banned_at = now(), banned_reason = $2, updated_at = now() WHERE id = $1", [userId, reason])
            let commands = try revokeEverything(of: userId, because: "ban").commands
            try AuditEntry.insert(
                AuditEntry(
                    actor: actor, action: "user.ban", target: "user:\(userId)", reason: reason,
                    changes: ["banned": AuditChange(before: .flag(false), after: .flag(true))]), on: database)
            return commands
        }
    }

    /// Signs the player out everywhere without banning them (a stolen device, a leaked password): every token and session
    /// they hold is revoked, their sockets close with 1008, and they log in again. A player with nothing left to revoke is
    /// left as is, and nothing is audited.
    public func signOut(userId: Int, reason: String?, actor: String) throws -> ModeratedUser {
        let reason = try Self.requiredReason(reason)
        return try changePlayer(userId) { _ in
            let (commands, sessions) = try revokeEverything(of: userId, because: "sign-out")
            guard !commands.isEmpty || sessions > 0 else { return nil }
            try AuditEntry.insert(
                AuditEntry(actor: actor, action: "user.sign-out", target: "user:\(userId)", reason: reason, changes: [:]), on: database)
            return commands
        }
    }

    /// Revokes every token issued to the player and still valid, as logout revokes one, and every session (refresh token
    /// family); returns the Redis commands that cache the revocations, and how many sessions it ended.
    private func revokeEverything(of userId: Int, because why: String) throws -> (commands: [[String]], sessions: Int) {
        let revoked = try database.query(
            """
            INSERT INTO revoked_tokens (token_key, expires_at)
            SELECT token_key, expires_at FROM issued_tokens WHERE user_id = $1 AND expires_at > now()
            ON CONFLICT (token_key) DO NOTHING
            RETURNING token_key, extract(epoch FROM expires_at)::bigint AS expires
            """, [userId])
        let sessions = try database.query(
            "UPDATE refresh_families SET revoked_at = now(), revoked_reason = $2 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
            [userId, why])
        let commands = try revoked.map { row in
            ["SET", RedisKeys.revokedToken(try row.requiredString("token_key")), "1", "EXAT", String(try row.requiredInt("expires"))]
        }
        return (commands, sessions.count)
    }

    /// Lifts a ban: the player may log in again and their entries come back as PostgreSQL computes them. The tokens the
    /// ban revoked stay revoked.
    public func unban(userId: Int, reason: String?, actor: String) throws -> ModeratedUser {
        let reason = try Self.requiredReason(reason)
        return try changePlayer(userId) { user in
            guard user.bannedAt != nil else { return nil }
            try database.query("UPDATE users SET banned_at = NULL, banned_reason = NULL, updated_at = now() WHERE id = $1", [userId])
            try AuditEntry.insert(
                AuditEntry(
                    actor: actor, action: "user.unban", target: "user:\(userId)", reason: reason,
                    changes: ["banned": AuditChange(before: .flag(true), after: .flag(false))]), on: database)
            return []
        }
    }

    /// The player with this e-mail (any letter case), for `leaderboardctl users ban|unban EMAIL`.
    public func userId(email: String) throws -> Int {
        let rows = try database.query(#"SELECT id FROM users WHERE lower(email COLLATE "und-x-icu") = lower($1 COLLATE "und-x-icu")"#, [email])
        guard let row = rows.first else { throw ServiceError.notFound("no account with the e-mail '\(email)'") }
        return try row.requiredInt("id")
    }

    /// Locks the player, lets `change` change their rows (nil: nothing to change; else the Redis commands that go with
    /// the change, sent before the entries), then sets their entries and commits.
    private func changePlayer(_ userId: Int, _ change: (ModeratedUser) throws -> [[String]]?) throws -> ModeratedUser {
        try database.transaction {
            guard let user = try lockPlayer(userId) else { throw ServiceError.notFound("unknown user \(userId)") }
            guard let commands = try change(user) else { return user }
            if !commands.isEmpty { try redis.pipelineOrThrow(commands) }
            try replaceEntries(userId: userId)
            return try self.user(userId)!
        }
    }

    // MARK: Scores

    /// Soft-deletes a score: it stops counting on every board it was on; deleting a deleted score changes nothing.
    public func deleteScore(id: Int, reason: String?, actor: String) throws -> ModeratedScore {
        let reason = try Self.requiredReason(reason)
        return try changeScore(id) { score in
            guard score.deletedAt == nil else { return false }
            try database.query(
                "UPDATE scores SET deleted_at = now(), deleted_by = $2, deleted_reason = $3 WHERE id = $1", [id, actor, reason])
            try AuditEntry.insert(
                AuditEntry(
                    actor: actor, action: "score.delete", target: "score:\(id)", reason: reason,
                    changes: ["deleted": AuditChange(before: .flag(false), after: .flag(true))]), on: database)
            return true
        }
    }

    /// Brings a deleted score back on every board it counts on; restoring a score not deleted changes nothing.
    public func restoreScore(id: Int, reason: String?, actor: String) throws -> ModeratedScore {
        let reason = try Self.requiredReason(reason)
        return try changeScore(id) { score in
            guard score.deletedAt != nil else { return false }
            try database.query("UPDATE scores SET deleted_at = NULL, deleted_by = NULL, deleted_reason = NULL WHERE id = $1", [id])
            try AuditEntry.insert(
                AuditEntry(
                    actor: actor, action: "score.restore", target: "score:\(id)", reason: reason,
                    changes: ["deleted": AuditChange(before: .flag(true), after: .flag(false))]), on: database)
            return true
        }
    }

    private func changeScore(_ id: Int, _ change: (ModeratedScore) throws -> Bool) throws -> ModeratedScore {
        try database.transaction {
            guard let owner = try database.query("SELECT user_id FROM scores WHERE id = $1", [id]).first?.requiredInt("user_id"),
                try lockPlayer(owner) != nil, let score = try scores(where: "s.id = $1", [id], limit: 1).first
            else { throw ServiceError.notFound("unknown score \(id)") }
            guard try change(score) else { return score }
            try replaceEntries(userId: owner)
            return try scores(where: "s.id = $1", [id], limit: 1)[0]
        }
    }

    // MARK: The engine

    /// Locks the player's row (and, shared, the rebuild's lock: see `IndexRebuilder.rebuild`); nil when there is none.
    private func lockPlayer(_ userId: Int) throws -> ModeratedUser? {
        try database.query("SELECT pg_advisory_xact_lock_shared($1)", [IndexRebuilder.lockID])
        guard try !database.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [userId]).isEmpty else { return nil }
        return try user(userId)
    }

    /// Sets the player's entries in the index as PostgreSQL now computes them; nothing when no index is built.
    private func replaceEntries(userId: Int) throws {
        guard let generation = try index.generation() else { return }
        let watermark = try index.watermark(generation: generation)
        let entries = try PlayerEntries(database: database).entries(userId: userId)
        let scoreIds = try database.query("SELECT id FROM scores WHERE user_id = $1 AND id > $2", [userId, watermark]).map {
            try $0.requiredInt("id")
        }
        let name = try database.query("SELECT name FROM users WHERE id = $1", [userId])[0].requiredString("name")
        do {
            try index.replaceEntries(userId: userId, name: name, scoreIds: scoreIds, entries: entries)
        } catch .notBuilt {
            return
        }
    }

    // MARK: Listings

    public func user(_ id: Int) throws -> ModeratedUser? {
        try users(where: "id = $1", [id], limit: 1).first
    }

    /// Players whose e-mail or name starts with `query` (any letter case), newest first, before the cursor id.
    public func users(query: String?, before: Int?, limit: Int) throws -> CursorPage<ModeratedUser> {
        let users = try users(
            where: """
                ($1::text IS NULL OR starts_with(lower(email COLLATE "und-x-icu"), lower($1 COLLATE "und-x-icu"))
                    OR starts_with(lower(name COLLATE "und-x-icu"), lower($1 COLLATE "und-x-icu")))
                AND ($2::bigint IS NULL OR id < $2)
                """, [query, before], limit: limit + 1)
        return CursorPage(users, limit: limit, id: \.id)
    }

    /// The player's scores, deleted ones too, newest first, before the cursor id; not found for an unknown player.
    public func scores(userId: Int, game: String?, before: Int?, limit: Int) throws -> CursorPage<ModeratedScore> {
        guard try user(userId) != nil else { throw ServiceError.notFound("unknown user \(userId)") }
        let scores = try scores(
            where: "s.user_id = $1 AND ($2::text IS NULL OR s.game = $2) AND ($3::bigint IS NULL OR s.id < $3)", [userId, game, before],
            limit: limit + 1)
        return CursorPage(scores, limit: limit, id: \.id)
    }

    /// The audit log, newest first, before the cursor id.
    public func audit(before: Int?, limit: Int) throws -> CursorPage<AuditRecord> {
        let entries = try database.query(
            """
            SELECT id, \(Self.timestamp("at")) AS at, actor, action, target, reason, details::text AS details FROM audit_log
            WHERE $1::bigint IS NULL OR id < $1 ORDER BY id DESC LIMIT $2
            """, [before, limit + 1]
        ).map { row in
            AuditRecord(
                id: try row.requiredInt("id"), at: try row.requiredString("at"), actor: try row.requiredString("actor"),
                action: try row.requiredString("action"), target: try row.requiredString("target"), reason: try row.string("reason"),
                details: try JSONDecoder().decode([String: AuditChange].self, from: Data(try row.requiredString("details").utf8)))
        }
        return CursorPage(entries, limit: limit, id: \.id)
    }

    private func users(where condition: String, _ parameters: [(any PostgresBindable)?], limit: Int) throws -> [ModeratedUser] {
        try database.query(
            """
            SELECT id, name, email, role, \(Self.timestamp("created_at")) AS created, \(Self.timestamp("banned_at")) AS banned_at,
                banned_reason
            FROM users WHERE \(condition) ORDER BY id DESC LIMIT \(limit)
            """, parameters
        ).map { row in
            let role = try row.requiredString("role")
            return ModeratedUser(
                id: try row.requiredInt("id"), name: try row.requiredString("name"), email: try row.requiredString("email"),
                role: Role(rawValue: role) ?? .player, createdAt: try row.requiredString("created"), bannedAt: try row.string("banned_at"),
                bannedReason: try row.string("banned_reason"))
        }
    }

    private func scores(where condition: String, _ parameters: [(any PostgresBindable)?], limit: Int) throws -> [ModeratedScore] {
        try database.query(
            """
            SELECT s.id, s.user_id, s.game, s.score, \(Self.timestamp("s.created_at")) AS created,
                \(Self.timestamp("s.deleted_at")) AS deleted_at, s.deleted_by, s.deleted_reason
            FROM scores s WHERE \(condition) ORDER BY s.id DESC LIMIT \(limit)
            """, parameters
        ).map { row in
            ModeratedScore(
                id: try row.requiredInt("id"), userId: try row.requiredInt("user_id"), game: try row.requiredString("game"),
                score: try row.requiredInt("score"), createdAt: try row.requiredString("created"), deletedAt: try row.string("deleted_at"),
                deletedBy: try row.string("deleted_by"), deletedReason: try row.string("deleted_reason"))
        }
    }

    /// A timestamp column as the API writes times: `2026-12-05T00:13:02.123Z`.
    private static func timestamp(_ column: String) -> String {
        #"to_char(\#(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#
    }

    /// The reason every moderation action needs: 1 to 500 characters.
    static func requiredReason(_ reason: String?) throws -> String {
        guard let reason else { throw ServiceError.validation(field: "reason", "field required") }
        let errors = GameAdmin.reasonErrors(reason)
        guard errors.isEmpty else { throw ServiceError.validation(errors) }
        return reason
    }
}

/// A player as admins see them.
public struct ModeratedUser: Encodable, Sendable, Equatable {
    public let id: Int
    public let name: String
    public let email: String
    public let role: Role
    public let createdAt: String
    public let bannedAt: String?
    public let bannedReason: String?

    public var isBanned: Bool { bannedAt != nil }

    enum CodingKeys: String, CodingKey { case id, name, email, role, banned, createdAt, bannedAt, bannedReason }

    /// Nulls are written, so clients can test for them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(email, forKey: .email)
        try container.encode(role, forKey: .role)
        try container.encode(isBanned, forKey: .banned)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(bannedAt, forKey: .bannedAt)
        try container.encode(bannedReason, forKey: .bannedReason)
    }
}

/// A score as admins see it, deleted or not.
public struct ModeratedScore: Encodable, Sendable, Equatable {
    public let id: Int
    public let userId: Int
    public let game: String
    public let score: Int
    public let createdAt: String
    public let deletedAt: String?
    /// The actor who deleted it (`user:<id>`, `leaderboardctl`).
    public let deletedBy: String?
    public let deletedReason: String?

    enum CodingKeys: String, CodingKey { case id, userId, game, score, createdAt, deletedAt, deletedBy, deletedReason }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(userId, forKey: .userId)
        try container.encode(game, forKey: .game)
        try container.encode(score, forKey: .score)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(deletedAt, forKey: .deletedAt)
        try container.encode(deletedBy, forKey: .deletedBy)
        try container.encode(deletedReason, forKey: .deletedReason)
    }
}

/// One row of `audit_log` as admins read it: `details` holds each changed field's value before and after.
public struct AuditRecord: Encodable, Sendable, Equatable {
    public let id: Int
    public let at: String
    public let actor: String
    public let action: String
    public let target: String
    public let reason: String?
    public let details: [String: AuditChange]

    enum CodingKeys: String, CodingKey { case id, at, actor, action, target, reason, details }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(at, forKey: .at)
        try container.encode(actor, forKey: .actor)
        try container.encode(action, forKey: .action)
        try container.encode(target, forKey: .target)
        try container.encode(reason, forKey: .reason)
        try container.encode(details, forKey: .details)
    }
}
