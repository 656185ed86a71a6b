import ArgumentParser
import LeaderboardCore

struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give accounts the admin role, or take it away.",
        discussion: """
            Admins may create and edit games over the API (POST /admin/games, PATCH /admin/games/{slug}). The role is read \
            from PostgreSQL on every admin request, so a revoked admin is refused (403) from the next request on; their \
            token keeps working as a player's. Each change is recorded in audit_log (actor leaderboardctl).
            """,
        subcommands: [GrantAdmin.self, RevokeAdmin.self])
}

struct GrantAdmin: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "grant-admin", abstract: "Make the account with this e-mail an admin.")

    @Argument(help: "The account's e-mail (any letter case).")
    var email: String

    func run() throws { try setRole(.admin, email: email) }
}

struct RevokeAdmin: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke-admin", abstract: "Make the admin with this e-mail a player again.")

    @Argument(help: "The account's e-mail (any letter case).")
    var email: String

    func run() throws { try setRole(.player, email: email) }
}

private func setRole(_ role: Role, email: String) throws {
    let config = Startup.loadConfig(program: "leaderboardctl")
    let users = PostgresUserStore(database: StoreConnections(config: config).database)
    guard let account = try users.setRole(role, email: email, actor: AuditEntry.shellActor) else {
        throw ValidationError("no account has the e-mail '\(email)'")
    }
    print("\(account.email) (user \(account.id)) is now \(account.role == .admin ? "an admin" : "a player")")
}
