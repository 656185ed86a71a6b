import Foundation
import Logging
import Metrics

/// Keeps the index equal to PostgreSQL: applies every stored score the index lacks (those answered 202
/// while Redis was down, or cut off by a crash between the two writes), and rebuilds the whole index when
/// Redis comes back empty or a game's ranking settings changed. The index marks applied scores, so applying
/// one twice changes nothing.
///
/// Several API processes may run one each; a short lease in Redis lets one work at a time.
public final class IndexReconciler {
    static let leaseScript = RedisScript(
        """
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
        return 0
        """)

    public struct Pass: Sendable, Equatable {
        /// Scores found missing from the index and applied.
        public var applied = 0
        /// Scores above the watermark it could not pass yet: not applied and not ripe, or above the last score id every
        /// insert before it is known to have ended.
        public var pending = 0
        public var rebuilt = false
        /// Batches of scores read above the watermark.
        public var batchesRead = 0
        /// Boards of closed periods compacted.
        public var compacted = 0
    }

    private let database: PostgresConnection
    private let scores: any ScoreStore
    private let index: BoardIndex
    private let redis: RedisConnection
    private let rebuilder: IndexRebuilder
    private let logger: Logger
    private let batchSize: Int
    private let leaseToken = Crypto.hex(Crypto.randomBytes(8))
    /// The horizon the watermark waits for, until its writers have ended.
    private var horizon: ScoreWriters.Horizon?

    /// The reconciler needs the Redis index itself (its generations, watermark and applied marks), not a `RankingIndex`.
    public init(connections: StoreConnections, logger: Logger, batchSize: Int = 5_000) {
        self.batchSize = batchSize
        (database, redis) = (connections.database, connections.redis)
        scores = PostgresScoreStore(database: database)
        index = BoardIndex(redis: redis)
        rebuilder = IndexRebuilder(database: database, redis: redis, logger: logger)
        self.logger = logger
    }

    /// Reconciles every `interval` until `stop` is signalled; errors are logged once per kind and retried.
    public func run(every interval: Duration = .seconds(1), until stop: StopSignal) {
        var lastFailure: String?
        repeat {
            do {
                let pass = try reconcile()
                if pass.applied > 0 || pass.rebuilt {
                    logger.info("reconciled index", metadata: ["applied": "\(pass.applied)", "rebuilt": "\(pass.rebuilt)"])
                }
                if pass.compacted > 0 { logger.info("compacted the boards of closed periods", metadata: ["boards": "\(pass.compacted)"]) }
                if lastFailure != nil { logger.info("reconciler recovered") }
                lastFailure = nil
            } catch {
                // Counted even with no request in flight: a store that is down shows in the metrics (and
                // alerts) within a pass or two, from the reconciler of every api process.
                if let outage = error as? any StoreFailure, outage.isUnavailable { Observability.storeError(outage.store.rawValue) }
                let failure = "\(error)"
                if failure != lastFailure { logger.warning("reconciler failed, retrying", metadata: ["error": "\(failure)"]) }
                lastFailure = failure
            }
        } while !stop.wait(seconds: Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18)
    }

