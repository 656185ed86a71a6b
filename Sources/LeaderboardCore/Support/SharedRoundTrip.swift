import Foundation

/// Lets concurrent callers share one round trip: whoever arrives while no batch is running leads, runs
/// the queued items together with its own connections, passes the lead to the first caller that queued
/// meanwhile, finishes the batch (while the next one runs) and hands every caller its outcome. Nothing
/// waits for a batch to fill: a caller alone runs alone, and under load the batch is whatever queued
/// during the previous one. A batch starts after each of its callers arrived, so what it reads is never
/// older than the call.
///
/// Submissions use it for their group commit (`LeaderboardService.SubmissionBatches`), page reads for
/// their stamp check (`PageCache`).
///
/// Shared by the worker threads of a process. Each caller waits on a condition of its own, so finishing
/// a batch wakes exactly its callers and the next leader, not every waiting thread.
///
/// `@unchecked Sendable`: `queue` and `leading` are only touched under `lock`, a slot's `outcome` and
/// `leads` only under its own `wake` (NSLock and NSCondition: pthread mutexes and condition variables,
/// which ThreadSanitizer understands).
public final class SharedRoundTrip<Item, Outcome>: @unchecked Sendable {
    private final class Slot {
        let item: Item
        let wake = NSCondition()
        var outcome: Result<Outcome, any Error>?
        var leads = false

        init(_ item: Item) { self.item = item }

        /// Blocks until the slot has its outcome or has to lead.
        func waitForTurn() -> Result<Outcome, any Error>? {
            wake.lock()
            defer { wake.unlock() }
            while outcome == nil && !leads { wake.wait() }
            return outcome
        }

        func finish(_ result: Result<Outcome, any Error>) {
            wake.lock()
            outcome = result
            wake.signal()
            wake.unlock()
        }

        func lead() {
            wake.lock()
            leads = true
            wake.signal()
            wake.unlock()
        }
    }

    public let maximumBatch: Int
    private let lock = NSLock()
    private var queue: [Slot] = []
    /// A batch is running, or its next leader has been named: a new caller waits.
    private var leading = false

    public init(maximumBatch: Int = 64) {
        precondition(maximumBatch >= 1)
        self.maximumBatch = maximumBatch
    }

    /// `item`'s outcome. `run` gets a batch (this caller's item among them when this caller leads) and
    /// returns one result per item, in order; one batch runs at a time. `then` turns a batch's results
    /// into its outcomes after the lead has passed on, so it overlaps the next batch's `run`. Both run
    /// only in the caller that leads.
    public func submit<Middle>(
        _ item: Item, run: ([Item]) -> [Result<Middle, any Error>], then: ([Item], [Result<Middle, any Error>]) -> [Result<Outcome, any Error>]
    ) throws -> Outcome {
        let slot = Slot(item)
        lock.lock()
        queue.append(slot)
        let waits = leading
        leading = true
        lock.unlock()
        if waits, let outcome = slot.waitForTurn() { return try outcome.get() }

        // This caller leads and is first in the queue, so its item is in the batch.
        lock.lock()
        let batch = Array(queue.prefix(maximumBatch))
        queue.removeFirst(batch.count)
        lock.unlock()
        let items = batch.map(\.item)
        let results = run(items)
        precondition(results.count == batch.count, "a batch needs one result per item")

        lock.lock()
        let next = queue.first
        if next == nil { leading = false }
        lock.unlock()
        next?.lead()

        let outcomes = then(items, results)
        precondition(outcomes.count == batch.count, "a batch needs one outcome per item")
        for (waiting, outcome) in zip(batch, outcomes).dropFirst() { waiting.finish(outcome) }
        return try outcomes[0].get()
    }

    /// How many callers wait for a batch to take them; for tests.
    var queuedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return queue.count
    }
}
