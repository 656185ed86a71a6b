import Foundation

/// Lets concurrent callers share one round trip: whoever arrives while no batch is running leads, runs
/// the queued items together with its own connections, hands every caller its outcome, and passes the
/// lead to the first caller that queued meanwhile. Nothing waits for a batch to fill: a caller alone
/// runs alone, and under load the batch is whatever queued during the previous one.
///
/// Shared by the worker threads of a process. `@unchecked Sendable`: `queue` and `leading`, and each
/// slot's fields, are only touched with `condition` locked (an NSCondition, a pthread mutex and condition
/// variable, which ThreadSanitizer understands).
public final class GroupCommit<Item, Outcome>: @unchecked Sendable {
    private final class Slot {
        let item: Item
        var outcome: Result<Outcome, any Error>?
        var leads = false

        init(_ item: Item) { self.item = item }
    }

    public let maximumBatch: Int
    private let condition = NSCondition()
    private var queue: [Slot] = []
    /// A batch is running, or its next leader has been named: a new caller waits.
    private var leading = false

    public init(maximumBatch: Int = 64) {
        precondition(maximumBatch >= 1)
        self.maximumBatch = maximumBatch
    }

    /// `item`'s outcome. `run` gets a batch (this caller's item among them when this caller leads) and
    /// returns one outcome per item, in order; it runs only in the caller that leads.
    public func submit(_ item: Item, run: ([Item]) -> [Result<Outcome, any Error>]) throws -> Outcome {
        let slot = Slot(item)
        condition.lock()
        queue.append(slot)
        if leading {
            while slot.outcome == nil && !slot.leads { condition.wait() }
        } else {
            leading = true
            slot.leads = true
        }
        if let outcome = slot.outcome {
            condition.unlock()
            return try outcome.get()
        }
        // This caller leads and is first in the queue, so its item is in the batch.
        let batch = Array(queue.prefix(maximumBatch))
        queue.removeFirst(batch.count)
        condition.unlock()

        let outcomes = run(batch.map(\.item))
        precondition(outcomes.count == batch.count, "a batch needs one outcome per item")

        condition.lock()
        for (waiting, outcome) in zip(batch, outcomes) { waiting.outcome = outcome }
        if let next = queue.first { next.leads = true } else { leading = false }
        condition.broadcast()
        condition.unlock()
        return try outcomes[0].get()
    }

    /// How many callers wait for a batch to take them; for tests.
    var queuedCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }
}
