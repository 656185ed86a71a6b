import Foundation
import Logging
import Testing

@testable import LeaderboardCore
@testable import LeaderboardRealtime

/// A Redis primary, its replica and one Sentinel of the test's own, on TCP ports the test stack leaves
/// free: its Redis is on 26379 + the offset that also put PostgreSQL on 25432 + it (scripts/test.sh), an
/// HA stack takes the four ports above it, and these are the three after those.
private final class SentinelGroup {
    static let masterName = "lb-test"
    let primaryPort: Int
    let replicaPort: Int
    let sentinelPort: Int
    private let directory = NSTemporaryDirectory() + "lb-sentinel-\(UUID().uuidString.prefix(8))"
    private var processes: [Process] = []

    init() throws {
        let redisPort = 26379 + (TestStack.config.postgres.ports[0] - 25432)
        (primaryPort, replicaPort, sentinelPort) = (redisPort + 5, redisPort + 6, redisPort + 7)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory]
        try start(["--port", String(primaryPort)] + common)
        try start(["--port", String(replicaPort), "--replicaof", "127.0.0.1", String(primaryPort)] + common)
        // Sentinel rewrites its configuration file, so it needs one it may write.
        let configuration = directory + "/sentinel.conf"
        try """
        bind 127.0.0.1
        port \(sentinelPort)
        dir \(directory)
        sentinel monitor \(Self.masterName) 127.0.0.1 \(primaryPort) 1
        sentinel down-after-milliseconds \(Self.masterName) 1000
        sentinel failover-timeout \(Self.masterName) 5000
        """.write(toFile: configuration, atomically: true, encoding: .utf8)
        try start([configuration, "--sentinel"])
        for port in [primaryPort, replicaPort, sentinelPort] {
            let server = Self.connection(port: port)
            try TestStack.waitUntil("the server on \(port) answers PING") { (try? server.command(["PING"])) == .status("PONG") }
        }
    }

    private func start(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        processes.append(process)
    }

    var settings: RedisSettings {
        var settings = try! RedisSettings(url: "redis://127.0.0.1:1/0")
        settings.sentinel = RedisSettings.Sentinel(
            addresses: [RedisSettings.Address(host: "127.0.0.1", port: sentinelPort)], masterName: Self.masterName)
        return settings
    }

    static func connection(port: Int) -> RedisConnection {
        RedisConnection(settings: try! RedisSettings(url: "redis://127.0.0.1:\(port)/0"))
    }

    /// The port the Sentinel names the primary on.
    func namedPrimaryPort() throws -> Int? {
        try Self.connection(port: sentinelPort).command(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self.masterName]).array?.last?.int
    }

    /// Asks the Sentinel to fail over until it names the replica the primary: it needs a replica it has found
    /// (its INFO every 10 s) and that is in sync.
    func failOver() throws {
        try TestStack.waitUntil("the Sentinel promotes the replica", within: 30) {
            if try namedPrimaryPort() == replicaPort { return true }
            _ = try? Self.connection(port: sentinelPort).command(["SENTINEL", "FAILOVER", Self.masterName])
            return false
        }
    }

    func stop() {
        // SIGKILL: the child inherits the test process's signal mask, where SIGTERM may be blocked.
        for process in processes {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.serialized) struct SentinelTests {
    /// A connection asks the Sentinel where the primary is, and after a failover finds the new one by
    /// itself: what fails in between is an outage (a 202 or 503), never an error of the request; the new
    /// primary lacks the Lua scripts, which are loaded again.
    @Test func aConnectionFollowsTheFailoverTheSentinelAnnounces() throws {
        let group = try SentinelGroup()
        defer { group.stop() }
        let redis = RedisConnection(settings: group.settings)
        let key = TestStack.unique("lb:test:sentinel")
        try redis.command(["SET", key, "before"])
        #expect(try SentinelGroup.connection(port: group.primaryPort).command(["GET", key]) == .bulkString(Array("before".utf8)))
        let script = RedisScript("return redis.call('INCR', KEYS[1])")
        #expect(try redis.run(script, keys: [key + ":n"], arguments: []) == .integer(1))

        // A failover needs a replica the Sentinel has found (its INFO every 10 s) and that is in sync.
        try TestStack.waitUntil("the replica holds the write", within: 30) {
            (try? SentinelGroup.connection(port: group.replicaPort).command(["GET", key])) == .bulkString(Array("before".utf8))
        }
        try group.failOver()

        // Until the Sentinel has demoted the old primary, a write may still land there (and be lost with
        // it: Redis's window, which the reconciler covers for scores); then the connection must move.
        let newPrimary = SentinelGroup.connection(port: group.replicaPort)
        try TestStack.waitUntil("a write through the connection reaches the new primary") {
            do {
                try redis.command(["SET", key, "after"])
            } catch let error as RedisError where error.isUnavailable {
                return false
            }
            return try newPrimary.command(["GET", key]) == .bulkString(Array("after".utf8))
        }
        #expect(try redis.command(["ROLE"]).array?.first?.string == "master")
        #expect(try redis.run(script, keys: [key + ":n"], arguments: []) == .integer(2), "the script is loaded on the new primary")
    }

    /// A planned failover (`SENTINEL FAILOVER`) breaks no connection, and the old primary takes writes until
    /// Sentinel demotes it seconds later. Once the watch has seen `+switch-master`, an api worker's next command goes
    /// to the new primary, and the ws daemon's subscription is there, its views refreshed once: no error, no
    /// warning, and no event published on the new primary is missed.
    @Test func aPlannedFailoverIsFollowedAtOnceWithoutAnError() throws {
        let group = try SentinelGroup()
        defer { group.stop() }
        let log = RecordingLog()
        let logger = Logger(label: "sentinel-test") { _ in log }
        let watch = SentinelWatch(sentinel: group.settings.sentinel!, logger: logger)
        let sink = RecordingSink()
        let subscriber = EventSubscriber(settings: group.settings, sink: sink, following: watch, logger: logger)
        watch.start()
        subscriber.start()
        defer {
            subscriber.stop()
            watch.stop()
        }
        let redis = RedisConnection(settings: group.settings, following: watch)
        let key = TestStack.unique("lb:test:planned")
        try redis.command(["SET", key, "before"])
        let oldPrimary = SentinelGroup.connection(port: group.primaryPort)
        let newPrimary = SentinelGroup.connection(port: group.replicaPort)
        func subscribers(on server: RedisConnection) throws -> Int? {
            try server.command(["PUBSUB", "NUMSUB", RedisKeys.eventsChannel]).array?.last?.int
        }
        try TestStack.waitUntil("the subscriber listens on the primary") { try subscribers(on: oldPrimary) == 1 }
        try TestStack.waitUntil("the replica holds the write", within: 30) {
            (try? newPrimary.command(["GET", key])) == .bulkString(Array("before".utf8))
        }

        try group.failOver()
        try TestStack.waitUntil("the watch sees the switch") { watch.switches == 1 }
        // Nothing has broken the old primary's connections yet, and it still takes writes: only the watch moves this one.
        try redis.command(["SET", key, "after"])
        #expect(try newPrimary.command(["GET", key]) == .bulkString(Array("after".utf8)))
        #expect(try redis.command(["ROLE"]).array?.first?.string == "master")

        try TestStack.waitUntil("the subscriber listens on the new primary") { try subscribers(on: newPrimary) == 1 }
        let event = #"[{"game":"cod","userId":7,"periods":["all"]}]"#
        try newPrimary.command(["PUBLISH", RedisKeys.eventsChannel, event])
        try TestStack.waitUntil("the event published on the new primary arrives") { !sink.events.withLock { $0.isEmpty } }
        #expect(sink.events.withLock { $0 } == [BoardEvent(game: "cod", userId: 7, periods: ["all"], totalBefore: nil, totalAfter: nil, at: nil)])
        #expect(sink.refreshes.withLock { $0 } == 1, "every view re-rendered once after the move")
        #expect(log.warnings.withLock { $0 } == [], "the move is no error")
    }

    /// With `REDIS_READ_REPLICAS` a page comes from a replica only while it holds the board the primary holds:
    /// a score applied on the primary is on every page read after, however far behind the replica is.
    @Test func pagesComeFromAReplicaOnlyWhileItHoldsWhatThePrimaryHolds() throws {
        let group = try SentinelGroup()
        defer { group.stop() }
        let primaryConnection = RedisConnection(settings: group.settings)
        try primaryConnection.command(["SET", RedisKeys.generation, "1"])
        let primary = BoardIndex(redis: primaryConnection)
        let replicaConnection = RedisConnection(settings: group.settings, reading: .replica)
        let index = ReplicaReadIndex(primary: primary, replica: BoardIndex(redis: replicaConnection))
        let day = UTCDay.today
        func submit(id: Int, score: Int) throws {
            let applied = try primary.apply(
                [BoardIndex.Score(id: id, userId: id, name: "P\(id)", game: "cod", score: score, epochSeconds: day.epochSeconds)], today: day)
            _ = try applied[0].get()
        }
        func scores() throws -> [Int] { try index.page(game: "cod", period: .allTime, start: 0, stop: 9, unlessRevoked: nil).rows.map(\.score) }
        let replicaServer = SentinelGroup.connection(port: group.replicaPort)
        func replicaPageScripts() throws -> Int {
            let info = try replicaServer.command(["INFO", "commandstats"]).string ?? ""
            let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_evalsha:calls=") } ?? ""
            return Int(line.dropFirst("cmdstat_evalsha:calls=".count).prefix { $0.isNumber }) ?? 0
        }

        try submit(id: 1, score: 40)
        // The replica in sync (and known to the Sentinel, which looks every 10 s): a page is then read there.
        try TestStack.waitUntil("a page read on the replica", within: 30) {
            let before = try replicaPageScripts()
            return try scores() == [40] && replicaPageScripts() > before
        }
        // The replica stops following (its link points nowhere): what the primary takes next is on the next page.
        try replicaServer.command(["REPLICAOF", "127.0.0.1", "1"])
        try submit(id: 2, score: 50)
        #expect(try scores() == [50, 40])
        let replicaBoard = RedisKeys.generationPrefix(1) + RedisKeys.boardPart + "cod:all"
        #expect(try replicaServer.command(["ZCARD", replicaBoard]).int == 1, "the replica is behind")
    }

    /// Without a Sentinel that answers there is no primary to use: an outage, named as such.
    @Test func noSentinelAnsweringIsAnOutage() throws {
        var settings = try RedisSettings(url: "redis://127.0.0.1:1/0")
        settings.sentinel = RedisSettings.Sentinel(addresses: [RedisSettings.Address(host: "127.0.0.1", port: 1)], masterName: "none")
        #expect {
            try RedisConnection(settings: settings).command(["PING"])
        } throws: { error in
            guard let error = error as? RedisError, case .connectionFailed(let message) = error else { return false }
            return error.isUnavailable && message.contains("no Sentinel named the primary")
        }
    }
}

/// What the event subscriber hands the hub.
private final class RecordingSink: EventSink {
    let events = Locked<[BoardEvent]>([])
    let refreshes = Locked(0)

    func publish(_ events: [BoardEvent]) { self.events.withLock { $0 += events } }

    func refreshAll() { refreshes.withLock { $0 += 1 } }

    func checkRevocations() {}
}

/// The warnings logged, and nothing else.
private struct RecordingLog: LogHandler {
    let warnings = Locked<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        if event.level >= .warning { warnings.withLock { $0.append("\(event.message)") } }
    }
}
