import NIOCore

/// A client's token bucket: `rate` messages a second, in bursts of up to twice that, and a count of its refused
/// messages that drains at `rate` a second, so a client that waits out its refusals comes back to zero while one that
/// keeps sending at more than twice the rate fills it, at whatever pace the daemon reads its messages. The caller
/// passes the time, so tests can move it.
struct MessageAllowance {
    enum Decision: Equatable {
        case admitted
        /// Whole seconds, as HTTP's Retry-After: never sooner than the bucket holds a message again.
        case refused(retryAfter: Int)
        /// Refused, and more than five seconds' worth of refusals are outstanding: the client ignores them.
        case refusedTooOften
    }

    let rate: Int
    private var allowance: Double
    private var refusals: Double = 0
    private var lastRefill: NIODeadline

    /// Starts full.
    init(perSecond rate: Int, now: NIODeadline) {
        self.rate = rate
        allowance = Double(rate * 2)
        lastRefill = now
    }

    /// Refills (and drains the refusals) for the time since the last call, then takes one message if the bucket
    /// holds one.
    mutating func take(at now: NIODeadline) -> Decision {
        let rate = Double(rate)
        let refill = Double((now - lastRefill).nanoseconds) / 1e9 * rate
        allowance = min(rate * 2, allowance + refill)
        refusals = max(0, refusals - refill)
        lastRefill = now
        guard allowance < 1 else {
            allowance -= 1
            return .admitted
        }
        refusals += 1
        guard refusals <= rate * 5 else { return .refusedTooOften }
        return .refused(retryAfter: max(1, Int(((1 - allowance) / rate).rounded(.up))))
    }
}
