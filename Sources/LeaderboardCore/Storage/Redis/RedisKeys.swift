/// Every Redis key name the service uses, so that no two features can collide on one and a reader finds the
/// whole layout here. The Lua scripts build the names under a generation from the parts below (see
/// `BoardScripts`).
///
/// - `lb:<gen>:` one generation of the index (see `BoardScripts`), named by `generation`;
/// - `lb:ver:` board and names versions, outside the generations (see `BoardScripts`);
/// - `lb:revoked:<token key>` cached revocations (see `RevocationList`);
/// - `lb:meta:` single keys of the index's machinery;
/// - `lb:tmp:` short-lived keys of the `EphemeralStore`: login-failure and signup counters, remembered answers.
public enum RedisKeys {
    /// The current generation's number; absent while no index is built. Its name carries the layout of the keys under
    /// a generation (`BoardScripts`): a new layout takes a new name, so that an index of the old one counts as not
    /// built (reads go to PostgreSQL) until the reconciler has rebuilt it, with no step for an operator.
    static let generation = "lb:meta:gen:v2"
    /// The names `generation` had under earlier layouts: the rebuild deletes the generations they name.
    static let retiredGenerationPointers = ["lb:meta:gen"]
    /// Hands out generation numbers, so a rebuild never reuses one.
    static let generationCounter = "lb:meta:gen-counter"
    /// Part of every board and names version (see `BoardScripts.versionFunctions`).
    static let versionCounter = "lb:meta:version-counter"
    /// The lease that lets one reconciler at a time work.
    static let reconcilerLease = "lb:meta:reconciler"
    /// Exists while the revocation cache holds every revocation PostgreSQL has.
    static let revocationsCached = "lb:meta:revocations-cached"
    /// The mark of a revocation cache reload in progress.
    static let revocationsReload = "lb:meta:revocations-reload"
    /// Where the apply script publishes its events; leaderboard-ws subscribes to it.
    public static let eventsChannel = "lb:events"
    /// Where a logout says a token was revoked, so leaderboard-ws checks its sockets' tokens at once.
    public static let revocationsChannel = "lb:revocations"

    /// `lb:ver:<game>:<period>`: names a board's current content.
    static let boardVersionPrefix = "lb:ver:"
    /// Names the current content of the display names.
    static let namesVersion = "lb:ver:names"

    static let revokedTokenPrefix = "lb:revoked:"

    static func revokedToken(_ tokenKey: String) -> String { revokedTokenPrefix + tokenKey }

    static func boardVersion(game: String, period: String) -> String { boardVersionPrefix + game + ":" + period }

    // Under a generation: `generationPrefix` then one of these parts.

    /// `b:<game>:<period>`: sorted set, member user id, score the player's entry on the board.
    static let boardPart = "b:"
    /// `w:<game>:<period>`: hash, user id -> epoch seconds when that entry was reached.
    static let whensPart = "w:"
    /// `i:<game>:<period>`: hash, user id -> the score id of that entry, on the boards that need it (see
    /// `BoardScripts.entryFunctions`).
    static let entryIdsPart = "i:"
    /// Hash, game slug -> `Ranking.encoded`: how this generation's boards of each game rank.
    static let gamesPart = "games"
    /// Hash, user id -> display name.
    static let namesPart = "names"
    /// `applied:<shard>`: bitmap of applied score ids, `BoardIndex.appliedShardBits` ids per shard.
    static let appliedPart = "applied:"
    /// Every score id at or below it is applied.
    static let watermarkPart = "watermark"
    /// The last day (days since 1970-01-01) whose closing periods' boards the reconciler has compacted.
    static let compactedPart = "compacted"

    /// `lb:`: a generation's keys are under `lb:<gen>:`.
    static let indexPrefix = "lb:"

    static func generationPrefix(_ generation: Int) -> String { indexPrefix + "\(generation):" }

    static func watermark(generation: Int) -> String { generationPrefix(generation) + watermarkPart }

    static func appliedShard(_ shard: Int, generation: Int) -> String { generationPrefix(generation) + appliedPart + String(shard) }

    // Ephemeral keys, given to an `EphemeralStore`, which keeps them under `ephemeralPrefix`.

    static let ephemeralPrefix = "lb:tmp:"
    /// What the health probe writes to learn whether Redis takes writes.
    static let healthProbe = ephemeralPrefix + "health"

    static func signups(fromAddress address: String) -> String { "signup:addr:" + address }

    static func loginFailures(emailHash: String) -> String { "login-fail:email:" + emailHash }

    static func loginFailures(emailHash: String, address: String) -> String { "login-fail:pair:" + emailHash + ":" + address }

    static func loginFailures(fromAddress address: String) -> String { "login-fail:addr:" + address }

    /// The answer remembered for a submission's idempotency key (hashed: a key is up to 200 bytes of anything).
    static func idempotentAnswer(userId: Int, keyHash: String) -> String { "idem:\(userId):" + keyHash }
}
