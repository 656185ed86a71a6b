import Foundation
import Testing

@testable import LeaderboardCore

struct SharedRoundTripTests {
    struct Failed: Error, Equatable { let item: Int }

    /// Doubles each item; odd items above 100 fail, to check that a failure reaches only its caller.
    static func double(_ batch: [Int]) -> [Result<Int, any Error>] {
        batch.map { $0 > 100 && !$0.isMultiple(of: 2) ? .failure(Failed(item: $0)) : .success($0 * 2) }
    }

    /// The second step: passes results on as outcomes.
    static func passOn(_ batch: [Int], _ results: [Result<Int, any Error>]) -> [Result<Int, any Error>] { results }

    /// How long any wait of these tests may take: a broken hand-over fails the test instead of hanging it.
    static let bound = DispatchTimeInterval.seconds(10)

    /// Spins until `condition` holds; false if it still does not after `bound`.
    static func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = DispatchTime.now() + bound
        while !condition() {
            guard DispatchTime.now() < deadline else { return false }
            sched_yield()
        }
        return true
    }

    /// Whether every thread of `group` has left within `bound`.
    static func finished(_ group: DispatchGroup) -> Bool { group.wait(timeout: .now() + bound) == .success }

    /// A `run` step that records the batches it gets and holds the batch `held` until `release()`, so that
    /// callers queue behind it.
    final class HoldingRun: Sendable {
        let held: [Int]
        let batches = Locked<[[Int]]>([])
        private let heldStarted = DispatchSemaphore(value: 0)
        private let heldMayFinish = DispatchSemaphore(value: 0)

        init(holding held: [Int]) { self.held = held }

        func run(_ batch: [Int]) -> [Result<Int, any Error>] {
            batches.withLock { $0.append(batch) }
            if batch == held {
                heldStarted.signal()
                heldMayFinish.wait()
            }
            return SharedRoundTripTests.double(batch)
        }

        /// Whether the held batch started within the bound.
        func waitUntilHeld() -> Bool { heldStarted.wait(timeout: .now() + SharedRoundTripTests.bound) == .success }
        func release() { heldMayFinish.signal() }
    }

    @Test func aCallerAloneRunsItsOwnBatchAtOnce() throws {
        let group = SharedRoundTrip<Int, Int, Int>()
        var batches: [[Int]] = []
        let outcome = try group.submit(
            21,
            run: { batch in
                batches.append(batch)
                return Self.double(batch)
            }, then: Self.passOn)
        #expect(outcome == 42)
        #expect(batches == [[21]])
        #expect(group.queuedCount == 0)
    }

    /// While one batch runs, the callers that arrive queue; the first of them then leads one batch for
    /// all of them, and each gets its own outcome or its own error.
    @Test func callersArrivingDuringABatchShareTheNextAndGetTheirOwnOutcomes() throws {
        let group = SharedRoundTrip<Int, Int, Int>(maximumBatch: 64)
        let first = HoldingRun(holding: [1])
        let outcomes = Locked<[Int: Result<Int, Failed>]>([:])
        let done = DispatchGroup()
        func submitInBackground(_ item: Int) {
            done.enter()
            Thread.detachNewThread {
                let outcome: Result<Int, Failed>
                do {
                    outcome = .success(try group.submit(item, run: first.run, then: Self.passOn))
                } catch {
                    outcome = .failure(error as? Failed ?? Failed(item: -1))
                }
                outcomes.withLock { $0[item] = outcome }
                done.leave()
            }
        }

        submitInBackground(1)
        try #require(first.waitUntilHeld(), "the first batch never ran")
        let later = [102, 103, 104, 105, 106]
        for item in later { submitInBackground(item) }
        // Every later caller is queued behind the running batch before it may finish.
        let queued = Self.eventually { group.queuedCount >= later.count }
        first.release()
        try #require(queued, "only \(group.queuedCount) of \(later.count) callers queued behind the running batch")
        try #require(Self.finished(done), "a caller never returned")

        let recorded = first.batches.withLock { $0 }
        #expect(recorded.count == 2)
        #expect(recorded.first == [1])
        #expect(recorded.last?.sorted() == later)
        let results = outcomes.withLock { $0 }
        #expect(results[1] == .success(2))
        for item in later {
            #expect(results[item] == (item.isMultiple(of: 2) ? .success(item * 2) : .failure(Failed(item: item))))
        }
        #expect(group.queuedCount == 0)
    }

    /// A batch takes at most `maximumBatch` items; the rest go in the next.
    @Test func aBatchIsCappedAndTheRestFollow() throws {
        let group = SharedRoundTrip<Int, Int, Int>(maximumBatch: 2)
        let first = HoldingRun(holding: [0])
        let done = DispatchGroup()
        for item in 0..<6 {
            done.enter()
            Thread.detachNewThread {
                _ = try? group.submit(item, run: first.run, then: Self.passOn)
                done.leave()
            }
            if item == 0 { try #require(first.waitUntilHeld(), "the first batch never ran") }
        }
        let queued = Self.eventually { group.queuedCount >= 5 }
        first.release()
        try #require(queued, "only \(group.queuedCount) of 5 callers queued behind the running batch")
        try #require(Self.finished(done), "a caller never returned")
        let recorded = first.batches.withLock { $0 }
        #expect(recorded.first == [0])
        #expect(recorded.dropFirst().map(\.count) == [2, 2, 1])
        #expect(recorded.flatMap { $0 }.sorted() == Array(0..<6))
    }

    /// The lead passes on before `then`: the next batch's `run` starts while the previous batch is being
    /// finished (here, before it may finish at all).
    @Test func theNextBatchRunsWhileThePreviousOneIsFinished() throws {
        let group = SharedRoundTrip<Int, Int, Int>()
        let firstRunMayEnd = DispatchSemaphore(value: 0)
        let firstRunStarted = DispatchSemaphore(value: 0)
        let secondRunStarted = DispatchSemaphore(value: 0)
        let overlapped = Locked(false)
        let done = DispatchGroup()
        let run: @Sendable ([Int]) -> [Result<Int, any Error>] = { batch in
            if batch == [1] {
                firstRunStarted.signal()
                firstRunMayEnd.wait()
            } else {
                secondRunStarted.signal()
            }
            return Self.double(batch)
        }
        let then: @Sendable ([Int], [Result<Int, any Error>]) -> [Result<Int, any Error>] = { batch, results in
            if batch == [1] { overlapped.withLock { $0 = secondRunStarted.wait(timeout: .now() + Self.bound) == .success } }
            return results
        }
        for item in [1, 2] {
            done.enter()
            Thread.detachNewThread {
                _ = try? group.submit(item, run: run, then: then)
                done.leave()
            }
            if item == 1 { try #require(firstRunStarted.wait(timeout: .now() + Self.bound) == .success, "the first batch never ran") }
        }
        let queued = Self.eventually { group.queuedCount >= 1 }
        firstRunMayEnd.signal()
        try #require(queued, "the second caller never queued behind the running batch")
        try #require(Self.finished(done), "a caller never returned")
        #expect(overlapped.withLock { $0 })
    }

    /// A leader that finds callers queued once its batch has run keeps the lead: it runs the next batch at once and hands
    /// the finishing of its own batch to another caller of that batch, who finishes it with its own `then`.
    @Test func aLeaderWithCallersQueuedRunsTheNextBatchAndAnotherCallerFinishesItsOwn() throws {
        let group = SharedRoundTrip<Int, Int, Int>(maximumBatch: 2)
        let runs = Locked<[(caller: Int, batch: [Int])]>([])
        let finishes = Locked<[(caller: Int, batch: [Int])]>([])
        let outcomes = Locked<[Int: Int]>([:])
        let started = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        let mayEnd = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        let done = DispatchGroup()
        func submitInBackground(_ item: Int) {
            done.enter()
            Thread.detachNewThread {
                let outcome = try? group.submit(
                    item,
                    run: { batch in
                        runs.withLock { $0.append((item, batch)) }
                        // The first batch and the second are held until the callers meant to queue behind them have.
                        if batch == [0] {
                            started.0.signal()
                            mayEnd.0.wait()
                        } else if batch.sorted() == [1, 2] {
                            started.1.signal()
                            mayEnd.1.wait()
                        }
                        return Self.double(batch)
                    },
                    then: { batch, results in
                        finishes.withLock { $0.append((item, batch)) }
                        return results
                    })
                outcomes.withLock { $0[item] = outcome }
                done.leave()
            }
        }

        submitInBackground(0)
        try #require(started.0.wait(timeout: .now() + Self.bound) == .success, "the first batch never ran")
        for item in [1, 2] { submitInBackground(item) }
        let queued = Self.eventually { group.queuedCount >= 2 }
        mayEnd.0.signal()
        try #require(queued, "the second batch's callers never queued")
        try #require(started.1.wait(timeout: .now() + Self.bound) == .success, "the second batch never ran")
        submitInBackground(3)
        let queuedThird = Self.eventually { group.queuedCount >= 1 }
        mayEnd.1.signal()
        try #require(queuedThird, "the third caller never queued")
        try #require(Self.finished(done), "a caller never returned")

        let ran = runs.withLock { $0 }
        #expect(ran.map { $0.batch.sorted() } == [[0], [1, 2], [3]])
        let secondLeader = ran[1].caller
        #expect(ran[2].caller == secondLeader, "the leader of the second batch ran the third at once")
        let finishedSecond = finishes.withLock { $0 }.filter { $0.batch.sorted() == [1, 2] }
        #expect(finishedSecond.map(\.caller) == [secondLeader == 1 ? 2 : 1], "the other caller of the second batch finished it")
        #expect(outcomes.withLock { $0 } == [0: 0, 1: 2, 2: 4, 3: 6])
        #expect(group.queuedCount == 0)
    }
}
