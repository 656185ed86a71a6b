/// The settings a create or an update gives for a game; nil leaves a setting as it is (or at its default, on create).
public struct GameSettings: Sendable, Equatable {
    public var label: String?
    public var position: Int?
    public var order: ScoreOrder?
    public var rule: ScoreRule?
    public var minScore: Int?
    public var maxScore: Int?
    public var tieBreak: TieBreak?
    public var inGlobal: Bool?
    public var format: ScoreFormat?
    public var authoritative: Bool?
    public var archived: Bool?

    public init(
        label: String? = nil, position: Int? = nil, order: ScoreOrder? = nil, rule: ScoreRule? = nil, minScore: Int? = nil,
        maxScore: Int? = nil, tieBreak: TieBreak? = nil, inGlobal: Bool? = nil, format: ScoreFormat? = nil, authoritative: Bool? = nil,
        archived: Bool? = nil
    ) {
        self.label = label
        self.position = position
        self.order = order
        self.rule = rule
        self.minScore = minScore
        self.maxScore = maxScore
        self.tieBreak = tieBreak
        self.inGlobal = inGlobal
        self.format = format
        self.authoritative = authoritative
        self.archived = archived
    }

    /// The JSON names of the settings, as `Game` has them.
    public static let fieldNames: Set<String> = [
        "label", "position", "order", "rule", "minScore", "maxScore", "tieBreak", "inGlobal", "format", "authoritative", "archived",
    ]

    /// Reads the settings present in a request body; a wrong type or an unknown value is a field error in `fields`.
    public init(fields: inout JSONFields) {
        self.init(
            label: fields.optionalString("label"), position: fields.optionalInteger("position"),
            order: fields.optionalChoice("order", of: ScoreOrder.self), rule: fields.optionalChoice("rule", of: ScoreRule.self),
            minScore: fields.optionalInteger("minScore"), maxScore: fields.optionalInteger("maxScore"),
            tieBreak: fields.optionalChoice("tieBreak", of: TieBreak.self), inGlobal: fields.optionalBool("inGlobal"),
            format: fields.optionalChoice("format", of: ScoreFormat.self), authoritative: fields.optionalBool("authoritative"),
            archived: fields.optionalBool("archived"))
    }

    /// `game` with these settings applied. An `asc` order given without `inGlobal` takes the game out of the global
    /// board, where an `asc` game cannot be.
    func applied(to game: Game) -> Game {
        var changed = game
        changed.label = label ?? game.label
        changed.position = position ?? game.position
        changed.order = order ?? game.order
        changed.rule = rule ?? game.rule
        changed.minScore = minScore ?? game.minScore
        changed.maxScore = maxScore ?? game.maxScore
        changed.tieBreak = tieBreak ?? game.tieBreak
        changed.inGlobal = inGlobal ?? (order == .asc ? false : game.inGlobal)
        changed.format = format ?? game.format
        changed.authoritative = authoritative ?? game.authoritative
        changed.archived = archived ?? game.archived
        return changed
    }
}
