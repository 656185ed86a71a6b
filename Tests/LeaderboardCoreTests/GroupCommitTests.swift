import Foundation
import Testing

@testable import LeaderboardCore

struct GroupCommitTests {
    typealias Group = GroupCommit<Int, Int, Int>
    typealias HoldingRun = SharedRoundTripTests.HoldingRun

    /// A finish stage that records the batches it gets, passes results on as outcomes, and holds the batch `held`
    /// until `release()`, so that stored batches queue behind it.
    final class HoldingFinish: Sendable {
        let held: [Int]
        let batches = Locked<[[Int]]>([])
        private let heldStarted = DispatchSemaphore(value: 0)
        private let heldMayFinish = DispatchSemaphore(value: 0)

        init(holding held: [Int]) { self.held = held }

        func finish(_ batch: [Int], _ results: [Result<Int, any Error>]) -> [Result<Int, any Error>] {
            batches.withLock { $0.append(batch) }
            if batch == held {
                heldStarted.signal()
                heldMayFinish.wait()
            }
            return results
        }

        func waitUntilHeld() -> Bool { heldStarted.wait(timeout: .now() + SharedRoundTripTests.bound) == .success }
        func release() { heldMayFinish.signal() }
    }

    /// Every item's outcome, by item, as the completions hand them over; `answered` counts the completions.
    final class Outcomes: Sendable {
        let byItem = Locked<[Int: Result<Int, any Error>]>([:])
        let answered = DispatchGroup()

        func submit(_ item: Int, to group: Group) throws {
            answered.enter()
            do {
                try group.submit(item) { outcome in
                    self.byItem.withLock { $0[item] = outcome }
                    self.answered.leave()
                }
            } catch {
                answered.leave()
                throw error
            }
        }

        var doubled: [Int: Int] { byItem.withLock { $0.compactMapValues { try? $0.get() } } }
        func allAnswered() -> Bool { SharedRoundTripTests.finished(answered) }
    }

    static func group(store run: HoldingRun, finish: HoldingFinish? = nil, maximumWaiting: Int = 100) -> Group {
        let group = Group(maximumBatch: 8, maximumWaiting: maximumWaiting, refusal: "too many")
        group.start(
            store: { run.run },
            finish: {
                guard let finish else { return SharedRoundTripTests.passOn }
                return finish.finish
            })
        return group
    }

    @Test func itemsThatQueueWhileABatchIsStoredAreTheNextBatch() throws {
        let run = HoldingRun(holding: [1])
        let group = Self.group(store: run)
        defer { group.stop() }
        let outcomes = Outcomes()
        try outcomes.submit(1, to: group)
        #expect(run.waitUntilHeld())
        for item in 2...6 { try outcomes.submit(item, to: group) }
        run.release()
        #expect(outcomes.allAnswered())
        #expect(run.batches.withLock { $0 } == [[1], [2, 3, 4, 5, 6]])
        #expect(outcomes.doubled == [1: 2, 2: 4, 3: 6, 4: 8, 5: 10, 6: 12])
    }

    @Test func aBatchIsNoLargerThanTheMaximum() throws {
        let run = HoldingRun(holding: [0])
        let group = Self.group(store: run)
        defer { group.stop() }
        let outcomes = Outcomes()
        try outcomes.submit(0, to: group)
        #expect(run.waitUntilHeld())
        for item in 1...20 { try outcomes.submit(item, to: group) }
        run.release()
        #expect(outcomes.allAnswered())
        #expect(run.batches.withLock { $0 } == [[0], Array(1...8), Array(9...16), Array(17...20)])
    }

    @Test func batchesStoredWhileTheFinishStageIsBusyAreFinishedTogether() throws {
        let run = HoldingRun(holding: [])
        let finish = HoldingFinish(holding: [1])
        let group = Self.group(store: run, finish: finish)
        defer { group.stop() }
        let outcomes = Outcomes()
        try outcomes.submit(1, to: group)
        #expect(finish.waitUntilHeld())
        // Stored one by one while the finish stage holds the first batch.
        for item in 2...4 {
            try outcomes.submit(item, to: group)
            #expect(SharedRoundTripTests.eventually { run.batches.withLock { $0.count } == item })
        }
        finish.release()
        #expect(outcomes.allAnswered())
        #expect(finish.batches.withLock { $0 } == [[1], [2, 3, 4]])
        #expect(outcomes.doubled == [1: 2, 2: 4, 3: 6, 4: 8])
    }

