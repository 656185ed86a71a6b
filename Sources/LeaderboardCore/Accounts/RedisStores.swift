/// Ephemeral keys in Redis, under one prefix (`RedisKeys.ephemeralPrefix`) so they never collide with board keys.
public struct RedisEphemeralStore: EphemeralStore {
    let redis: RedisConnection
    let prefix = RedisKeys.ephemeralPrefix

    public init(redis: RedisConnection) {
        self.redis = redis
    }

    public func increment(_ keys: [String], windowSeconds: Int) throws -> [Int] {
        let replies = try redis.pipeline(keys.flatMap { [["INCR", prefix + $0], ["EXPIRE", prefix + $0, String(windowSeconds), "NX"]] })
        // An error reply is Redis refusing the write (out of memory): unavailable, not a bad reply.
        for case .error(let message) in replies { throw RedisError.server(message: message) }
        return try stride(from: 0, to: replies.count, by: 2).map { at in
            guard let count = replies[at].int else { throw RedisError.unexpectedReply("INCR: \(replies[at])") }
            return count
        }
    }

    public func counter(_ key: String) throws -> (value: Int, secondsLeft: Int) {
        let replies = try redis.pipeline([["GET", prefix + key], ["TTL", prefix + key]])
        return (replies[0].int ?? 0, max(0, replies[1].int ?? 0))
    }

    public func remove(_ key: String) throws {
        try redis.command(["DEL", prefix + key])
    }

    public func remember(_ values: [String: String], seconds: Int) throws {
        guard !values.isEmpty else { return }
        try redis.pipelineOrThrow(values.map { key, value in ["SET", prefix + key, value, "EX", String(max(1, seconds))] })
    }

    public func recall(_ key: String) throws -> String? {
        try redis.command(["GET", prefix + key]).string
    }
}

/// Health from a worker's own connections, so a store that comes back is seen at once.
public struct ConnectionHealthProbe: HealthProbe {
    let database: PostgresConnection
    let redis: RedisConnection

    public init(database: PostgresConnection, redis: RedisConnection) {
        self.database = database
        self.redis = redis
    }

    public func isPostgresUp() -> Bool {
        (try? database.query("SELECT 1")) != nil
    }

    /// A write that expires by itself tells whether Redis takes writes.
    public func redisHealth() -> RedisHealth {
        do {
            try redis.command(["SET", RedisKeys.healthProbe, "1", "PX", "10000"])
            return .ok
        } catch .server {
            return .readOnly
        } catch {
            return .down
        }
    }
}
