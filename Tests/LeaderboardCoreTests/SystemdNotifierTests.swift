import Foundation
import Logging
import Testing

@testable import LeaderboardCore

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SystemdNotifierTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test func withoutNotifySocketNothingIsSentAndNothingFails() {
        let notifier = SystemdNotifier(logger: Self.logger, environment: [:])
        #expect(!notifier.isEnabled)
        #expect(notifier.watchdogTimeout == nil)
        #expect(notifier.notify(.ready))
    }

    @Test func readyReachesASocketAtAPath() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let receiver = try DatagramReceiver(address: directory.appendingPathComponent("notify").path)
        let notifier = SystemdNotifier(logger: Self.logger, environment: ["NOTIFY_SOCKET": receiver.address])
        #expect(notifier.notify(.ready, .status("8 workers")))
        #expect(receiver.receive() == "READY=1\nSTATUS=8 workers")
    }

    @Test func stoppingReachesASocketInTheAbstractNamespace() throws {
        let receiver = try DatagramReceiver(address: "@leaderboard-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        let notifier = SystemdNotifier(logger: Self.logger, environment: ["NOTIFY_SOCKET": receiver.address])
        #expect(notifier.notify(.stopping))
        #expect(receiver.receive() == "STOPPING=1")
    }

    @Test func aStatusCannotSmuggleInAnotherAssignment() throws {
        let receiver = try DatagramReceiver(address: "@leaderboard-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        let notifier = SystemdNotifier(logger: Self.logger, environment: ["NOTIFY_SOCKET": receiver.address])
        notifier.notify(.status("line one\nREADY=1"))
        #expect(receiver.receive() == "STATUS=line one READY=1")
    }

    @Test func aMissingListenerIsReportedNotFatal() {
        let notifier = SystemdNotifier(logger: Self.logger, environment: ["NOTIFY_SOCKET": "/nonexistent/notify"])
        #expect(!notifier.notify(.ready))
        let unsupported = SystemdNotifier(logger: Self.logger, environment: ["NOTIFY_SOCKET": "vsock:2:1234"])
        #expect(!unsupported.notify(.ready))
    }

    @Test func theWatchdogTimeoutIsReadAndOnlyForThisProcess() {
        let ours = SystemdNotifier(
            logger: Self.logger, environment: ["NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"],
            processID: 42)
        #expect(ours.watchdogTimeout == .seconds(30))
        let noPid = SystemdNotifier(logger: Self.logger, environment: ["WATCHDOG_USEC": "500000"])
        #expect(noPid.watchdogTimeout == .milliseconds(500))
        let another = SystemdNotifier(
            logger: Self.logger, environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"], processID: 42)
        #expect(another.watchdogTimeout == nil)
        #expect(SystemdNotifier(logger: Self.logger, environment: ["WATCHDOG_USEC": "0"]).watchdogTimeout == nil)
    }

    /// The interval is checked as a value and the pings as events: the time between two pings depends
    /// on the machine's load, so the test does not measure it.
    @Test func theWatchdogPingsRepeatedlyAtHalfTheTimeout() throws {
        let receiver = try DatagramReceiver(address: "@leaderboard-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        let notifier = SystemdNotifier(
            logger: Self.logger, environment: ["NOTIFY_SOCKET": receiver.address, "WATCHDOG_USEC": "200000"])
        #expect(notifier.watchdogInterval == .milliseconds(100))
        notifier.startWatchdog { true }
        #expect(receiver.receive() == "WATCHDOG=1")
        #expect(receiver.receive() == "WATCHDOG=1", "the watchdog pings again, not once")
    }
}

/// A bound AF_UNIX datagram socket standing in for systemd's notification socket.
private final class DatagramReceiver {
    let address: String
    private let descriptor: Int32

    init(address: String) throws {
        self.address = address
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var path = Array(address.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else {
            close(descriptor)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        // A bound on every wait, so a missing message fails the test instead of hanging it.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    /// The next datagram as text, or nil after five seconds without one.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}
