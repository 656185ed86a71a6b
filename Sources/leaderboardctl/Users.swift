import ArgumentParser
import LeaderboardCore

struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give accounts the admin role or take it away; ban and unban players; sign a player out everywhere.",
        discussion: """
            Admins may create and edit games over the API (POST /admin/games, PATCH /admin/games/{slug}). The role is read \
            from PostgreSQL on every admin request, so a revoked admin is refused (403) from the next request on; their \
            token keeps working as a player's. Each change is recorded in audit_log (actor leaderboardctl).

            A banned player cannot log in (403), every token they hold is revoked (their sockets close with 1008), and \
            they leave every board, report and live view at once; unban brings back their entries as their scores in \
            PostgreSQL give them. Nothing is erased. A ban also ends every session (refresh token) of the player, and \
            unban brings none back. sign-out ends every token and session of a player without banning them.
            """,
        subcommands: [GrantAdmin.self, RevokeAdmin.self, Ban.self, Unban.self, SignOut.self])
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

struct Ban: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ban the player with this e-mail.")

    @Argument(help: "The account's e-mail (any letter case).")
    var email: String

    @Option(help: "Why, for the audit log (1 to 500 characters).")
    var reason: String

    func run() throws {
        let moderation = makeModeration()
        report(try moderation.ban(userId: try moderation.userId(email: email), reason: reason, actor: AuditEntry.shellActor), "banned")
    }
}

struct SignOut: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-out",
        abstract: "Revoke every token and session of the player with this e-mail, without banning them.",
        discussion: """
            Every access token issued to the player is revoked (their sockets close with 1008 within 15 s) and every \
            refresh token family (session) too, so each of their devices must log in again. Recorded in audit_log.
            """)

    @Argument(help: "The account's e-mail (any letter case).")
    var email: String

    @Option(help: "Why, for the audit log (1 to 500 characters).")
    var reason: String

    func run() throws {
        let moderation = makeModeration()
        report(try moderation.signOut(userId: try moderation.userId(email: email), reason: reason, actor: AuditEntry.shellActor), "signed out")
    }
}

struct Unban: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lift the ban of the player with this e-mail.")

    @Argument(help: "The account's e-mail (any letter case).")
    var email: String

    @Option(help: "Why, for the audit log (1 to 500 characters).")
    var reason: String

    func run() throws {
        let moderation = makeModeration()
        report(try moderation.unban(userId: try moderation.userId(email: email), reason: reason, actor: AuditEntry.shellActor), "unbanned")
    }
}

private func setRole(_ role: Role, email: String) throws {
    let config = Startup.loadConfig(program: "leaderboardctl")
    let users = PostgresUserStore(database: StoreConnections(config: config).database)
    guard let account = try users.setRole(role, email: email, actor: AuditEntry.shellActor) else {
        throw ServiceError.notFound("no account has the e-mail '\(email)'")
    }
    print("\(account.email) (user \(account.id)) is now \(account.role == .admin ? "an admin" : "a player")")
}
