/// One row of a board: the player's rank, who they are, and their best (or, on `all`, summed) score.
public struct BoardRow: Codable, Sendable, Equatable {
    public let rank: Int
    public let userId: Int
    public let player: String
    public let game: String
    public let score: Int
    /// `YYYY-MM-DD` (UTC) of when that score was reached.
    public let date: String

    public init(rank: Int, userId: Int, player: String, game: String, score: Int, date: String) {
        self.rank = rank
        self.userId = userId
        self.player = player
        self.game = game
        self.score = score
        self.date = date
    }
}

/// A player's best single score over some boards or days, and where and when they reached it: a report row
/// before it is ranked.
public struct TopScore: Sendable, Equatable {
    public let userId: Int
    public let name: String
    public let score: Int
    public let game: String
    public let epochSeconds: Int

    public init(userId: Int, name: String, score: Int, game: String, epochSeconds: Int) {
        self.userId = userId
        self.name = name
        self.score = score
        self.game = game
        self.epochSeconds = epochSeconds
    }
}

/// A page of a board and the board's size.
public struct BoardPage: Codable, Sendable, Equatable {
    public let result: [BoardRow]
    public let totalCount: Int
    public let period: PeriodKind
    public let game: String
}

/// A player's place on one board, with the rows around them.
public struct PlayerPosition: Codable, Sendable, Equatable {
    public let rank: Int
    public let score: Int
    public let date: String
    public let around: [BoardRow]

    public init(rank: Int, score: Int, date: String, around: [BoardRow]) {
        self.rank = rank
        self.score = score
        self.date = date
        self.around = around
    }
}

/// A player's rank and score on every board of a period they are on.
public struct Standing: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public let game: String
        public let rank: Int
        public let score: Int
        public let date: String

        public init(game: String, rank: Int, score: Int, date: String) {
            self.game = game
            self.rank = rank
            self.score = score
            self.date = date
        }
    }

    public let userId: Int
    public let player: String
    public let boards: [Entry]

    public init(userId: Int, player: String, boards: [Entry]) {
        self.userId = userId
        self.player = player
        self.boards = boards
    }
}

/// What a score submission answers: the player's best on that game and ranks after it (all-time).
public struct SubmissionResult: Codable, Sendable, Equatable {
    public let game: String
    public let score: Int
    public let best: Int
    public let improved: Bool
    public let rank: Int
    public let globalRank: Int

    public init(game: String, score: Int, best: Int, improved: Bool, rank: Int, globalRank: Int) {
        self.game = game
        self.score = score
        self.best = best
        self.improved = improved
        self.rank = rank
        self.globalRank = globalRank
    }
}

/// A submission stored in PostgreSQL while Redis was unavailable; the reconciler applies it later.
public struct QueuedSubmission: Codable, Sendable, Equatable {
    public let game: String
    public let score: Int
    public let queued: Bool

    public init(game: String, score: Int, queued: Bool) {
        self.game = game
        self.score = score
        self.queued = queued
    }
}

/// One row of a top-players report.
public struct ReportRow: Codable, Sendable, Equatable {
    public let rank: Int
    public let userId: Int
    public let name: String
    /// The best single score in the range, and the game and day it was made.
    public let score: Int
    public let game: String
    public let gameLabel: String
    public let date: String
    /// How many different games the player played in the range.
    public let games: Int
}

/// A player's own submission, from their history.
public struct ScoreEntry: Codable, Sendable, Equatable {
    public let id: Int
    public let game: String
    public let score: Int
    public let createdAt: String
}
