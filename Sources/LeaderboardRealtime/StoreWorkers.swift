import Dispatch
import LeaderboardCore
import Logging
import NIOCore
import Synchronization

/// What a store call may use: one PostgreSQL and one Redis connection and the services over them.
///
/// `@unchecked Sendable`: each context belongs to one serial queue of `StoreWorkers` and is used only
/// from jobs on that queue, so its connections are never used by two threads at once.
final class StoreContext: @unchecked Sendable {
    let auth: AuthService
    let users: PostgresUserStore
    let revocations: RevocationList
    let leaderboard: LeaderboardService
    let index: BoardIndex

    @inline(never)
    init(
        config: Config, logger: Logger, passwords: PasswordWork, verifiedTokens: VerifiedTokens,
        submissionBatches: LeaderboardService.SubmissionBatches
    ) {
        let database = PostgresConnection(settings: config.postgres)
        let redis = RedisConnection(settings: config.redis)
        let ephemeral = RedisEphemeralStore(redis: redis)
        let games = PostgresGameCatalog(database: database)
        index = BoardIndex(redis: redis)
        revocations = RevocationList(database: database, redis: redis)
        users = PostgresUserStore(database: database)
        auth = AuthService(
            config: config, users: users, ephemeral: ephemeral, revocations: revocations,
            passwords: passwords, verifiedTokens: verifiedTokens)
        leaderboard = LeaderboardService(
            scores: PostgresScoreStore(database: database), index: index, games: games, ephemeral: ephemeral, batches: submissionBatches)
    }
}

/// Runs blocking store calls off the event loops, on a few serial queues that each own a context.
final class StoreWorkers: Sendable {
    private let queues: [DispatchQueue]
    private let contexts: [StoreContext]
    private let next = Atomic<Int>(0)
    /// Cleared by `finish`; checked and queued under one lock, so no job slips in behind the drain.
    private let isAccepting = Mutex(true)

    init(count: Int, config: Config, logger: Logger) {
        queues = (0..<count).map { DispatchQueue(label: "leaderboard.store.\($0)") }
        // The daemon hashes no passwords; AuthService needs one, and it is made once.
        let passwords = PasswordWork(config: config)
        let verifiedTokens = VerifiedTokens()
        let submissionBatches = LeaderboardService.SubmissionBatches()
        contexts = (0..<count).map { _ in
            StoreContext(
                config: config, logger: logger, passwords: passwords, verifiedTokens: verifiedTokens, submissionBatches: submissionBatches)
        }
    }

    /// Runs `body` on the next worker; the future completes on `loop`.
    func run<Value: Sendable>(on loop: any EventLoop, _ body: @escaping @Sendable (StoreContext) throws -> Value) -> EventLoopFuture<Value> {
        let index = next.add(1, ordering: .relaxed).oldValue % queues.count
        let promise = loop.makePromise(of: Value.self)
        let context = contexts[index]
        isAccepting.withLock { isAccepting in
            guard isAccepting else { return promise.fail(ServiceError.unavailable("the daemon is shutting down")) }
            queues[index].async {
                promise.completeWith(Result { try body(context) })
            }
        }
        return promise.futureResult
    }

    /// Refuses new jobs (they fail as unavailable) and returns once every job already queued has finished
    /// and completed its promise.
    func finish() {
        isAccepting.withLock { $0 = false }
        for queue in queues { queue.sync {} }
    }
}