    /// Whether the generation ranks every game as PostgreSQL's `games` says (an admin may have changed one). A
    /// game the generation does not know yet, or one that changed and has no score (no board holds it), is
    /// brought up to date here; one that changed and has scores needs its boards rebuilt, and the generation's
    /// boards go on ranking as they did until the new ones are in.
    func rankingsAreCurrent(generation: Int) throws -> Bool {
        let key = RedisKeys.generationPrefix(generation) + RedisKeys.gamesPart
        guard let fields = try redis.command(["HGETALL", key]).array?.compactMap(\.string) else {
            throw RedisError.unexpectedReply("HGETALL games")
        }
        let indexed = Dictionary(uniqueKeysWithValues: stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0], fields[$0 + 1]) })
        let games = try database.query("SELECT \(PostgresGameCatalog.columns) FROM games").map { try PostgresGameCatalog.game($0) }
        let changed = games.filter { game in indexed[game.slug].map { $0 != game.ranking.encoded } ?? false }
        // Rare (after an admin's change), so the scan a game without scores costs is paid once.
        let scored =
            changed.isEmpty
            ? []
            : try database.query(
                "SELECT slug FROM unnest($1::text[]) AS slug WHERE EXISTS (SELECT 1 FROM scores WHERE game = slug)", [changed.map(\.slug)]
            ).map { try $0.requiredString("slug") }
        let updates = games.filter { game in indexed[game.slug] == nil || changed.contains(game) && !scored.contains(game.slug) }
        if !updates.isEmpty { try redis.command(["HSET", key] + updates.flatMap { [$0.slug, $0.ranking.encoded] }) }
        if !scored.isEmpty { logger.info("a game's ranking changed; rebuilding the boards", metadata: ["games": "\(scored)"]) }
        return scored.isEmpty
    }

    /// One pass: rebuild if the index is gone or a game's ranking changed, else apply what is missing above the
    /// watermark and compact the boards of periods that closed.
    @discardableResult
    public func reconcile(today: UTCDay = UTCDay.today) throws -> Pass {
        var pass = Pass()
        guard try redis.run(Self.leaseScript, keys: [RedisKeys.reconcilerLease], arguments: [leaseToken, "5000"]) == .integer(1) else {
            return pass
        }
        guard let generation = try index.generation(), try rankingsAreCurrent(generation: generation) else {
            pass.rebuilt = try rebuilder.rebuild(wait: false) != nil
            return pass
        }
        // Revocations past their token's expiry protect nothing any more.
        try database.query("DELETE FROM revoked_tokens WHERE expires_at < now()")
        try database.query("DELETE FROM issued_tokens WHERE expires_at < now()")
        try database.query(
            "DELETE FROM refresh_families f WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id AND t.expires_at >= now())")
        // A revocation Redis refused to cache left it incomplete, or did not reach it (a stalled Redis keeps its mark), or
        // it was marked complete by another server (a replica promoted since): reload it now that Redis takes writes,
        // PostgreSQL answering meanwhile where the mark is gone.
        if try !RevocationList.isCacheComplete(in: redis) || RevocationList.hasUncached(in: database) {
            try redis.command(["DEL", RedisKeys.revocationsCached])
            let revoked = try RevocationList.reload(from: database, into: redis)
            logger.info("revocation cache reloaded", metadata: ["revoked": "\(revoked)"])
        }
        // Taken before the scores are read, passed once its writers have ended (mostly by the end of this pass: a
        // statement storing scores takes milliseconds); a horizon that is not passed yet is kept, so that a stream of
        // new writers cannot keep the watermark back.
        let horizon = try self.horizon ?? ScoreWriters.horizon(on: database)
        self.horizon = horizon
        // Asked once a pass, after its first batch's work (the writers' statements have most likely ended by then).
        var horizonPassed: Bool?
        var watermark = try index.watermark(generation: generation)
        while true {
            let batch = try scores.pending(after: watermark, limit: batchSize)
            if batch.isEmpty { break }
            pass.batchesRead += 1
            let applied = try index.applied(batch.map(\.id), generation: generation)
            let missing = try scores.scores(ids: zip(batch, applied).filter { entry, isApplied in !isApplied && entry.isRipe }.map(\.0.id))
            for outcome in try index.apply(missing, today: today) { _ = try outcome.get() }
            pass.applied += missing.count
            // Every id at or below the horizon's last one is stored or never will be, so the gaps between them are final.
            if horizonPassed == nil { horizonPassed = try ScoreWriters.haveEnded(horizon, on: database) }
            let passable = horizonPassed == true ? horizon.lastId : watermark
            var advanced = watermark
            for (entry, isApplied) in zip(batch, applied) {
                guard entry.id <= passable, isApplied || entry.isRipe else { break }
                advanced = entry.id
            }
            pass.pending = batch.count - batch.prefix { $0.id <= advanced }.count
            if advanced > watermark { try index.setWatermark(advanced, generation: generation) }
            Gauge(label: "leaderboard_reconciler_backlog").record(pass.pending)
            Counter(label: "leaderboard_reconciler_applied_total").increment(by: missing.count)
            // Another batch only when this one was all done: past a score still settling come newer ones,
            // and reading on would read this batch's unsettled rest again (under a steady stream of
            // submissions, again and again, a few settling in between).
            guard batch.count == batchSize, advanced == batch.last?.id else { break }
            watermark = advanced
        }
        if try horizonPassed ?? ScoreWriters.haveEnded(horizon, on: database) { self.horizon = nil }
        pass.compacted = try index.compactClosedBoards(generation: generation, today: today)
        return pass
    }
}
