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
