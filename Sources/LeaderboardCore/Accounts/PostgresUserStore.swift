/// Accounts in the `users` table; the unique index on the e-mail folded to lower case (all of Unicode,
/// through ICU) settles concurrent signups.
public struct PostgresUserStore: UserStore {
    let database: PostgresConnection

    public init(database: PostgresConnection) {
        self.database = database
    }

    public func createUser(name: String, email: String, passwordHash: String) throws -> User? {
        do {
            let rows = try database.query(
                "INSERT INTO users (name, email, password) VALUES ($1, $2, $3) RETURNING id, name, email",
                [name, email, passwordHash])
            return try Self.user(rows[0])
        } catch let error as PostgresError where error.isUniqueViolation {
            return nil
        }
    }

    public func credentials(email: String) throws -> UserCredentials? {
        let rows = try database.query(
            #"SELECT id, name, email, password FROM users WHERE lower(email COLLATE "und-x-icu") = lower($1 COLLATE "und-x-icu")"#, [email])
        guard let row = rows.first else { return nil }
        return UserCredentials(user: try Self.user(row), passwordHash: try row.requiredString("password"))
    }

    public func account(id: Int) throws -> Account? {
        let rows = try database.query("SELECT id, name, email, role FROM users WHERE id = $1", [id])
        return try rows.first.map(Self.account)
    }

    public func setRole(_ role: Role, email: String, actor: String) throws -> Account? {
        try database.transaction {
            let rows = try database.query(
                #"SELECT id, name, email, role FROM users WHERE lower(email COLLATE "und-x-icu") = lower($1 COLLATE "und-x-icu") FOR UPDATE"#,
                [email])
            guard let row = rows.first else { return nil }
            let before = try Self.account(row)
            guard before.role != role else { return before }
            try database.query("UPDATE users SET role = $2, updated_at = now() WHERE id = $1", [before.id, role.rawValue])
            try AuditEntry.insert(
                AuditEntry(
                    actor: actor, action: "user.role", target: "user:\(before.id)", reason: nil,
                    changes: ["role": AuditChange(before: .text(before.role.rawValue), after: .text(role.rawValue))]),
                on: database)
            return Account(user: before.user, role: role)
        }
    }

    public func recordToken(_ tokenKey: String, userId: Int, expiresAt: Int) throws -> Bool {
        // FOR KEY SHARE waits for a ban in progress (which locks the row FOR UPDATE) and then reads the row as it
        // committed: a token is either recorded before the ban, which revokes it, or refused.
        try !database.query(
            """
            INSERT INTO issued_tokens (token_key, user_id, expires_at)
            SELECT $1, id, to_timestamp($3) FROM (SELECT id FROM users WHERE id = $2 AND banned_at IS NULL FOR KEY SHARE) player
            RETURNING 1
            """, [tokenKey, userId, expiresAt]
        ).isEmpty
    }

    private static func user(_ row: PostgresRow) throws -> User {
        User(id: try row.requiredInt("id"), name: try row.requiredString("name"), email: try row.requiredString("email"))
    }

    private static func account(_ row: PostgresRow) throws -> Account {
        let role = try row.requiredString("role")
        guard let known = Role(rawValue: role) else { throw PostgresError.unexpectedResult("users.role = '\(role)'") }
        return Account(user: try user(row), role: known)
    }
}
