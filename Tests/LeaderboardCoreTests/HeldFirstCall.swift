import Foundation
import LeaderboardTesting
import Testing

@testable import LeaderboardCore

/// Counts the calls of something several threads make (a value being made, a page being read) and holds the first
/// until the others have piled up behind it, for the tests of `SingleFlight` and of the caches that use it.
final class HeldFirstCall: Sendable {
    let calls = Locked(0)
    private let started = DispatchSemaphore(value: 0)
    private let mayFinish = DispatchSemaphore(value: 0)

    /// Call at the start of the held thing: the first call waits for `callers(_:waitingFor:)` to let it go.
    func call() {
        let first = calls.withLock { count in
            count += 1
            return count == 1
        }
        guard first else { return }
        started.signal()
        mayFinish.wait()
    }

    /// Whether the first call has started, within the tests' bound.
    func waitUntilStarted() -> Bool { started.wait(timeout: .now() + SharedRoundTripTests.bound) == .success }

    /// Lets the first call go on.
    func release() { mayFinish.signal() }

    /// What `callers` threads get from `body`, the first starting alone and held in `call()` until `waiting()` counts
    /// the others as waiting for it; fails the test (throws) when they do not.
    func callers<Value: Sendable>(_ callers: Int, waitingFor waiting: () -> Int, calling body: @escaping @Sendable () -> Value) throws -> [Value] {
        let values = Locked<[Value]>([])
        let group = DispatchGroup()
        for caller in 0..<callers {
            group.enter()
            Thread.detachNewThread {
                let value = body()
                values.withLock { $0.append(value) }
                group.leave()
            }
            if caller == 0 { try #require(waitUntilStarted(), "the first call never started") }
        }
        let piledUp = SharedRoundTripTests.eventually { waiting() == callers - 1 }
        release()
        try #require(piledUp, "only \(waiting()) of \(callers - 1) callers waited for the first")
        try #require(SharedRoundTripTests.finished(group), "a caller never returned")
        return values.withLock { $0 }
    }
}

/// One service over in-memory stores, with a page and a report cache, that the caches' tests read from several threads
/// at once: its read paths only read the in-memory index (once the stamps they read are complete) and the caches, which
/// are shared by design.
final class ServiceReadOnThreads: @unchecked Sendable {
    let index = InMemoryRankingIndex()
    let pages = PageCache()
    let reports = ReportCache()
    let service: LeaderboardService

    init() {
        service = LeaderboardService(
            scores: InMemoryScoreStore(), index: index, games: FixedGameCatalog(), ephemeral: InMemoryEphemeralStore(), pages: pages,
            reports: reports)
    }
}