    @Test func aFailureReachesOnlyItsOwnItem() throws {
        let group = Self.group(store: HoldingRun(holding: []))
        defer { group.stop() }
        let outcomes = Outcomes()
        for item in [101, 102, 103] { try outcomes.submit(item, to: group) }
        #expect(outcomes.allAnswered())
        let failures = outcomes.byItem.withLock { $0.compactMapValues(\.failure) }
        #expect(failures.keys.sorted() == [101, 103])
        #expect(outcomes.doubled == [102: 204])
    }

    @Test func manyThreadsSubmittingAtOnceEachGetTheirOwnOutcome() throws {
        let group = Self.group(store: HoldingRun(holding: []), maximumWaiting: 400)
        defer { group.stop() }
        let outcomes = Outcomes()
        let submitted = DispatchGroup()
        let refused = Locked(0)
        for thread in 0..<8 {
            submitted.enter()
            Thread.detachNewThread {
                for item in (thread * 50)..<(thread * 50 + 50) {
                    do { try outcomes.submit(item, to: group) } catch { refused.withLock { $0 += 1 } }
                }
                submitted.leave()
            }
        }
        #expect(SharedRoundTripTests.finished(submitted))
        #expect(outcomes.allAnswered())
        #expect(refused.withLock { $0 } == 0)
        // Items 0 to 100 and the even ones above double; the odd ones above fail (`SharedRoundTripTests.double`).
        let doubled = (0..<400).filter { $0 <= 100 || $0.isMultiple(of: 2) }
        #expect(outcomes.doubled == Dictionary(uniqueKeysWithValues: doubled.map { ($0, $0 * 2) }))
        #expect(outcomes.byItem.withLock { $0.count } == 400)
    }

    @Test func itemsPastTheMostThatMayWaitAreRefused() throws {
        let run = HoldingRun(holding: [1])
        let group = Self.group(store: run, maximumWaiting: 2)
        defer { group.stop() }
        let outcomes = Outcomes()
        try outcomes.submit(1, to: group)
        #expect(run.waitUntilHeld())
        try outcomes.submit(2, to: group)
        try outcomes.submit(3, to: group)
        #expect(throws: ServiceError.unavailable("too many")) { try group.submit(4) { _ in } }
        run.release()
        #expect(outcomes.allAnswered())
        #expect(outcomes.doubled == [1: 2, 2: 4, 3: 6])
    }

    @Test func stoppingStoresAndFinishesWhatQueuedThenRefuses() throws {
        let run = HoldingRun(holding: [1])
        let group = Self.group(store: run)
        let outcomes = Outcomes()
        try outcomes.submit(1, to: group)
        #expect(run.waitUntilHeld())
        for item in 2...4 { try outcomes.submit(item, to: group) }
        let stopped = DispatchGroup()
        stopped.enter()
        Thread.detachNewThread {
            group.stop()
            stopped.leave()
        }
        #expect(SharedRoundTripTests.eventually { (try? group.submit(5) { _ in }) == nil })
        run.release()
        #expect(SharedRoundTripTests.finished(stopped))
        #expect(outcomes.allAnswered())
        #expect(outcomes.doubled == [1: 2, 2: 4, 3: 6, 4: 8])
    }

    @Test func aStageHeldOnOneBatchIsReportedStuck() throws {
        let run = HoldingRun(holding: [1])
        let group = Self.group(store: run)
        defer { group.stop() }
        #expect(group.isProgressing(stuckAfter: .milliseconds(1)))
        try group.submit(1) { _ in }
        #expect(run.waitUntilHeld())
        #expect(SharedRoundTripTests.eventually { !group.isProgressing(stuckAfter: .milliseconds(1)) })
        #expect(group.isProgressing(stuckAfter: .seconds(600)))
        run.release()
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
