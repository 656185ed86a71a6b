import Foundation
import Logging

/// A process's one subscription to the Sentinels' `+switch-master`. A failover that Sentinel carries out while
/// every server stays up (`SENTINEL FAILOVER`, a planned upgrade) breaks no connection, and the demoted primary
/// goes on taking writes until Sentinel reconfigures it, seconds later: connections that follow the watch move to
/// the new primary on their next command instead, and `onSwitch` tells the ws daemon's subscription and the
/// reconciler at once. While no Sentinel answers, connections move on a READONLY or connection error as before.
public final class SentinelWatch: Sendable {
    static let channel = "+switch-master"

    private let sentinel: RedisSettings.Sentinel
    private let logger: Logger
    private let switchCount = Locked(0)
    private let actions = Locked<[@Sendable () -> Void]>([])
    /// The subscribed connection, which `stop` interrupts.
    private let subscribed = Locked<RedisConnection?>(nil)
    private let isStopping = Locked(false)
    /// Cuts a back-off short when the watch stops.
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    public init(sentinel: RedisSettings.Sentinel, logger: Logger) {
        self.sentinel = sentinel
        self.logger = logger
    }

    /// How many times the primary has moved since the watch started.
    public var switches: Int { switchCount.withLock { $0 } }

    /// Runs `action` on the watch's thread after each move of the primary (once `switches` counts it).
    public func onSwitch(_ action: @escaping @Sendable () -> Void) {
        actions.withLock { $0.append(action) }
    }

    public func start() {
        Thread.detachNewThread {
            self.run()
            self.finished.signal()
        }
    }

    /// Ends the watch and waits up to `timeout` for its thread; no action runs after.
    public func stop(timeout: DispatchTimeInterval = .seconds(2)) {
        isStopping.withLock { $0 = true }
        wake.signal()
        subscribed.withLock { $0?.interrupt() }
        if finished.wait(timeout: .now() + timeout) == .timedOut { logger.warning("Sentinel watch did not stop in time") }
    }

    private var isRunning: Bool { !isStopping.withLock { $0 } }

    private func run() {
        var primary: String?
        var attempt = 0
        while isRunning {
            let address = sentinel.addresses[attempt % sentinel.addresses.count]
            do {
                try follow(address, primary: &primary, attempt: &attempt)
            } catch {
                guard isRunning else { return }
                // Once per outage: the next Sentinels are tried in turn, backing off up to two seconds.
                if attempt == 0 { logger.warning("Sentinel watch lost; retrying", metadata: ["sentinel": "\(address)", "error": "\(error)"]) }
                attempt += 1
                _ = wake.wait(timeout: .now() + .milliseconds(min(2000, 100 * attempt)))
            }
        }
    }

    /// Follows one Sentinel until its connection fails or the watch stops. `primary` ("host port") is what the
    /// last Sentinel named: a move missed while none was followed counts once one answers again. `attempt`, the
    /// failures in a row, starts again once subscribed.
    private func follow(_ address: RedisSettings.Address, primary: inout String?, attempt: inout Int) throws(RedisError) {
        let settings = RedisSettings(endpoint: .tcp(host: address.host, port: address.port))
        let connection = RedisConnection(settings: settings)
        subscribed.withLock { $0 = connection }
        defer {
            subscribed.withLock { $0 = nil }
            connection.close()
        }
        try connection.subscribe(to: [Self.channel])
        guard isRunning else { return }
        // Asked after subscribing, so no move falls between the answer and the first message.
        let named = try RedisConnection(settings: settings).command(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", sentinel.masterName])
        if let parts = named.array?.compactMap(\.string), parts.count == 2 {
            let now = parts.joined(separator: " ")
            if let primary, primary != now { announce(now) }
            primary = now
        }
        attempt = 0
        while isRunning {
            // "<master name> <old ip> <old port> <new ip> <new port>"
            let parts = String(decoding: try connection.nextMessage().payload, as: UTF8.self).split(separator: " ")
            guard parts.count == 5, parts[0] == sentinel.masterName else { continue }
            primary = parts[3...].joined(separator: " ")
            announce(primary ?? "")
        }
    }

    private func announce(_ primary: String) {
        switchCount.withLock { $0 += 1 }
        logger.info("Redis primary moved", metadata: ["primary": "\(primary)"])
        for action in actions.withLock({ $0 }) { action() }
    }
}
