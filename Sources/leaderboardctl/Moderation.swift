import ArgumentParser
import Foundation
import LeaderboardCore

struct Scores: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete and restore scores, as admins do over the API.",
        discussion: """
            A deleted score stays in PostgreSQL (with who deleted it and why) but stops counting: the player's entry on \
            every board it counted on is computed again from their other scores, by the game's rule, and pushed live. \
            restore brings it back. Each change is recorded in audit_log (actor leaderboardctl).
            """,
        subcommands: [Delete.self, Restore.self])

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a score by its id.")

        @Argument(help: "The score's id.")
        var id: Int

        @Option(help: "Why, for the audit log (1 to 500 characters).")
        var reason: String

        func run() throws { report(try makeModeration().deleteScore(id: id, reason: reason, actor: AuditEntry.shellActor), "deleted") }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restore a deleted score by its id.")

        @Argument(help: "The score's id.")
        var id: Int

        @Option(help: "Why, for the audit log (1 to 500 characters).")
        var reason: String

        func run() throws { report(try makeModeration().restoreScore(id: id, reason: reason, actor: AuditEntry.shellActor), "restored") }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the audit log, newest first, a page at a time.")

    @Option(help: "Only entries older than this id (the 'next' of the page before).")
    var before: Int?

    @Option(help: "How many entries, 1 to \(PlayerModeration.maximumPageSize).")
    var limit = 20

    @Flag(help: "Print the page as JSON, as GET /admin/audit answers it.")
    var json = false

    func validate() throws {
        guard (1...PlayerModeration.maximumPageSize).contains(limit) else {
            throw ValidationError("--limit must be between 1 and \(PlayerModeration.maximumPageSize)")
        }
    }

    func run() throws {
        let page = try makeModeration().audit(before: before, limit: limit)
        if json {
            print(String(decoding: try JSONCoding.encode(page), as: UTF8.self))
            return
        }
        for entry in page.result {
            print("\(entry.id)  \(entry.at)  \(entry.actor)  \(entry.action)  \(entry.target)  \(entry.reason ?? "-")")
        }
        if let next = page.next { print("more: leaderboardctl audit --before \(next)") }
    }
}

func makeModeration() -> PlayerModeration {
    PlayerModeration(connections: StoreConnections(config: Startup.loadConfig(program: "leaderboardctl")))
}

func report(_ value: some Encodable, _ what: String) {
    print("\(what): \(String(decoding: (try? JSONCoding.encode(value)) ?? [], as: UTF8.self))")
}
