/// A game players submit scores for, and how its boards rank them (DESIGN.md, "Game settings").
public struct Game: Codable, Sendable, Hashable {
    public var slug: String
    public var label: String
    /// Where `/games` lists it, lowest first.
    public var position: Int
    public var order: ScoreOrder
    public var rule: ScoreRule
    /// Inclusive bounds of an accepted score.
    public var minScore: Int
    public var maxScore: Int
    public var tieBreak: TieBreak
    /// Whether the game counts toward the global board `all` (never for `asc` games).
    public var inGlobal: Bool
    public var format: ScoreFormat
    /// Only trusted game servers may submit (enforced by the trust-and-safety work).
    public var authoritative: Bool
    /// Hidden from `/games` and refusing submissions; its boards stay readable.
    public var archived: Bool

    /// The largest magnitude of a bound: every score and sum within it is exact in a double, which is what
    /// Redis keeps sorted-set scores in (2^53 - 1).
    public static let largestBound = 9_007_199_254_740_991

    public init(
        slug: String, label: String, position: Int, order: ScoreOrder = .desc, rule: ScoreRule = .best, minScore: Int = 0,
        maxScore: Int = 1_000_000_000, tieBreak: TieBreak = .shared, inGlobal: Bool = true, format: ScoreFormat = .integer,
        authoritative: Bool = false, archived: Bool = false
    ) {
        self.slug = slug
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

    /// What the index needs to rank the game: fixed per generation of the index (see `BoardScripts`).
    public var ranking: Ranking { Ranking(order: order, rule: rule, tieBreak: tieBreak, inGlobal: inGlobal) }
}

/// The settings that decide a game's boards in the index.
public struct Ranking: Sendable, Hashable {
    public let order: ScoreOrder
    public let rule: ScoreRule
    public let tieBreak: TieBreak
    public let inGlobal: Bool

    public init(order: ScoreOrder, rule: ScoreRule, tieBreak: TieBreak, inGlobal: Bool) {
        self.order = order
        self.rule = rule
        self.tieBreak = tieBreak
        self.inGlobal = inGlobal
    }

    /// Today's behaviour and the seeded games': higher is better, best score counts, ties share a rank.
    public static let standard = Ranking(order: .desc, rule: .best, tieBreak: .shared, inGlobal: true)

    /// Whether the index keeps the score id of each entry (`BoardScripts.entryFunctions`).
    var needsEntryIds: Bool { rule != .best || tieBreak == .earliest }

    /// The form the index scripts keep it in: `<order> <rule> <tieBreak> <0|1>`.
    public var encoded: String { "\(order.rawValue) \(rule.rawValue) \(tieBreak.rawValue) \(inGlobal ? 1 : 0)" }
}

/// Which end of a board is the top.
public enum ScoreOrder: String, Codable, Sendable, CaseIterable {
    /// Higher is better.
    case desc
    /// Lower is better (race times).
    case asc
}

/// What a player's entry on a board is, from their accepted scores in the board's period.
public enum ScoreRule: String, Codable, Sendable, CaseIterable {
    /// Their best score, in the game's order.
    case best
    /// Their last accepted score.
    case latest
    /// The total of their scores.
    case sum
}

/// How players with equal entries are ranked.
public enum TieBreak: String, Codable, Sendable, CaseIterable {
    /// Standard competition ranks ("1224").
    case shared
    /// Unique ranks: whoever reached the entry first ranks higher.
    case earliest
}

/// How clients show a score.
public enum ScoreFormat: String, Codable, Sendable, CaseIterable {
    case integer
    /// Milliseconds, shown as m:ss.mmm.
    case timeMs = "time_ms"
}
