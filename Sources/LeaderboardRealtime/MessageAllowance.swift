import NIOCore

/// A client's token bucket: `rate` messages a second, in bursts of up to twice that. The caller passes the
/// time, so tests can move it.
struct MessageAllowance {
    enum Decision: Equatable {
        case admitted
        /// Whole seconds, as HTTP's Retry-After: never sooner than the bucket holds a message again.
        case refused(retryAfter: Int)
    }

    let rate: Int
    private var allowance: Double
    private var lastRefill: NIODeadline

    /// Starts full.
    init(perSecond rate: Int, now: NIODeadline) {
        self.rate = rate
        allowance = Double(rate * 2)
        lastRefill = now
    }

    /// Refills for the time since the last call, then takes one message if the bucket holds one.
    mutating func take(at now: NIODeadline) -> Decision {
        let rate = Double(rate)
        allowance = min(rate * 2, allowance + Double((now - lastRefill).nanoseconds) / 1e9 * rate)
        lastRefill = now
        guard allowance >= 1 else { return .refused(retryAfter: max(1, Int(((1 - allowance) / rate).rounded(.up)))) }
        allowance -= 1
        return .admitted
    }
}
