import Dispatch
import LeaderboardCore
import Logging
import NIOCore
import Synchronization

/// Runs blocking store calls off the event loops, on a few serial queues that each own a `StoreContext`: each
/// context is used only from jobs on its queue.
final class StoreWorkers: Sendable {
    private let queues: [DispatchQueue]
    private let contexts: [StoreContext]
    private let shared: SharedWork
    private let next = Atomic<Int>(0)
    /// Cleared by `finish`; checked and queued under one lock, so no job slips in behind the drain.
    private let isAccepting = Mutex(true)

    /// `watch`: the daemon's Sentinel watch, which the workers' Redis connections follow.
    init(count: Int, config: Config, following watch: SentinelWatch? = nil, logger: Logger) {
        queues = (0..<count).map { DispatchQueue(label: "leaderboard.store.\($0)") }
        // The daemon hashes no passwords; AuthService needs one, and it is made once.
        let shared = SharedWork(
            passwords: PasswordWork(config: config), submissionBatches: LeaderboardService.submissionBatches(), sentinelWatch: watch)
        shared.startSubmissionStages(config: config)
        self.shared = shared
        contexts = (0..<count).map { _ in StoreContext(config: config, shared: shared) }
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
    /// and completed its promise, and the group commit's stages have ended.
    func finish() {
        isAccepting.withLock { $0 = false }
        for queue in queues { queue.sync {} }
        shared.submissionBatches?.stop()
    }
}
