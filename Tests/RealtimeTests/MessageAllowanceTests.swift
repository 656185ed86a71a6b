import NIOCore
import Testing

@testable import LeaderboardRealtime

/// The per-client token bucket, on a clock the test moves: no sleeping.
@Suite struct MessageAllowanceTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// Takes messages at `now` until one is refused; how many were admitted, and the refusal.
    func drain(_ bucket: inout MessageAllowance, at now: NIODeadline) -> (admitted: Int, refusal: MessageAllowance.Decision) {
        var admitted = 0
        while true {
            let decision = bucket.take(at: now)
            guard decision == .admitted else { return (admitted, decision) }
            admitted += 1
        }
    }

    @Test func aFullBucketAdmitsABurstOfTwiceTheRateThenRefusesForASecond() {
        var bucket = MessageAllowance(perSecond: 5, now: start)
        let (admitted, refusal) = drain(&bucket, at: start)
        #expect(admitted == 10)
        #expect(refusal == .refused(retryAfter: 1))
    }

    @Test func aRefusedClientThatWaitsIsServedAgain() {
        var bucket = MessageAllowance(perSecond: 2, now: start)
        _ = drain(&bucket, at: start)
        #expect(bucket.take(at: start + .milliseconds(499)) != .admitted, "not yet a whole message back")
        #expect(bucket.take(at: start + .milliseconds(500)) == .admitted, "half a second at 2 a second refills one")
        #expect(bucket.take(at: start + .milliseconds(500)) != .admitted)
    }

    @Test func waitingLongRefillsNoMoreThanTheBurst() {
        var bucket = MessageAllowance(perSecond: 3, now: start)
        _ = drain(&bucket, at: start)
        let (admitted, _) = drain(&bucket, at: start + .seconds(60))
        #expect(admitted == 6)
    }

    /// A flood read slower than the refill (a busy daemon) still gets a message admitted now and then; it is closed
    /// all the same once five seconds' worth of refusals are outstanding.
    @Test func aClientThatKeepsSendingIsRefusedTooOftenWhateverThePaceItIsReadAt() {
        var bucket = MessageAllowance(perSecond: 20, now: start)
        var now = start
        var decisions: [MessageAllowance.Decision] = []
        // 200 messages a second, ten times the rate: a token comes back every 10 messages.
        while decisions.last != .refusedTooOften && decisions.count < 1_000 {
            now = now + .milliseconds(5)
            decisions.append(bucket.take(at: now))
        }
        #expect(decisions.last == .refusedTooOften)
        #expect(decisions.dropFirst(40).contains(.admitted), "it was admitted now and then, as the bucket refilled")
        #expect(decisions.count < 200, "closed within about a second of flooding")
    }

    @Test func aClientThatWaitsOutItsRefusalsIsNeverRefusedTooOften() {
        var bucket = MessageAllowance(perSecond: 2, now: start)
        var now = start
        for _ in 0..<100 {
            let (_, refusal) = drain(&bucket, at: now)
            guard case .refused(let retryAfter) = refusal else {
                Issue.record("refused too often: \(refusal)")
                return
            }
            now = now + .seconds(Int64(retryAfter))
        }
    }
}
