import Foundation

/// Lets concurrent callers share one round trip: whoever arrives while no batch is running leads, runs
/// the queued items together with its own connections, passes the lead to the first caller that queued
/// meanwhile, finishes the batch (while the next one runs) and hands every caller its outcome. A leader
/// that finds callers queued when its batch has run keeps the lead for one more batch instead, and hands
/// the finishing of its first batch to another caller of that batch, who does it with its own `then` (its
/// own connections): the next batch starts at once, without waiting for a sleeping caller to wake and
/// lead (~250 µs on this machine). Nothing waits for a batch to fill: a caller alone runs alone, and under
/// load the batch is whatever queued during the previous one. A batch starts after each of its callers
/// arrived, so what it reads is never older than the call.
///
/// Page and report reads use it for their stamp check (`PageCache`, `ReportCache`). (Submissions, whose callers
/// need not wait on a thread, have `GroupCommit`.)
///
/// Shared by the worker threads of a process. Each caller waits on a condition of its own, so finishing
/// a batch wakes exactly its callers and the next leader, not every waiting thread.
///
/// `@unchecked Sendable`: `queue` and `leading` are only touched under `lock`, a slot's `outcome`,
/// `leads` and `finishing` only under its own `wake` (NSLock and NSCondition: pthread mutexes and condition
/// variables, which ThreadSanitizer understands).
public final class SharedRoundTrip<Item, Middle, Outcome>: @unchecked Sendable {
    public typealias Finish = ([Item], [Result<Middle, any Error>]) -> [Result<Outcome, any Error>]

    private final class Slot {
        let item: Item
        /// The caller's own `then`, for when it finishes a batch its leader handed over.
        let then: Finish
        let wake = NSCondition()
        var outcome: Result<Outcome, any Error>?
        var leads = false
        /// A batch's finishing, handed over by its leader; done on this caller's thread.
        var finishing: (() -> Void)?

        init(_ item: Item, then: @escaping Finish) {
            self.item = item
            self.then = then
        }

        /// Blocks until the slot has its outcome or has to lead, finishing a batch meanwhile if handed one.
        func waitForTurn() -> Result<Outcome, any Error>? {
            wake.lock()
            defer { wake.unlock() }
            while outcome == nil && !leads {
                if let work = finishing {
                    finishing = nil
                    wake.unlock()
                    work()
                    wake.lock()
                } else {
                    wake.wait()
                }
            }
            return outcome
        }

        /// Blocks until the slot has its outcome, once this caller has led: its batch was finished by it or by
        /// the caller it handed the finishing to.
        func waitForOutcomeAfterLeading() -> Result<Outcome, any Error> {
            wake.lock()
            leads = false
            wake.unlock()
            guard let outcome = waitForTurn() else { preconditionFailure("a slot that led has no outcome") }
            return outcome
        }

        func handOver(_ work: @escaping () -> Void) {
            wake.lock()
            finishing = work
            wake.signal()
            wake.unlock()
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
    /// returns one result per item, in order; one batch runs at a time, in the caller that leads. `then`
    /// turns a batch's results into its outcomes while the next batch's `run` goes on, in the batch's
    /// leader or in another caller of the batch that the leader handed it to.
    public func submit(_ item: Item, run: ([Item]) -> [Result<Middle, any Error>], then: @escaping Finish) throws -> Outcome {
        let slot = Slot(item, then: then)
        lock.lock()
        queue.append(slot)
        let waits = leading
        leading = true
        lock.unlock()
        if waits, let outcome = slot.waitForTurn() { return try outcome.get() }

        // This caller leads and is first in the queue, so its item is in the first batch it runs.
        var keepsLead = true
        while true {
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
            if next != nil, keepsLead, let helper = batch.first(where: { $0 !== slot }) {
                keepsLead = false
                helper.handOver { Self.finish(batch, items, results, with: helper.then) }
                continue
            }
            next?.lead()
            Self.finish(batch, items, results, with: then)
            break
        }
        return try slot.waitForOutcomeAfterLeading().get()
    }

    private static func finish(_ batch: [Slot], _ items: [Item], _ results: [Result<Middle, any Error>], with then: Finish) {
        let outcomes = then(items, results)
        precondition(outcomes.count == batch.count, "a batch needs one outcome per item")
        for (waiting, outcome) in zip(batch, outcomes) { waiting.finish(outcome) }
    }

    /// How many callers wait for a batch to take them; for tests.
    var queuedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return queue.count
    }
}
