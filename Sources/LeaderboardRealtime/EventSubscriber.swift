import Foundation
import LeaderboardCore
import Logging

/// The daemon's one Redis pub/sub connection: reads `lb:events` on a thread of its own and hands each
/// message's events (those of one run of the apply script, which share their `at`) to the hub. After a
/// broken connection it resubscribes, and since events may have been missed in between, asks the hub to
/// refresh every view.
final class EventSubscriber: Sendable {
    private let settings: RedisSettings
    private let hub: Hub
    private let logger: Logger

    init(settings: RedisSettings, hub: Hub, logger: Logger) {
        self.settings = settings
        self.hub = hub
        self.logger = logger
    }

    func start() {
        Thread.detachNewThread { self.run() }
    }

    private func run() {
        var failures = 0
        while true { failures = follow(failuresSoFar: failures) }
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
        do {
            try connection.subscribe(to: [RedisKeys.eventsChannel])
            if failures > 0 {
                logger.info("event stream back; refreshing every view")
                hub.refreshAll()
            }
            failures = 0
            try forward(from: connection)
        } catch {
            if failures == 0 { logger.warning("event stream lost; reconnecting", metadata: ["error": "\(error)"]) }
            failures += 1
            connection.close()
            // Back off up to two seconds while Redis is away.
            Thread.sleep(forTimeInterval: min(2, 0.05 * Double(failures)))
        }
        return failures
    }

    /// Returns only by throwing, when the connection fails.
    @inline(never)
    private func forward(from connection: RedisConnection) throws {
        while true {
            let (_, payload) = try connection.nextMessage()
            do {
                let events = try JSONDecoder().decode([BoardEvent].self, from: Data(payload))
                events.first.map(Hub.recordLag)
                hub.publish(events)
            } catch {
                logger.warning("unreadable event", metadata: ["error": "\(error)"])
            }
        }
    }
}
