import ArgumentParser
import LeaderboardCore

struct ApiKeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-keys",
        abstract: "Create, list and revoke the API keys of trusted game servers, as admins do over the API.",
        discussion: """
            A game server submits scores for players with POST /api/v1/scores, `Authorization: Bearer <key>` and \
            {game, score, userId}; only keys may submit to an authoritative game, and keys are not rate-limited. The key is \
            printed once, when created: PostgreSQL keeps only its SHA-256. A revoked key is refused from the next request \
            on, on every api process. Each change is recorded in audit_log (actor leaderboardctl).
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it (this once).")

        @Argument(help: "A name that says whose key it is, 1 to 100 characters.")
        var name: String

        @Option(name: .customLong("game"), help: "A game the key may submit to (repeat for more; default: every game).")
        var games: [String] = []

        func run() throws {
            let created = try makeApiKeys().create(name: name, games: games.isEmpty ? nil : games, actor: AuditEntry.shellActor)
            print("created API key \(created.apiKey.id) (\(created.apiKey.name)) for \(describe(created.apiKey.games))")
            print(created.key)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every key (never the key itself), newest first.")

        func run() throws {
            for key in try makeApiKeys().list() {
                print(
                    [
                        String(key.id), key.prefix, key.name, describe(key.games), "created \(key.createdAt) by \(key.createdBy)",
                        "last used \(key.lastUsedAt ?? "never")", key.revoked ? "revoked" : "active",
                    ].joined(separator: "  "))
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: refused from the next request on.")

        @Argument(help: "The key's id (see list).")
        var id: Int

        func run() throws {
            let key = try makeApiKeys().revoke(id: id, actor: AuditEntry.shellActor)
            print("API key \(key.id) (\(key.prefix), \(key.name)) is revoked")
        }
    }
}

private func makeApiKeys() -> ApiKeys {
    let database = StoreConnections(config: Startup.loadConfig(program: "leaderboardctl")).database
    return ApiKeys(store: PostgresApiKeyStore(database: database), games: PostgresGameAdminStore(database: database))
}

private func describe(_ games: [String]?) -> String { games.map { "games " + $0.joined(separator: ",") } ?? "every game" }
