import Foundation

/// Lets concurrent callers that need the same value make it once: the first caller for a key makes it, and
/// those that ask for the key while it is being made wait and share its result (its error too). Nothing is kept
/// once it is made: a caller that comes later makes it again (keeping values is a cache's work, see `ReportCache`).
///
/// A key must name one content (a report's parameters with the complete stamp it was read at), so whichever
/// caller makes it, every waiter gets what it would have made itself.
///
/// `@unchecked Sendable`: `flights` is only touched under `lock`, a flight's `result` and `waiting` only under
/// its own `done` (NSLock and NSCondition, which ThreadSanitizer understands).
final class SingleFlight<Key: Hashable, Value>: @unchecked Sendable {
    private final class Flight {
        let done = NSCondition()
        var result: Result<Value, any Error>?
        /// Callers waiting for `result`; for tests.
        var waiting = 0
    }

    private let lock = NSLock()
    private var flights: [Key: Flight] = [:]

    init() {}

    /// The value for `key`: made by `make` here, or by the caller already making it.
    func value(for key: Key, make: () throws -> Value) throws -> Value {
        lock.lock()
        if let flight = flights[key] {
            lock.unlock()
            flight.done.lock()
            defer { flight.done.unlock() }
            flight.waiting += 1
            while flight.result == nil { flight.done.wait() }
            return try flight.result!.get()
        }
        let flight = Flight()
        flights[key] = flight
        lock.unlock()

        let result = Result { try make() }
        lock.lock()
        flights[key] = nil
        lock.unlock()
        flight.done.lock()
        flight.result = result
        flight.done.broadcast()
        flight.done.unlock()
        return try result.get()
    }

    /// How many callers wait for a value being made, over every key; for tests.
    var waitingCount: Int {
        lock.lock()
        let current = Array(flights.values)
        lock.unlock()
        return current.reduce(0) { count, flight in
            flight.done.lock()
            defer { flight.done.unlock() }
            return count + flight.waiting
        }
    }
}
