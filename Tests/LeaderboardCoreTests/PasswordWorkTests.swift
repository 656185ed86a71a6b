import Dispatch
import Foundation
import Testing

@testable import LeaderboardCore

/// The process's bound on bcrypt: hashes past it wait briefly or are refused, never take every worker.
@Suite struct PasswordWorkTests {
    /// Runs `withSlot` on another thread and returns once it holds the slot; it lets go when `release` is signalled.
    static func holdTheSlot(of work: PasswordWork, until release: DispatchSemaphore) -> DispatchSemaphore {
        let entered = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? work.withSlot {
                entered.signal()
                release.wait()
            }
            finished.signal()
        }
        entered.wait()
        return finished
    }

    static func refusal(_ body: () throws -> Void) -> ServiceError? {
        do {
            try body()
            return nil
        } catch {
            return error as? ServiceError
        }
    }

    @Test func theDecoyHashIsMadeWhenTheWorkIsCreated() throws {
        let work = PasswordWork(hasher: PasswordHasher(cost: 4), concurrency: 1, maxWait: .seconds(1))
        #expect(work.decoyHash.hasPrefix("$2b$04$"))
        #expect(try work.verify("anything", against: nil) == false)
    }

    /// With every slot taken and no wait allowed, a hash is refused at once, to be retried.
    @Test func aHashThatWouldWaitTooLongIsRefusedAtOnce() throws {
        let work = PasswordWork(hasher: PasswordHasher(cost: 4), concurrency: 1, maxWait: .zero)
        let release = DispatchSemaphore(value: 0)
        let finished = Self.holdTheSlot(of: work, until: release)
        let refused = Self.refusal { _ = try work.hash("s3cret-pass") }
        release.signal()
        finished.wait()
        // REST answers it with 503 and Retry-After: 1 (ServiceErrorMappingTests).
        #expect(refused == .unavailable("too many logins and signups at once, retry later"))
        #expect(try work.hash("s3cret-pass").hasPrefix("$2b$04$"), "the slot is free again")
    }

    /// A hash admitted to wait gives up once it has waited `maxWait` for a slot still held.
    @Test func aHashWaitsForASlotNoLongerThanTheBound() throws {
        let work = PasswordWork(hasher: PasswordHasher(cost: 4), concurrency: 1, maxWait: .milliseconds(100))
        let release = DispatchSemaphore(value: 0)
        let finished = Self.holdTheSlot(of: work, until: release)
        let refused = Self.refusal { _ = try work.verify("s3cret-pass", against: nil) }
        release.signal()
        finished.wait()
        #expect(refused == .unavailable("too many logins and signups at once, retry later"))
    }

    /// Two slots: two hashes run at once, the third is refused.
    @Test func asManyHashesRunAtOnceAsTheConcurrencyAllows() throws {
        let work = PasswordWork(hasher: PasswordHasher(cost: 4), concurrency: 2, maxWait: .zero)
        let release = DispatchSemaphore(value: 0)
        let first = Self.holdTheSlot(of: work, until: release)
        let second = Self.holdTheSlot(of: work, until: release)
        let refused = Self.refusal { _ = try work.hash("s3cret-pass") }
        release.signal()
        release.signal()
        first.wait()
        second.wait()
        #expect(refused == .unavailable("too many logins and signups at once, retry later"))
    }
}
