import Foundation
import Testing

@testable import LeaderboardCore

struct SingleFlightTests {
    struct Failed: Error, Equatable {}

    @Test func callersOfOneKeyWhileItIsMadeShareOneMaking() throws {
        let flights = SingleFlight<String, Int>()
        let held = HeldFirstCall()
        let values = try held.callers(
            6, waitingFor: { flights.waitingCount },
            calling: {
                try? flights.value(for: "week") {
                    held.call()
                    return held.calls.withLock { $0 }
                }
            })
        #expect(held.calls.withLock { $0 } == 1)
        #expect(values == Array(repeating: 1, count: 6))
    }

    @Test func theMakersErrorReachesEveryCallerThatWaited() throws {
        let flights = SingleFlight<String, Int>()
        let held = HeldFirstCall()
        let failures = try held.callers(
            3, waitingFor: { flights.waitingCount },
            calling: {
                do {
                    _ = try flights.value(for: "month") {
                        held.call()
                        throw Failed()
                    }
                    return false
                } catch {
                    return error is Failed
                }
            })
        #expect(held.calls.withLock { $0 } == 1)
        #expect(failures == [true, true, true])
    }

    @Test func otherKeysDoNotWaitAndNothingIsKeptOnceMade() throws {
        let flights = SingleFlight<String, Int>()
        let held = HeldFirstCall()
        let made = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? flights.value(for: "week") {
                held.call()
                return 7
            }
            made.signal()
        }
        try #require(held.waitUntilStarted(), "the first caller never made the value")
        // Made here while "week" is still being made.
        #expect(try flights.value(for: "day") { 1 } == 1)
        held.release()
        try #require(made.wait(timeout: .now() + SharedRoundTripTests.bound) == .success, "the first caller never returned")
        #expect(try flights.value(for: "week") { 9 } == 9, "a caller after the making makes it again")
        #expect(flights.waitingCount == 0)
    }
}
