import Foundation
import Synchronization

/// Group commit for callers that do not wait: items queue, a store stage takes whatever has queued as one batch
/// (for submissions, one PostgreSQL statement and one commit), and while the next batch is stored a finish stage
/// finishes the stored ones (the index's round trip) and hands each item's outcome to its completion, on the finish
/// stage's thread. Nothing waits for a batch to fill: under load a batch is what queued while the previous one was
/// stored, so batches grow with the load. (When each waiting caller held a thread, a process's batches could hold
/// no more than about a third of its workers: README, "Benchmarks".) Batches stored while the finish stage was busy
/// are finished together, up to `maximumBatch` items.
///
/// Each stage runs on a thread of its own, made by `start`, and builds its work there with its factory, so that it
/// owns its connections. At most `maximumWaiting` items queue; past that `submit` refuses (the store stage is not
/// keeping up, or is stuck). `stop` stores and finishes what has queued, then ends both threads.
///
/// `@unchecked Sendable`: `queue` and `isStopping` are only touched with `queued` locked, `stored` and `storeEnded`
/// with `finishing` locked; the rest is set in `init` and `start`, before any item arrives.
public final class GroupCommit<Item, Middle, Outcome>: @unchecked Sendable {
    public typealias Store = ([Item]) -> [Result<Middle, any Error>]
    public typealias Finish = ([Item], [Result<Middle, any Error>]) -> [Result<Outcome, any Error>]
    public typealias Completion = @Sendable (Result<Outcome, any Error>) -> Void

    private struct Waiting {
        let item: Item
        let completion: Completion
    }

    public let maximumBatch: Int
    public let maximumWaiting: Int
    private let refusal: String
    private let queued = NSCondition()
    private var queue: [Waiting] = []
    private var isStopping = false
    private let finishing = NSCondition()
    private var stored: [(waiting: [Waiting], results: [Result<Middle, any Error>])] = []
    private var storeEnded = false
    private let stagesEnded = DispatchGroup()
    /// Per stage, when it took the work it is on (`DispatchTime`'s uptime nanoseconds), 0 while it has none.
    private let storeBusySince = Atomic<UInt64>(0)
    private let finishBusySince = Atomic<UInt64>(0)

    /// `refusal`: why `submit` refuses an item when `maximumWaiting` are queued already.
    public init(maximumBatch: Int = 64, maximumWaiting: Int = 4_096, refusal: String) {
        precondition(maximumBatch >= 1 && maximumWaiting >= 1)
        self.maximumBatch = maximumBatch
        self.maximumWaiting = maximumWaiting
        self.refusal = refusal
    }

    /// Starts the two stages, each on its own thread, which calls its factory first. Once only.
    public func start(store makeStore: @escaping @Sendable () -> Store, finish makeFinish: @escaping @Sendable () -> Finish) {
        let stages: [@Sendable () -> Void] = [{ self.runStore(makeStore()) }, { self.runFinish(makeFinish()) }]
        for stage in stages {
            stagesEnded.enter()
            Thread.detachNewThread {
                stage()
                self.stagesEnded.leave()
            }
        }
    }

    /// Queues `item`; `completion` gets its outcome once its batch is stored and finished. Refuses (unavailable) when
    /// `maximumWaiting` items are queued, or once `stop` was called.
    public func submit(_ item: Item, completion: @escaping Completion) throws(ServiceError) {
        queued.lock()
        defer { queued.unlock() }
        guard !isStopping else { throw .unavailable("the server is stopping; retry shortly") }
        guard queue.count < maximumWaiting else { throw .unavailable(refusal) }
        queue.append(Waiting(item: item, completion: completion))
        queued.signal()
    }

    /// How many items wait for the store stage to take them.
    public var waitingCount: Int {
        queued.lock()
        defer { queued.unlock() }
        return queue.count
    }

    /// Stores and finishes every item queued, then ends the stages' threads; returns once they have ended.
    public func stop() {
        queued.lock()
        isStopping = true
        queued.broadcast()
        queued.unlock()
        stagesEnded.wait()
    }

    /// False when a stage has been on one batch for longer than `limit` (a statement or a round trip that hangs): every
    /// submission waits behind it, and the systemd watchdog should restart the process.
    public func isProgressing(stuckAfter limit: Duration) -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        func isMoving(since: UInt64) -> Bool { since == 0 || since > now || .nanoseconds(now - since) < limit }
        return isMoving(since: storeBusySince.load(ordering: .relaxed)) && isMoving(since: finishBusySince.load(ordering: .relaxed))
    }

    private func runStore(_ store: Store) {
        while let batch = nextBatch() {
            storeBusySince.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            let results = store(batch.map(\.item))
            storeBusySince.store(0, ordering: .relaxed)
            precondition(results.count == batch.count, "a batch needs one result per item")
            finishing.lock()
            stored.append((batch, results))
            finishing.signal()
            finishing.unlock()
        }
        finishing.lock()
        storeEnded = true
        finishing.signal()
        finishing.unlock()
    }

    /// The next batch to store: everything queued, up to `maximumBatch`; nil once stopping with nothing queued.
    private func nextBatch() -> [Waiting]? {
        queued.lock()
        defer { queued.unlock() }
        while queue.isEmpty && !isStopping { queued.wait() }
        guard !queue.isEmpty else { return nil }
        let batch = Array(queue.prefix(maximumBatch))
        queue.removeFirst(batch.count)
        return batch
    }

    private func runFinish(_ finish: Finish) {
        while let (waiting, results) = nextStored() {
            finishBusySince.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            let outcomes = finish(waiting.map(\.item), results)
            precondition(outcomes.count == waiting.count, "a batch needs one outcome per item")
            for (item, outcome) in zip(waiting, outcomes) { item.completion(outcome) }
            finishBusySince.store(0, ordering: .relaxed)
        }
    }

    /// The stored batches to finish next, in the order they were stored, together up to `maximumBatch` items (a
    /// larger one alone); nil once the store stage has ended and everything is finished.
    private func nextStored() -> ([Waiting], [Result<Middle, any Error>])? {
        finishing.lock()
        defer { finishing.unlock() }
        while stored.isEmpty && !storeEnded { finishing.wait() }
        guard let first = stored.first else { return nil }
        var (waiting, results) = first
        var taken = 1
        while taken < stored.count, waiting.count + stored[taken].waiting.count <= maximumBatch {
            waiting += stored[taken].waiting
            results += stored[taken].results
            taken += 1
        }
        stored.removeFirst(taken)
        return (waiting, results)
    }
}
