import Foundation

/// Tells a background loop to end, and wakes it from its pause at once: the process must not exit while
/// such a thread still runs, since exit tears down libraries (OpenSSL's locks) under it.
///
/// `@unchecked Sendable`: `stopped` is only touched with `condition` locked.
public final class StopSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false
    private var nudged = false

    public init() {}

    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Ends the current pause, or the next one, early, without stopping the loop.
    public func nudge() {
        condition.lock()
        nudged = true
        condition.broadcast()
        condition.unlock()
    }

    /// Pauses for `seconds` unless stopped or nudged first; true once stopped.
    public func wait(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while !stopped && !nudged && condition.wait(until: deadline) {}
        nudged = false
        return stopped
    }
}
