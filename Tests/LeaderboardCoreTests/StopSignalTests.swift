import Foundation
import Testing

@testable import LeaderboardCore

struct StopSignalTests {
    @Test func aPauseEndsUnstoppedAndAStopIsSeenAtOnce() {
        let signal = StopSignal()
        #expect(signal.wait(seconds: 0.001) == false)
        signal.stop()
        #expect(signal.wait(seconds: 3600) == true, "a stopped signal does not pause at all")
    }

    /// A loop paused for an hour ends as soon as another thread stops it.
    @Test func aStopWakesAPausedThread() {
        let signal = StopSignal()
        let stopped = Locked<Bool?>(nil)
        let ended = DispatchSemaphore(value: 0)
        let pausing = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            pausing.signal()
            stopped.withLock { $0 = signal.wait(seconds: 3600) }
            ended.signal()
        }
        pausing.wait()
        signal.stop()
        // The deadline only keeps a broken build from hanging the run for an hour.
        #expect(ended.wait(timeout: .now() + 60) == .success)
        #expect(stopped.withLock { $0 } == true)
    }

    /// A nudge ends one pause early (a reconciler's pass at once after a Redis failover) and stops nothing.
    @Test func aNudgeEndsOnePauseWithoutStopping() {
        let signal = StopSignal()
        signal.nudge()
        #expect(signal.wait(seconds: 3600) == false, "the nudged pause ends at once, unstopped")
        #expect(signal.wait(seconds: 0.001) == false)
    }
}
