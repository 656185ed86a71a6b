import ArgumentParser
import Foundation
import LeaderboardCore

struct Games: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add, edit and archive games, as admins do over the API.",
        discussion: """
            Each change is validated as the API validates it and recorded in audit_log (actor leaderboardctl) in the same \
            transaction. The api processes list a change at once; the boards follow the new ranking settings by themselves.

            A game's settings:
              label          the name players see, 1 to 100 characters
              position       where /games lists it, lowest first (default: after the last game)
              order          desc: higher is better (default); asc: lower is better (race times)
              rule           a player's entry on a board: best (their best score, default), latest (their last
                             accepted one) or sum (the total of all of them: XP, kills); period boards apply it
                             within their period
              min/max score  inclusive bounds of an accepted score (default 0 and 1000000000), each within
                             ±(2^53 - 1); a score outside gets 422
              tie-break      shared: equal entries share a rank ("1224", default); earliest: unique ranks, the
                             player who reached the entry first ranks higher
              in-global      whether the game counts toward the global board `all` (default true; an asc game
                             cannot, and is taken out of it when given --order asc alone)
              format         how clients show a score: integer (default) or time_ms (m:ss.mmm)
              authoritative  only trusted game servers (API keys) may submit (default false)
              archived       hidden from /games and refusing submissions (409); its boards stay readable

            order and rule are fixed once the game has a score: make a new game instead.
            """,
        subcommands: [List.self, Add.self, Edit.self, Archive.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every game, archived ones too, in order.")

        @Flag(help: "Print the games as a JSON array of the API's Game objects.")
        var json = false

        func run() throws {
            let games = try makeAdmin().games()
            if json {
                print(String(decoding: try JSONCoding.encode(games), as: UTF8.self))
                return
            }
            let header = [
                "slug", "label", "position", "order", "rule", "minScore", "maxScore", "tieBreak", "inGlobal", "format", "authoritative", "archived",
            ]
            let rows = games.map { game in
                [
                    game.slug, game.label, String(game.position), game.order.rawValue, game.rule.rawValue, String(game.minScore),
                    String(game.maxScore), game.tieBreak.rawValue, String(game.inGlobal), game.format.rawValue, String(game.authoritative),
                    String(game.archived),
                ]
            }
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a game.", discussion: "Example: leaderboardctl games add kart --label 'Kart Racing' --order asc --format time_ms")

        @Argument(help: "The game's slug: 1 to 32 of a-z, 0-9, '_' and '-'; not 'all'. It names the game in every URL and never changes.")
        var slug: String

        @OptionGroup var settings: SettingOptions

        func run() throws {
            report(try makeAdmin().create(slug: slug, settings: settings.settings, actor: AuditEntry.shellActor, reason: settings.reason), "created")
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change settings of a game; those not given stay as they are.",
            discussion: "Negative numbers need the = form: --min-score=-500.")

        @Argument(help: "The game's slug.")
        var slug: String

        @OptionGroup var settings: SettingOptions

        func run() throws {
            report(try makeAdmin().update(slug: slug, settings: settings.settings, actor: AuditEntry.shellActor, reason: settings.reason), "updated")
        }
    }

    struct Archive: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Archive a game: hidden from /games, refusing submissions (409), its boards still readable.",
            discussion: "To bring it back: leaderboardctl games edit SLUG --archived false.")

        @Argument(help: "The game's slug.")
        var slug: String

        @Option(help: "Why, for the audit log (1 to 500 characters).")
        var reason: String?

        func run() throws {
            report(
                try makeAdmin().update(slug: slug, settings: GameSettings(archived: true), actor: AuditEntry.shellActor, reason: reason), "archived")
        }
    }
}

/// The settings `games add` and `games edit` take (see `leaderboardctl games --help`).
struct SettingOptions: ParsableArguments {
    @Option(help: "The name players see, 1 to 100 characters (required by add).")
    var label: String?

    @Option(help: "Where /games lists the game, lowest first (add: after the last game).")
    var position: Int?

    @Option(help: "desc: higher is better; asc: lower is better (race times). Fixed once the game has a score.")
    var order: ScoreOrder?

    @Option(help: "A player's entry: best, latest or sum of their scores. Fixed once the game has a score.")
    var rule: ScoreRule?

    @Option(help: "The lowest score accepted, within ±(2^53 - 1) (add: 0).")
    var minScore: Int?

    @Option(help: "The highest score accepted, within ±(2^53 - 1) (add: 1000000000).")
    var maxScore: Int?

    @Option(help: "shared: equal entries share a rank; earliest: whoever reached the entry first ranks higher.")
    var tieBreak: TieBreak?

    @Option(help: "Whether the game counts toward the global board: true or false (never true for asc games).")
    var inGlobal: Bool?

    @Option(help: "How clients show a score: integer or time_ms (m:ss.mmm).")
    var format: ScoreFormat?

    @Option(help: "Whether only trusted game servers (API keys) may submit: true or false.")
    var authoritative: Bool?

    @Option(help: "Whether the game is archived: true or false.")
    var archived: Bool?

    @Option(help: "Why, for the audit log (1 to 500 characters).")
    var reason: String?

    var settings: GameSettings {
        GameSettings(
            label: label, position: position, order: order, rule: rule, minScore: minScore, maxScore: maxScore, tieBreak: tieBreak,
            inGlobal: inGlobal, format: format, authoritative: authoritative, archived: archived)
    }
}

extension ScoreOrder: ExpressibleByArgument {}
extension ScoreRule: ExpressibleByArgument {}
extension TieBreak: ExpressibleByArgument {}
extension ScoreFormat: ExpressibleByArgument {}

private func makeAdmin() -> GameAdmin {
    let config = Startup.loadConfig(program: "leaderboardctl")
    return GameAdmin(store: PostgresGameAdminStore(database: StoreConnections(config: config).database))
}

private func report(_ game: Game, _ what: String) {
    print("\(what) \(game.slug): \(String(decoding: (try? JSONCoding.encode(game)) ?? [], as: UTF8.self))")
}
