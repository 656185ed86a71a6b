import Foundation

/// A value behind a lock, with `Synchronization.Mutex`'s `withLock`, on a pthread mutex (NSLock).
///
/// On Linux, `Mutex` waits and wakes through futex system calls that ThreadSanitizer does not see, so
/// every access to a value it guards is reported as a race (checked with Swift 6.3.1), which would make
/// `make test-sanitize` useless; TSan knows pthread mutexes.
///
/// `@unchecked Sendable`: `value` is only read or written inside `withLock`, under `lock`.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
