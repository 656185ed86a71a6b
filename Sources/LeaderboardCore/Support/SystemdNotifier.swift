import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd how the service is doing, in the sd_notify protocol, when a unit asked for it.
///
/// systemd sets `NOTIFY_SOCKET` for a `Type=notify` unit, and `WATCHDOG_USEC` (with `WATCHDOG_PID`)
/// when the unit has `WatchdogSec=`. Without `NOTIFY_SOCKET` every call does nothing, so a daemon
/// notifies unconditionally and runs the same under the dev stack. Each message is one datagram on a
/// fresh AF_UNIX socket, as libsystemd's `sd_notify` sends it, so the type holds no C state.
public struct SystemdNotifier: Sendable {
    /// One assignment of a notification message.
    public enum State: Sendable, Equatable {
        /// Startup is complete: systemd starts the units ordered after this one.
        case ready
        /// Shutdown has begun.
        case stopping
        /// The service is alive: resets the watchdog timer.
        case watchdog
        /// A line for `systemctl status`.
        case status(String)

        var assignment: String {
            switch self {
            case .ready: "READY=1"
            case .stopping: "STOPPING=1"
            case .watchdog: "WATCHDOG=1"
            // One message is newline-separated assignments: a newline would end the status early.
            case .status(let text): "STATUS=" + text.replacingOccurrences(of: "\n", with: " ")
            }
        }
    }

    /// The socket systemd listens on (a path, or `@name` in the abstract namespace); nil outside systemd.
    public let socketAddress: String?
    /// How often systemd expects `WATCHDOG=1` at the latest; nil when the unit has no watchdog for us.
    public let watchdogTimeout: Duration?
    private let logger: Logger

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    public init(
        logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment, processID: Int32 = getpid()
    ) {
        self.logger = logger
        socketAddress = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        // As sd_watchdog_enabled: WATCHDOG_PID, when set, names the process the watchdog is meant for.
        let watchdogIsOurs = environment["WATCHDOG_PID"].map { Int32($0) == processID } ?? true
        if watchdogIsOurs, let microseconds = environment["WATCHDOG_USEC"].flatMap(Int64.init), microseconds > 0 {
            watchdogTimeout = .microseconds(microseconds)
        } else {
            watchdogTimeout = nil
        }
    }

    /// Whether the process runs under a unit that listens for notifications.
    public var isEnabled: Bool { socketAddress != nil }

    /// How often the watchdog thread pings: half the timeout, as systemd recommends, so one late ping is not fatal.
    public var watchdogInterval: Duration? { watchdogTimeout.map { $0 / 2 } }

    /// Sends `states` as one message; does nothing outside systemd. A failure is logged and returned.
    @discardableResult
    public func notify(_ states: State...) -> Bool {
        notify(states)
    }

    /// Sends `states` as one message; does nothing outside systemd. A failure is logged and returned.
    @discardableResult
    public func notify(_ states: [State]) -> Bool {
        guard let socketAddress else { return true }
        do {
            try Self.send(states.map(\.assignment).joined(separator: "\n"), to: socketAddress)
            return true
        } catch {
            logger.warning("cannot notify systemd", metadata: ["error": "\(error)", "socket": "\(socketAddress)"])
            return false
        }
    }

    /// Starts a thread that sends `WATCHDOG=1` at half the watchdog timeout for as long as `isHealthy`
    /// holds; once it does not, systemd's watchdog ends the process and the unit's `Restart=` applies.
    /// Does nothing when the unit has no watchdog. Start it after anything that must precede threads.
    public func startWatchdog(isHealthy: @escaping @Sendable () -> Bool) {
        guard isEnabled, let interval = watchdogInterval else { return }
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        logger.debug("systemd watchdog on", metadata: ["interval": "\(interval)"])
        Thread.detachNewThread { [self] in
            while true {
                if isHealthy() {
                    notify(.watchdog)
                } else {
                    logger.error("unhealthy: no systemd watchdog ping")
                }
                Thread.sleep(forTimeInterval: seconds)
            }
        }
    }

    /// One datagram to `address`: a path, or `@name` for the abstract namespace (a leading NUL byte).
    private static func send(_ message: String, to address: String) throws(SystemdNotifierError) {
        var path = Array(address.utf8)
        switch path.first {
        case UInt8(ascii: "/"):
            path.append(0)  // the length below counts the NUL, as libsystemd does
        case UInt8(ascii: "@"):
            path[0] = 0
        default:
            throw .unsupportedAddress(address)
        }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        guard path.count <= MemoryLayout.size(ofValue: socketAddress.sun_path) else { throw .unsupportedAddress(address) }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count)

        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .socketFailed(errno: errno) }
        defer { close(descriptor) }
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &socketAddress) { address in
            address.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length) }
            }
        }
        guard sent == bytes.count else { throw .sendFailed(errno: sent < 0 ? errno : EMSGSIZE) }
    }
}

public enum SystemdNotifierError: Error, Equatable, CustomStringConvertible {
    case unsupportedAddress(String)
    case socketFailed(errno: Int32)
    case sendFailed(errno: Int32)

    public var description: String {
        switch self {
        case .unsupportedAddress(let address): "NOTIFY_SOCKET is not a unix socket path or @name: \(address)"
        case .socketFailed(let code): "socket: \(String(cString: strerror(code)))"
        case .sendFailed(let code): "sendto: \(String(cString: strerror(code)))"
        }
    }
}
