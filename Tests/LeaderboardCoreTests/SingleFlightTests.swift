import Foundation
import Testing

@testable import LeaderboardCore

struct SingleFlightTests {
    struct Failed: Error, Equatable {}

    /// A `make` that counts its runs and, for `held`, waits for `release()`, so that callers pile up behind it.
    final class HeldMaker: Sendable {
        let runs = Locked(0)
        private let started = DispatchSemaphore(value: 0)
        private let mayFinish = DispatchSemaphore(value: 0)

        func make(_ value: Int, failing: Bool = false) throws -> Int {
            runs.withLock { $0 += 1 }
            started.signal()
            mayFinish.wait()
            if failing { throw Failed() }
            return value
        }

        func waitUntilStarted() -> Bool { started.wait(timeout: .now() + SharedRoundTripTests.bound) == .success }
        func release() { mayFinish.signal() }
    }

    /// Runs `body` on another thread, entered in `group`.
    static func inBackground(_ group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
        group.enter()
        Thread.detachNewThread {
            body()
            group.leave()
        }
    }

    @Test func callersOfOneKeyWhileItIsMadeShareOneMaking() throws {
        let flights = SingleFlight<String, Int>()
        let maker = HeldMaker()
        let results = Locked<[Int]>([])
        let group = DispatchGroup()
        Self.inBackground(group) {
            let value = try? flights.value(for: "week") { try maker.make(7) }
            results.withLock { $0.append(value ?? -1) }
        }
        try #require(maker.waitUntilStarted(), "the first caller never made the value")
        for _ in 0..<5 {
            Self.inBackground(group) {
                let value = try? flights.value(for: "week") { try maker.make(8) }
                results.withLock { $0.append(value ?? -1) }
            }
        }
        let waiting = SharedRoundTripTests.eventually { flights.waitingCount == 5 }
        maker.release()
        try #require(waiting, "only \(flights.waitingCount) of 5 callers waited for the value being made")
        try #require(SharedRoundTripTests.finished(group), "a caller never returned")
        #expect(maker.runs.withLock { $0 } == 1)
        #expect(results.withLock { $0 } == Array(repeating: 7, count: 6))
    }

    @Test func theMakersErrorReachesEveryCallerThatWaited() throws {
        let flights = SingleFlight<String, Int>()
        let maker = HeldMaker()
        let failures = Locked(0)
        let group = DispatchGroup()
        for caller in 0..<3 {
            Self.inBackground(group) {
                do {
                    _ = try flights.value(for: "month") { try maker.make(1, failing: true) }
                } catch is Failed {
                    failures.withLock { $0 += 1 }
                } catch {}
            }
            if caller == 0 { try #require(maker.waitUntilStarted(), "the first caller never made the value") }
        }
        let waiting = SharedRoundTripTests.eventually { flights.waitingCount == 2 }
        maker.release()
        try #require(waiting, "the other callers did not wait for the value being made")
        try #require(SharedRoundTripTests.finished(group), "a caller never returned")
        #expect(maker.runs.withLock { $0 } == 1)
        #expect(failures.withLock { $0 } == 3)
    }

    @Test func otherKeysDoNotWaitAndNothingIsKeptOnceMade() throws {
        let flights = SingleFlight<String, Int>()
        let maker = HeldMaker()
        let group = DispatchGroup()
        Self.inBackground(group) { _ = try? flights.value(for: "week") { try maker.make(7) } }
        try #require(maker.waitUntilStarted(), "the first caller never made the value")
        // Made here while "week" is still being made.
        #expect(try flights.value(for: "day") { 1 } == 1)
        maker.release()
        try #require(SharedRoundTripTests.finished(group), "a caller never returned")
        #expect(try flights.value(for: "week") { 9 } == 9, "a caller after the making makes it again")
        #expect(flights.waitingCount == 0)
    }
}
