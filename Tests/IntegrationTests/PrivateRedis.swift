import Foundation
import LeaderboardCore

/// A redis-server of the test's own on a unix socket, for what must not touch the shared one.
final class PrivateRedis {
    let socketPath = NSTemporaryDirectory() + "lb-redis-\(UUID().uuidString.prefix(8)).sock"
    private let process = Process()

    init() throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", "0", "--unixsocket", socketPath, "--save", "", "--appendonly", "no"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Ready once it answers PING (a condition, polled, with a deadline).
        let deadline = Date().addingTimeInterval(10)
        let probe = RedisConnection(settings: try RedisSettings(url: "unix://\(socketPath)"))
        while (try? probe.command(["PING"])) != .status("PONG") {
            guard Date() < deadline, process.isRunning else {
                stop()
                throw RedisError.connectionFailed(message: "private redis-server did not start")
            }
            usleep(10_000)
        }
    }

    func stop() {
        // SIGKILL: the child inherits the test process's signal mask, where SIGTERM may be blocked.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        unlink(socketPath)
    }
}
