/// Creates and changes games, for the admin API and `leaderboardctl games` alike: validates the settings, refuses what
/// can no longer change, and records every change in the audit log with its actor.
///
/// The ranking engine needs no word from here: it notices a game's ranking settings changed in PostgreSQL by itself.
public struct GameAdmin {
    static let maximumLabelLength = 100
    static let maximumReasonLength = 500
    static let maximumSlugLength = 32
    static let maximumPosition = Int(Int32.max)

    private let store: any GameAdminStore

    public init(store: any GameAdminStore) {
        self.store = store
    }

    /// The actor of changes made over the API by this account.
    public static func actor(for account: Account) -> String { "user:\(account.id)" }

    /// Every game, archived ones too, as stored now.
    public func games() throws -> [Game] { try store.games() }

    /// The game as stored now; not found when there is none.
    public func game(_ slug: String) throws -> Game {
        guard let game = try store.game(slug) else { throw ServiceError.notFound("unknown game '\(slug)'") }
        return game
    }

    /// A new game: `slug` and a label are required, every other setting has its default (position: after the last game).
    public func create(slug: String, settings: GameSettings, actor: String, reason: String? = nil) throws -> Game {
        var errors = Self.slugErrors(slug) + Self.reasonErrors(reason)
        if settings.label == nil { errors.append(FieldError(field: "label", message: "field required")) }
        // After the last game; at the last position there is when a game already holds it.
        let position = try settings.position ?? min((try store.games().map(\.position).max() ?? 0) + 1, Self.maximumPosition)
        let game = settings.applied(to: Game(slug: slug, label: settings.label ?? "", position: position))
        errors += Self.settingErrors(game, given: settings).filter { settings.label != nil || $0.field != "label" }
        guard errors.isEmpty else { throw ServiceError.validation(errors) }
        let audit = AuditEntry(actor: actor, action: "game.create", target: slug, reason: reason, changes: Self.changes(from: nil, to: game))
        guard try store.insert(game, audit: audit) else { throw ServiceError.conflict("a game with the slug '\(slug)' already exists") }
        return game
    }

    /// Changes the settings given. `order` and `rule` may change only while the game has no score (409 after).
    public func update(slug: String, settings: GameSettings, actor: String, reason: String? = nil) throws -> Game {
        let reasonErrors = Self.reasonErrors(reason)
        let updated = try store.update(slug) { current, isScored in
            let changed = settings.applied(to: current)
            let errors = reasonErrors + Self.settingErrors(changed, given: settings)
            guard errors.isEmpty else { throw ServiceError.validation(errors) }
            guard changed != current else { return nil }
            if changed.order != current.order || changed.rule != current.rule, try isScored() {
                throw ServiceError.conflict("'\(slug)' has scores: its order and rule can no longer change (create a new game instead)")
            }
            let audit = AuditEntry(
                actor: actor, action: "game.update", target: slug, reason: reason, changes: Self.changes(from: current, to: changed))
            return (changed, audit)
        }
        guard let updated else { throw ServiceError.notFound("unknown game '\(slug)'") }
        return updated
    }

    static func slugErrors(_ slug: String) -> [FieldError] {
        let isValid =
            (1...maximumSlugLength).contains(slug.utf8.count)
            && slug.utf8.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
            }
        if !isValid { return [FieldError(field: "slug", message: "must be 1 to 32 of a-z, 0-9, '_' and '-'")] }
        if slug == BoardIndex.globalGame { return [FieldError(field: "slug", message: "'all' is the global board's name")] }
        return []
    }

    static func reasonErrors(_ reason: String?) -> [FieldError] {
        guard let reason else { return [] }
        // Unicode scalars, as JSON Schema's lengths count them.
        let length = reason.unicodeScalars.count
        if length == 0 || length > maximumReasonLength { return [FieldError(field: "reason", message: "must be 1 to 500 characters")] }
        return []
    }

    /// What is wrong with `game`'s settings, each error on the field given that causes it.
    static func settingErrors(_ game: Game, given: GameSettings) -> [FieldError] {
        var errors: [FieldError] = []
        let label = game.label.unicodeScalars
        if label.isEmpty || label.count > maximumLabelLength || label.allSatisfy(\.properties.isWhitespace) {
            errors.append(FieldError(field: "label", message: "must be 1 to 100 characters, not all whitespace"))
        } else if label.contains(where: { $0.properties.generalCategory == .control }) {
            errors.append(FieldError(field: "label", message: "must not contain control characters"))
        }
        if !(0...maximumPosition).contains(game.position) {
            errors.append(FieldError(field: "position", message: "must be between 0 and \(maximumPosition)"))
        }
        let bounds = -Game.largestBound...Game.largestBound
        for (field, value) in [("minScore", game.minScore), ("maxScore", game.maxScore)] where !bounds.contains(value) {
            errors.append(FieldError(field: field, message: "must be between -(2^53 - 1) and 2^53 - 1"))
        }
        if bounds.contains(game.minScore), bounds.contains(game.maxScore), game.minScore > game.maxScore {
            errors.append(FieldError(field: given.minScore != nil ? "minScore" : "maxScore", message: "minScore must not be above maxScore"))
        }
        if game.order == .asc, game.inGlobal {
            errors.append(
                FieldError(
                    field: given.inGlobal != nil ? "inGlobal" : "order", message: "a game where lower is better cannot count toward the global board")
            )
        }
        return errors
    }

    /// The settings that differ, before and after (`before` null for a new game).
    static func changes(from before: Game?, to after: Game) -> [String: AuditChange] {
        var changes: [String: AuditChange] = [:]
        let old = before.map(Self.values) ?? [:]
        for (field, value) in Self.values(of: after) where old[field] != value {
            changes[field] = AuditChange(before: old[field] ?? .none, after: value)
        }
        return changes
    }

    private static func values(of game: Game) -> [String: AuditValue] {
        [
            "slug": .text(game.slug), "label": .text(game.label), "position": .number(game.position), "order": .text(game.order.rawValue),
            "rule": .text(game.rule.rawValue), "minScore": .number(game.minScore), "maxScore": .number(game.maxScore),
            "tieBreak": .text(game.tieBreak.rawValue), "inGlobal": .flag(game.inGlobal), "format": .text(game.format.rawValue),
            "authoritative": .flag(game.authoritative), "archived": .flag(game.archived),
        ]
    }
}
