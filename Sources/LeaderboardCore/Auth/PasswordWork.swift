import Dispatch
import Foundation
import Metrics

/// The bcrypt work of a process, shared by its workers: at most `concurrency` hashes run at once, so
/// logins and signups can never take every worker (or core) from reads, and the decoy hash for unknown
/// e-mails is made once, at start, so the first logins after a start cost what the others do.
///
/// A login or signup that would wait for a slot longer than `maxWait` (judged by how long recent hashes
/// took) is refused at once (`ServiceError.unavailable`, to retry soon); one that waits that long anyway gives up then.
/// Either way it holds its worker no longer than `maxWait` plus one hash.
public final class PasswordWork: Sendable {
    public let hasher: PasswordHasher
    /// A hash of a random password, to verify against when an e-mail is unknown.
    let decoyHash: String
    let concurrency: Int
    let maxWait: Duration
    private let slots: DispatchSemaphore
    /// Hashes running or waiting for a slot, and a moving average of how long one took.
    private let load: Locked<(admitted: Int, hashNanoseconds: Int64)>

    public init(hasher: PasswordHasher, concurrency: Int, maxWait: Duration) {
        precondition(concurrency >= 1, "at least one hash must be able to run")
        self.hasher = hasher
        self.concurrency = concurrency
        self.maxWait = maxWait
        slots = DispatchSemaphore(value: concurrency)
        let started = ContinuousClock.now
        decoyHash = hasher.makeDecoyHash()
        load = Locked((0, Self.nanoseconds(ContinuousClock.now - started)))
    }

    /// The process's bcrypt as the daemons run it: cost, concurrency and wait from `config`.
    public convenience init(config: Config) {
        self.init(
            hasher: PasswordHasher(cost: config.bcryptCost), concurrency: config.bcryptConcurrency,
            maxWait: .milliseconds(config.bcryptMaxWaitMilliseconds))
    }

    /// A new hash of `password` at the configured cost.
    public func hash(_ password: String) throws(ServiceError) -> String {
        try withSlot { hasher.hash(password) }
    }

    /// Verifies against `storedHash`, or against the decoy when there is none, at the same cost.
    public func verify(_ password: String, against storedHash: String?) throws(ServiceError) -> Bool {
        try withSlot { hasher.verify(password, against: storedHash ?? decoyHash) }
    }

    func withSlot<Result>(_ work: () -> Result) throws(ServiceError) -> Result {
        let admitted = load.withLock { load in
            // Every `concurrency` hashes admitted before this one are one more hash's time to wait.
            let rounds = Int64(load.admitted / concurrency)
            guard rounds * load.hashNanoseconds <= Self.nanoseconds(maxWait) else { return false }
            load.admitted += 1
            return true
        }
        guard admitted else { throw refuse() }
        defer { load.withLock { $0.admitted -= 1 } }
        guard slots.wait(timeout: .now() + .nanoseconds(Int(Self.nanoseconds(maxWait)))) == .success else { throw refuse() }
        defer { slots.signal() }
        let started = ContinuousClock.now
        let result = work()
        let took = Self.nanoseconds(ContinuousClock.now - started)
        load.withLock { $0.hashNanoseconds = ($0.hashNanoseconds + took) / 2 }
        return result
    }

    private func refuse() -> ServiceError {
        Counter(label: "leaderboard_password_hashing_refused_total").increment()
        return .unavailable("too many logins and signups at once, retry later")
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}
