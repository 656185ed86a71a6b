/// The transactions that may be storing scores, for the watermark of the index: "every score id at or below it is
/// applied" can only pass an id once no score below it can still commit. Score ids are drawn in one statement with
/// the insert, but the statement can wait (on a player's row during a ban, on another transaction's row with the same
/// idempotency key, on a slow flush) and commit after later ids have, however long it waited.
///
/// A transaction that drew an id below the last one committed holds its lock on `scores` (taken before the statement
/// draws ids, released when it ends) when the horizon is read, so once those transactions have ended, every id up to
/// the horizon's last one is stored or never will be. Read from `pg_locks`, which every role may read.
enum ScoreWriters {
    struct Horizon: Sendable {
        /// The highest score id committed when it was read.
        let lastId: Int
        /// The transactions (virtual ids) then writing to `scores`, the reader's own aside.
        let writers: [String]
    }

    /// The last score id committed and the writers in flight, in one statement: its snapshot (which the last id comes from)
    /// is taken before the locks are read, so a writer that had drawn a lower id and not committed is among them.
    static func horizon(on database: PostgresConnection) throws -> Horizon {
        let row = try database.query(
            """
            SELECT coalesce((SELECT max(id) FROM scores), 0) AS last_id,
                coalesce(string_agg(DISTINCT l.virtualtransaction, ','), '') AS writers
            FROM pg_locks l
            WHERE l.locktype = 'relation' AND l.relation = 'scores'::regclass AND l.mode = 'RowExclusiveLock'
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.pid <> pg_backend_pid()
            """
        )[0]
        let writers = try row.requiredString("writers")
        return Horizon(lastId: try row.requiredInt("last_id"), writers: writers.isEmpty ? [] : writers.split(separator: ",").map(String.init))
    }

    /// Whether every writer of the horizon has ended: none still holds the lock on its own virtual transaction id.
    static func haveEnded(_ horizon: Horizon, on database: PostgresConnection) throws -> Bool {
        guard !horizon.writers.isEmpty else { return true }
        return try database.query(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'virtualxid' AND virtualxid = ANY($1::text[])) AS ended",
            [horizon.writers]
        )[0].bool("ended") == true
    }
}
