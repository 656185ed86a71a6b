import Foundation

/// One row of `audit_log`: who changed what, and how; written in the same transaction as the change.
public struct AuditEntry: Sendable, Equatable {
    /// `user:<id>` over the API, `leaderboardctl` from the shell.
    public let actor: String
    /// The actor of changes made from the shell.
    public static let shellActor = "leaderboardctl"
    /// `game.create`, `game.update`, `user.role`.
    public let action: String
    /// What was changed: a game's slug, `user:<id>`.
    public let target: String
    public let reason: String?
    /// The changed fields, each with its value before and after.
    public let changes: [String: AuditChange]

    public init(actor: String, action: String, target: String, reason: String?, changes: [String: AuditChange]) {
        self.actor = actor
        self.action = action
        self.target = target
        self.reason = reason
        self.changes = changes
    }

    /// `changes` as the `details` jsonb: `{"label": {"before": "Old", "after": "New"}, ...}`.
    public var detailsJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every value is a string, a whole number, a Boolean or null: encoding cannot fail.
        return String(decoding: (try? encoder.encode(changes)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Writes the entry; called inside the transaction of the change it records.
    static func insert(_ entry: AuditEntry, on database: PostgresConnection) throws {
        try database.query(
            "INSERT INTO audit_log (actor, action, target, reason, details) VALUES ($1, $2, $3, $4, $5::jsonb)",
            [entry.actor, entry.action, entry.target, entry.reason, entry.detailsJSON])
    }
}

/// A field's value before and after a change (`before` null for a field that did not exist yet).
public struct AuditChange: Codable, Sendable, Equatable {
    public let before: AuditValue
    public let after: AuditValue

    public init(before: AuditValue, after: AuditValue) {
        self.before = before
        self.after = after
    }
}

/// A setting's value as JSON.
public enum AuditValue: Codable, Sendable, Equatable {
    case text(String)
    case number(Int)
    case flag(Bool)
    case none

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .none
        } else if let flag = try? container.decode(Bool.self) {
            self = .flag(flag)
        } else if let number = try? container.decode(Int.self) {
            self = .number(number)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .number(let number): try container.encode(number)
        case .flag(let flag): try container.encode(flag)
        case .none: try container.encodeNil()
        }
    }
}
