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

    public func user(id: Int) throws -> User? {
        let rows = try database.query("SELECT id, name, email FROM users WHERE id = $1", [id])
        return try rows.first.map(Self.user)
    }

    private static func user(_ row: PostgresRow) throws -> User {
        User(id: try row.requiredInt("id"), name: try row.requiredString("name"), email: try row.requiredString("email"))
    }
}
