import Foundation
import LeaderboardCore
import Logging
import Synchronization

/// Where the event subscriber hands what it reads: the hub, or a test's recorder.
protocol EventSink: Sendable {
    func publish(_ events: [BoardEvent])
    /// After a gap in the event stream, or a move to another Redis primary: every view is recomputed.
    func refreshAll()
    /// A token was revoked (a logout): the open sockets' tokens are checked now.
    func checkRevocations()
}

extension Hub: EventSink {}

/// The daemon's one Redis pub/sub connection: reads `lb:events` on a thread of its own and hands each
/// message's events (those of one run of the apply script, which share their `at`) to the hub, and a logout's
/// word on `lb:revocations` too. After a
/// broken connection it resubscribes, and since events may have been missed in between, asks the hub to
/// refresh every view. Under Sentinel it moves as soon as the watch sees the primary move (where submissions
/// now publish), without waiting for the old primary to drop it, and refreshes every view once.
final class EventSubscriber: Sendable {
    private let settings: RedisSettings
    private let sink: any EventSink
    private let watch: SentinelWatch?
    private let logger: Logger
    private let isStopping = Atomic<Bool>(false)
    /// The subscribed connection: `stop` and a move of the primary end its blocked read.
    private let subscribed = Locked<RedisConnection?>(nil)
    /// Cuts a back-off short when the daemon stops or the primary moves.
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(settings: RedisSettings, sink: any EventSink, following watch: SentinelWatch? = nil, logger: Logger) {
        self.settings = settings
        self.sink = sink
        self.watch = watch
        self.logger = logger
        watch?.onSwitch { [weak self] in
            self?.subscribed.withLock { $0?.interrupt() }
            self?.wake.signal()
        }
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
        subscribed.withLock { $0?.interrupt() }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            logger.warning("event subscriber did not stop in time")
        }
    }

    private var isRunning: Bool { !isStopping.load(ordering: .sequentiallyConsistent) }

    private func run() {
        var failures = 0
        var hasMoved = false
        while isRunning { (failures, hasMoved) = follow(failuresSoFar: failures, hasMoved: hasMoved) }
    }

    /// One connection's life: subscribes, hands every event to the hub until the connection fails or the
    /// primary moves, then backs off (after a failure). Returns how many attempts in a row have failed, and
    /// whether the primary moved since the last subscription.
    ///
    /// A function of its own, never inlined, and so is `forward`: with the loops nested in `run`, the
    /// release build's optimizer (loop-invariant code motion, Swift 6.3.1) never finished compiling it.
    @inline(never)
    private func follow(failuresSoFar: Int, hasMoved: Bool) -> (failures: Int, hasMoved: Bool) {
        var failures = failuresSoFar
        let connection = RedisConnection(settings: settings, following: watch)
        subscribed.withLock { $0 = connection }
        defer {
            subscribed.withLock { $0 = nil }
            connection.close()
        }
        do {
            try connection.subscribe(to: [RedisKeys.eventsChannel, RedisKeys.revocationsChannel])
            // Checked once the connection can be interrupted: a stop or a move before then is seen here.
            guard isRunning else { return (failures, hasMoved) }
            if connection.hasMissedASwitch { return (failures, true) }
            if failures > 0 || hasMoved {
                logger.info(failures > 0 ? "event stream back; refreshing every view" : "following the new Redis primary; refreshing every view")
                sink.refreshAll()
            }
            failures = 0
            try forward(from: connection)
        } catch {
            guard isRunning else { return (failures, hasMoved) }
            if connection.hasMissedASwitch { return (failures, true) }
            if failures == 0 { logger.warning("event stream lost; reconnecting", metadata: ["error": "\(error)"]) }
            failures += 1
            // Back off up to two seconds while Redis is away.
            _ = wake.wait(timeout: .now() + .milliseconds(Int(min(2000, 50 * Double(failures)))))
        }
        return (failures, false)
    }

    /// Returns when the daemon stops, or by throwing when the connection fails.
    @inline(never)
    private func forward(from connection: RedisConnection) throws {
        while isRunning {
            let (channel, payload) = try connection.nextMessage()
            if channel == RedisKeys.revocationsChannel {
                sink.checkRevocations()
                continue
            }
            do {
                let events = try BoardEvent.parse(payload)
                if events.isEmpty {
                    sink.refreshAll()
                } else {
                    events.first.map(Hub.recordLag)
                    sink.publish(events)
                }
            } catch {
                logger.warning("unreadable event", metadata: ["error": "\(error)"])
            }
        }
    }
}
