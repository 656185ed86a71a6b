/// Where games are configured: read fresh (never cached), and changed together with their audit entries.
public protocol GameAdminStore {
    /// Every game, archived ones too, as stored now, in display order.
    func games() throws -> [Game]
    func game(_ slug: String) throws -> Game?
    /// Stores a new game and its audit entry in one transaction; false when the slug is taken.
    func insert(_ game: Game, audit: AuditEntry) throws -> Bool
    /// Locks the game, asks `change` for its new settings and audit entry, and stores both in one transaction; nil when
    /// there is no such game. `change` gets the game as stored and a check of whether it has any score, which a
    /// concurrent first score cannot slip past while the lock is held; it returns nil to change nothing, or throws to
    /// refuse the change.
    func update(_ slug: String, _ change: (_ current: Game, _ isScored: () throws -> Bool) throws -> (Game, AuditEntry)?) throws -> Game?
}
