import Foundation
import LeaderboardCore
import Testing

@Suite struct RedisConnectionTests {
    @Test func decodesEveryReplyType() throws {
        let redis = TestStack.redis()
        let key = TestStack.unique("lb:test")
        #expect(try redis.command(["SET", key, "value\u{0}with nul"]) == .status("OK"))
        #expect(try redis.command(["GET", key]) == .bulkString(Array("value\u{0}with nul".utf8)))
        #expect(try redis.command(["GET", key + ":missing"]) == .null)
        #expect(try redis.command(["INCRBY", key + ":n", "-5"]) == .integer(-5))
        try redis.command(["RPUSH", key + ":list", "a", "b"])
        #expect(try redis.command(["LRANGE", key + ":list", "0", "-1"]) == .array([.bulkString([97]), .bulkString([98])]))
        #expect(
            try redis.command(["EVAL", "return {1, {'x', false}, redis.status_reply('fine')}", "0"])
                == .array([.integer(1), .array([.bulkString([120]), .null]), .status("fine")]))
        #expect {
            try redis.command(["INCR", key])
        } throws: { error in
            guard let error = error as? RedisError, case .server(let message) = error else { return false }
            return message.hasPrefix("ERR") && !error.isUnavailable
        }
        try redis.command(["DEL", key, key + ":n", key + ":list"])
    }

    @Test func pipelinesKeepOrderAndReportErrorsInPlace() throws {
        let redis = TestStack.redis()
        let key = TestStack.unique("lb:test")
        let replies = try redis.pipeline([["SET", key, "text"], ["INCR", key], ["GET", key], ["DEL", key]])
        #expect(replies.count == 4)
        #expect(replies[0] == .status("OK"))
        guard case .error(let message) = replies[1] else {
            Issue.record("expected an error reply, got \(replies[1])")
            return
        }
        #expect(message.contains("not an integer"))
        #expect(replies[2] == .bulkString(Array("text".utf8)))
        #expect(replies[3] == .integer(1))
    }

    /// The rate limit's counters, counted for many submissions in one round trip: each key's count in order, once per
    /// time it is named, and a window started by the first count only.
    @Test func countersAreCountedInOrderAndKeepTheWindowTheirFirstCountStarted() throws {
        let redis = TestStack.redis()
        let store = RedisEphemeralStore(redis: redis)
        let (first, second) = (TestStack.unique("rate"), TestStack.unique("rate"))
        #expect(try store.increment([first], windowSeconds: 60) == [1])
        #expect(try store.increment([second, first, second, second], windowSeconds: 5) == [1, 2, 2, 3])
        #expect(try store.counter(first).value == 2)
        #expect((55...60).contains(try store.counter(first).secondsLeft), "the first count's window, not the later one's")
        #expect((1...5).contains(try store.counter(second).secondsLeft))
        try store.remove(first)
        try store.remove(second)
    }

    @Test func argumentsAreBinarySafeAndNeverParsed() throws {
        let redis = TestStack.redis()
        let key = TestStack.unique("lb:test") + " with spaces \"and quotes\"\r\nFLUSHALL"
        try redis.command(["SET", key, "x"])
        #expect(try redis.command(["EXISTS", key]) == .integer(1))
        try redis.command(["DEL", key])
    }

    @Test func scriptsRunBySHAAndReloadAfterAFlush() throws {
        let redis = TestStack.redis()
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let key = TestStack.unique("lb:test")
        try redis.command(["SCRIPT", "FLUSH"])
        #expect(try redis.run(script, keys: [key], arguments: ["2"]) == .integer(2))
        #expect(try redis.command(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
        #expect(try redis.run(script, keys: [key], arguments: ["3"]) == .integer(5))
        try redis.command(["DEL", key])
    }

    @Test func replacesAConnectionTheServerDroppedBeforeSendingOnIt() throws {
        let redis = TestStack.redis()
        let id = try #require(try redis.command(["CLIENT", "ID"]).int)
        try TestStack.redis().command(["CLIENT", "KILL", "ID", String(id)])
        #expect(try redis.command(["PING"]) == .status("PONG"), "no command fails on the dropped connection")
        #expect(try redis.command(["CLIENT", "ID"]).int != id)
    }

    /// Over TCP and over the unix socket (the stack's Redis listens on both; they ask it where): a
    /// subscriber gets what is published. Over a unix socket, asking hiredis for TCP keepalive used to
    /// fail the subscription, so leaderboard-ws got no events at all.
    @Test(arguments: ["tcp", "unix"]) func aSubscriberReceivesWhatIsPublished(over transport: String) throws {
        let publisher = TestStack.redis()
        let url: String
        if transport == "unix" {
            let path = try #require(try publisher.command(["CONFIG", "GET", "unixsocket"]).array?.last?.string)
            try #require(!path.isEmpty, "the test stack's Redis has a unix socket")
            url = "unix://" + path
        } else {
            let port = try #require(try publisher.command(["CONFIG", "GET", "port"]).array?.last?.string)
            url = "redis://127.0.0.1:\(port)/0"
        }
        let subscriber = RedisConnection(settings: try RedisSettings(url: url))
        let channel = TestStack.unique("channel")
        try subscriber.subscribe(to: [channel])
        let received = Locked<Result<[UInt8], RedisError>?>(nil)
        Thread.detachNewThread {
            let outcome: Result<[UInt8], RedisError>
            do throws(RedisError) {
                outcome = .success(try subscriber.nextMessage().payload)
            } catch {
                outcome = .failure(error)
            }
            received.withLock { $0 = outcome }
        }
        // The subscription starts once the reading thread has sent it: publish until the message is
        // read or the read fails (the deadline only stops a broken build from hanging the run).
        let deadline = Date().addingTimeInterval(30)
        while received.withLock({ $0 == nil }) && Date() < deadline {
            try publisher.command(["PUBLISH", channel, "hello"])
        }
        #expect(try received.withLock { $0 }?.get() == Array("hello".utf8))
    }

    @Test func aRefusedConnectionIsConnectionFailed() throws {
        let redis = RedisConnection(settings: try RedisSettings(url: "redis://127.0.0.1:1/0"))
        #expect {
            try redis.command(["PING"])
        } throws: { error in
            guard let error = error as? RedisError, case .connectionFailed = error else { return false }
            return error.isUnavailable
        }
    }
}
