import Foundation
import LeaderboardCore
import Logging
import Synchronization

/// The daemon's one Redis pub/sub connection: reads `lb:events` on a thread of its own and hands each
/// message's events (those of one run of the apply script, which share their `at`) to the hub. After a
/// broken connection it resubscribes, and since events may have been missed in between, asks the hub to
/// refresh every view.
final class EventSubscriber: Sendable {
    private let settings: RedisSettings
    private let hub: Hub
    private let logger: Logger
    private let isStopping = Atomic<Bool>(false)
    /// Redis's id of the subscribed connection: `stop` ends its blocked read with CLIENT KILL, since a
    /// hiredis read cannot be interrupted from another thread.
    private let subscribedClientID = Mutex<Int?>(nil)
    /// Cuts a back-off short when the daemon stops.
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(settings: RedisSettings, hub: Hub, logger: Logger) {
        self.settings = settings
        self.hub = hub
        self.logger = logger
    }

    func start() {
        Thread.detachNewThread {
            self.run()
            self.finished.signal()
        }
    }

    /// Ends the loop and waits up to `timeout` for its thread to return; no event reaches the hub after.
    func stop(timeout: DispatchTimeInterval = .seconds(2)) {
        isStopping.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
        if let id = subscribedClientID.withLock({ $0 }) {
            _ = try? RedisConnection(settings: settings).command(["CLIENT", "KILL", "ID", String(id)])
        }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            logger.warning("event subscriber did not stop in time")
        }
    }

    private var isRunning: Bool { !isStopping.load(ordering: .sequentiallyConsistent) }

    private func run() {
        var failures = 0
        while isRunning { failures = follow(failuresSoFar: failures) }
    }

    /// One connection's life: subscribes, hands every event to the hub until the connection fails, then
    /// backs off. Returns how many attempts in a row have failed.
    ///
    /// A function of its own, never inlined, and so is `forward`: with the loops nested in `run`, the
    /// release build's optimizer (loop-invariant code motion, Swift 6.3.1) never finished compiling it.
    @inline(never)
    private func follow(failuresSoFar: Int) -> Int {
        var failures = failuresSoFar
        let connection = RedisConnection(settings: settings)
        defer {
            subscribedClientID.withLock { $0 = nil }
            connection.close()
        }
        do {
            // Optional: where CLIENT is not allowed, `stop` waits out its timeout instead.
            if case .integer(let id) = try? connection.command(["CLIENT", "ID"]) { subscribedClientID.withLock { $0 = id } }
            // Checked after the id is published: a `stop` that saw no id is seen here.
            guard isRunning else { return failures }
            try connection.subscribe(to: [RedisKeys.eventsChannel])
            if failures > 0 {
                logger.info("event stream back; refreshing every view")
                hub.refreshAll()
            }
            failures = 0
            try forward(from: connection)
        } catch {
            guard isRunning else { return failures }
            if failures == 0 { logger.warning("event stream lost; reconnecting", metadata: ["error": "\(error)"]) }
            failures += 1
            // Back off up to two seconds while Redis is away.
            _ = wake.wait(timeout: .now() + .milliseconds(Int(min(2000, 50 * Double(failures)))))
        }
        return failures
    }

    /// Returns when the daemon stops, or by throwing when the connection fails.
    @inline(never)
    private func forward(from connection: RedisConnection) throws {
        while isRunning {
            let (_, payload) = try connection.nextMessage()
            do {
                let events = try JSONDecoder().decode([BoardEvent].self, from: Data(payload))
                if events.isEmpty {
                    hub.refreshAll()
                } else {
                    events.first.map(Hub.recordLag)
                    hub.publish(events)
                }
            } catch {
                logger.warning("unreadable event", metadata: ["error": "\(error)"])
            }
        }
    }
}
