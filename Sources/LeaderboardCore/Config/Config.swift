import Foundation

/// Everything the executables need to start, read once from the environment and an optional `.env` file.
///
/// The environment wins over the file. The file is `LEADERBOARD_ENV_FILE` when set, else `.env` in the
/// working directory when it exists. Variable names follow the predecessor service where it had one.
public struct Config: Sendable {
    public enum Mode: String, Sendable { case development, production }

    public var mode: Mode
    public var postgres: PostgresSettings
    public var redis: RedisSettings
    /// Board pages read from a Redis replica that Sentinel names, when it holds what the primary does.
    public var redisReadReplicas: Bool
    public var secretKey: String
    public var accessTokenLifetime: Duration
    /// How long a refresh token stays usable after it was issued; each refresh issues a new one.
    public var refreshTokenLifetime: Duration
    public var apiListen: ListenAddress
    public var apiWorkers: Int
    /// The UDP address (IPv4 host:port) where leaderboard-api counts nginx's refusals (`NginxRefusalCounter`);
    /// nil: not counted, unless systemd passed the socket.
    public var nginxRefusalsListen: (host: String, port: Int)?
    /// The daemon listens on TCP only (nginx proxies WebSocket upgrades to `host:port`).
    public var wsListen: (host: String, port: Int)
    public var wsWorkers: Int
    public var wsMaxConnections: Int
    public var wsMessagesPerSecond: Int
    public var wsMaxSocketsPerAccount: Int
    public var bcryptCost: Int
    public var bcryptConcurrency: Int
    public var bcryptMaxWaitMilliseconds: Int
    public var corsOrigins: [String]
    public var cookieSecure: Bool
    public var maxBodyBytes: Int
    public var loginMaxFailures: Int
    public var loginFailureWindowSeconds: Int
    public var signupMaxPerAddress: Int
    public var signupWindowSeconds: Int
    /// Submissions a player may send to one game within a minute, over every pool and daemon (API keys are not limited).
    public var scoreRatePerMinute: Int
    public var logLevel: String

    /// Used only in development mode when `SECRET_KEY` is unset, so `swift run` works out of the box.
    static let developmentSecret = "development-only-secret-do-not-use-in-production"

    /// Loads from the process environment and the env file it points to.
    public static func load() throws(ConfigError) -> Config {
        let environment = ProcessInfo.processInfo.environment
        var values: [String: String] = [:]
        let explicitFile = environment["LEADERBOARD_ENV_FILE"]
        let path = explicitFile ?? ".env"
        if let data = FileManager.default.contents(atPath: path) {
            values = try DotEnv.parse(String(decoding: data, as: UTF8.self))
        } else if let explicitFile {
            throw .unreadableEnvFile(path: explicitFile)
        }
        values.merge(environment) { _, fromEnvironment in fromEnvironment }
        return try Config(values: values)
    }

    public init(values: [String: String]) throws(ConfigError) {
        let reader = ConfigReader(values: values)
        mode = try reader.choice("LEADERBOARD_MODE", default: .production)
        let hosts = reader.list("PG_SERVER")
        let ports = try reader.integers("PG_PORT", default: [5432], in: 1...65535)
        // libpq takes one port for every host, or one per host.
        guard ports.count == 1 || ports.count == max(hosts.count, 1) else {
            throw .malformed(
                variable: "PG_PORT", value: ports.map(String.init).joined(separator: ","),
                expected: "one port, or one per host of PG_SERVER (\(hosts.count))")
        }
        postgres = PostgresSettings(
            hosts: hosts.isEmpty ? ["localhost"] : hosts,
            ports: ports,
            user: try reader.required("PG_USER"),
            password: reader.string("PG_PW", default: ""),
            database: try reader.required("PG_DB")
        )
        redis = try RedisSettings(url: reader.string("REDIS_URL", default: "redis://127.0.0.1:6379/0"))
        let sentinels = reader.list("REDIS_SENTINELS")
        if !sentinels.isEmpty {
            var addresses: [RedisSettings.Address] = []
            for text in sentinels {
                guard case .tcp(let host, let port) = ListenAddress(text) else {
                    throw .malformed(variable: "REDIS_SENTINELS", value: text, expected: "host:port, comma-separated")
                }
                addresses.append(RedisSettings.Address(host: host, port: port))
            }
            redis.sentinel = RedisSettings.Sentinel(addresses: addresses, masterName: try reader.required("REDIS_MASTER_NAME"))
        }
        redisReadReplicas = try reader.boolean("REDIS_READ_REPLICAS", default: false)
        if redisReadReplicas && redis.sentinel == nil {
            throw .malformed(variable: "REDIS_READ_REPLICAS", value: "true", expected: "false without REDIS_SENTINELS (Sentinel names the replicas)")
        }

        if let secret = reader.optional("SECRET_KEY") {
            if mode == .production && secret.utf8.count < 32 {
                throw .insecure(variable: "SECRET_KEY", reason: "use at least 32 random bytes in production")
            }
            secretKey = secret
        } else if mode == .development {
            secretKey = Self.developmentSecret
        } else {
            throw .missing(variable: "SECRET_KEY")
        }
        let algorithm = reader.string("ALGORITHM", default: "HS256")
        guard algorithm == "HS256" else {
            throw .malformed(variable: "ALGORITHM", value: algorithm, expected: "HS256 (the only algorithm accepted)")
        }
        let minutes = try reader.decimal("ACCESS_TOKEN_EXPIRE_MINUTES", default: 60, in: 1...(60 * 24 * 366))
        accessTokenLifetime = .seconds(Int64((minutes * 60).rounded()))
        refreshTokenLifetime = .seconds(Int64(try reader.integer("REFRESH_TOKEN_EXPIRE_DAYS", default: 30, in: 1...3650)) * 86_400)

        apiListen = try reader.listenAddress("API_LISTEN", default: "unix:var/run/api.sock")
        apiWorkers = try reader.integer("API_WORKERS", default: 32, in: 1...1024)
        nginxRefusalsListen = try reader.optional("NGINX_REFUSALS_LISTEN").map { text throws(ConfigError) in
            guard case .tcp(let host, let port) = ListenAddress(text), inet_addr(host) != INADDR_NONE else {
                throw .malformed(variable: "NGINX_REFUSALS_LISTEN", value: text, expected: "an IPv4 host:port (UDP)")
            }
            return (host, port)
        }
        let wsListenText = reader.string("WS_LISTEN", default: "127.0.0.1:8081")
        guard case .tcp(let wsHost, let wsPort) = ListenAddress(wsListenText) else {
            throw .malformed(variable: "WS_LISTEN", value: wsListenText, expected: "host:port")
        }
        wsListen = (wsHost, wsPort)
        wsWorkers = try reader.integer("WS_WORKERS", default: 4, in: 1...256)
        wsMaxConnections = try reader.integer("WS_MAX_CONNECTIONS", default: 20_000, in: 1...1_000_000)
        wsMessagesPerSecond = try reader.integer("WS_MESSAGES_PER_SECOND", default: 20, in: 1...10_000)
        wsMaxSocketsPerAccount = try reader.integer("WS_MAX_SOCKETS_PER_ACCOUNT", default: 20, in: 1...100_000)
        // bcrypt doubles its work per step: 16 already takes seconds a hash here, and startup hashes once.
        bcryptCost = try reader.integer("BCRYPT_COST", default: 12, in: 4...16)
        if mode == .production && bcryptCost < 10 {
            throw .insecure(variable: "BCRYPT_COST", reason: "use 10 or more in production")
        }
        // One core is left to reads: hashing is what a flood of logins or signups costs.
        bcryptConcurrency = try reader.integer(
            "BCRYPT_CONCURRENCY", default: max(1, ProcessInfo.processInfo.activeProcessorCount - 1), in: 1...1024)
        bcryptMaxWaitMilliseconds = try reader.integer("BCRYPT_MAX_WAIT_MS", default: 500, in: 0...60_000)
        corsOrigins = reader.list("CORS_ORIGINS")
        cookieSecure = try reader.boolean("COOKIE_SECURE", default: mode == .production)
        maxBodyBytes = try reader.integer("MAX_BODY_BYTES", default: 64 * 1024, in: 1024...(16 << 20))
        loginMaxFailures = try reader.integer("LOGIN_MAX_FAILURES", default: 10, in: 1...10_000)
        loginFailureWindowSeconds = try reader.integer("LOGIN_FAILURE_WINDOW_SECONDS", default: 900, in: 1...86_400)
        signupMaxPerAddress = try reader.integer("SIGNUP_MAX_PER_ADDRESS", default: 20, in: 1...1_000_000)
        signupWindowSeconds = try reader.integer("SIGNUP_WINDOW_SECONDS", default: 3600, in: 1...86_400)
        scoreRatePerMinute = try reader.integer(
            "SCORE_RATE_PER_MINUTE", default: LeaderboardService.defaultSubmissionsPerMinute, in: 1...1_000_000)
        logLevel = try reader.oneOf("LOG_LEVEL", default: "info", allowed: ["trace", "debug", "info", "notice", "warning", "error", "critical"])
    }
}

/// Where PostgreSQL is and who we are to it.
public struct PostgresSettings: Sendable {
    /// One server, or a primary and its standbys in any order: libpq tries each and keeps the one that takes writes.
    public var hosts: [String]
    /// One port for every host, or one per host.
    public var ports: [Int]
    public var user: String
    public var password: String
    public var database: String
    /// Plans each statement with parameters once for every value (`plan_cache_mode=force_generic_plan`), for a
    /// connection whose statements' plans do not depend on their values. PostgreSQL otherwise plans a prepared
    /// statement anew at each run for as long as a plan for its values looks cheaper than the generic one: the
    /// batch insert of single submissions (a light load) measured ~0.5 ms of planning to ~0.2 ms of running, every time.
    public var plansOnce = false

    public init(hosts: [String], ports: [Int], user: String, password: String, database: String) {
        (self.hosts, self.ports, self.user, self.password, self.database) = (hosts, ports, user, password, database)
    }

    public init(host: String, port: Int, user: String, password: String, database: String) {
        self.init(hosts: [host], ports: [port], user: user, password: password, database: database)
    }

    /// A libpq connection string; each value quoted as libpq requires.
    public var connectionString: String {
        let pairs: [(String, String)] = [
            ("host", hosts.joined(separator: ",")), ("port", ports.map(String.init).joined(separator: ",")),
            ("user", user), ("password", password), ("dbname", database),
            // A standby, or a former primary that came back as one, takes no writes: skip it.
            ("target_session_attrs", "read-write"),
            ("connect_timeout", "3"), ("application_name", "leaderboard"),
            // Periods are UTC days, weeks and months: date arithmetic in SQL must agree with Swift's.
            ("options", "-c TimeZone=UTC" + (plansOnce ? " -c plan_cache_mode=force_generic_plan" : "")),
            ("keepalives_idle", "30"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
        ]
        return pairs.map { key, value in
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            return "\(key)='\(escaped)'"
        }.joined(separator: " ")
    }
}

/// Where Redis is: `redis://[:password@]host[:port][/db]` or `unix:///path/to/socket`.
public struct RedisSettings: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            (self.host, self.port) = (host, port)
        }

        public var description: String { "\(host):\(port)" }
    }

    /// Redis Sentinels that name the primary of `masterName`: when set, the primary is asked of them on
    /// every new connection, so a failover is followed, and `endpoint` is not used.
    public struct Sentinel: Sendable, Equatable {
        public var addresses: [Address]
        public var masterName: String

        public init(addresses: [Address], masterName: String) {
            (self.addresses, self.masterName) = (addresses, masterName)
        }
    }

    public var endpoint: Endpoint
    public var password: String?
    public var database: Int
    public var sentinel: Sentinel?

    /// A server at `endpoint`, without password, database 0.
    public init(endpoint: Endpoint) {
        self.endpoint = endpoint
        password = nil
        database = 0
    }

    public init(url: String) throws(ConfigError) {
        let invalid = ConfigError.malformed(
            variable: "REDIS_URL", value: url, expected: "redis://[:password@]host[:port][/db] or unix:///path")
        if url.hasPrefix("unix://") {
            let path = String(url.dropFirst("unix://".count))
            guard path.hasPrefix("/") else { throw invalid }
            endpoint = .unix(path: path)
            password = nil
            database = 0
            return
        }
        guard url.hasPrefix("redis://") else { throw invalid }
        var rest = Substring(url.dropFirst("redis://".count))
        password = nil
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let secret = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).last ?? ""
            password = secret.isEmpty ? nil : String(secret)
        }
        var hostPort = rest
        database = 0
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let number = Int(db), number >= 0 else { throw invalid }
                database = number
            }
        }
        let parts = hostPort.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = parts.first, !host.isEmpty, parts.count <= 2 else { throw invalid }
        var port = 6379
        if parts.count == 2 {
            guard let number = Int(parts[1]), (1...65535).contains(number) else { throw invalid }
            port = number
        }
        endpoint = .tcp(host: String(host), port: port)
    }
}

/// A socket to listen on: `unix:/path` or `host:port`.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst("unix:".count))
            guard !path.isEmpty else { return nil }
            self = .unix(path: path)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        let host = String(text[..<colon])
        self = .tcp(host: host.isEmpty ? "127.0.0.1" : host, port: port)
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): "\(host):\(port)"
        }
    }
}

/// Typed accessors over the raw variables; every failure names its variable.
private struct ConfigReader {
    let values: [String: String]

    func optional(_ name: String) -> String? {
        guard let value = values[name]?.trimmingWhitespace(), !value.isEmpty else { return nil }
        return value
    }

    func string(_ name: String, default fallback: String) -> String { optional(name) ?? fallback }

    func required(_ name: String) throws(ConfigError) -> String {
        guard let value = optional(name) else { throw .missing(variable: name) }
        return value
    }

    func integer(_ name: String, default fallback: Int, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let text = optional(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw .malformed(variable: name, value: text, expected: "a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func integers(_ name: String, default fallback: [Int], in range: ClosedRange<Int>) throws(ConfigError) -> [Int] {
        let texts = list(name)
        if texts.isEmpty { return fallback }
        var values: [Int] = []
        for text in texts {
            guard let value = Int(text), range.contains(value) else {
                throw .malformed(variable: name, value: text, expected: "a whole number in \(range.lowerBound)...\(range.upperBound)")
            }
            values.append(value)
        }
        return values
    }

    func decimal(_ name: String, default fallback: Double, in range: ClosedRange<Double>) throws(ConfigError) -> Double {
        guard let text = optional(name) else { return fallback }
        guard let value = Double(text), range.contains(value) else {
            throw .malformed(variable: name, value: text, expected: "a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func boolean(_ name: String, default fallback: Bool) throws(ConfigError) -> Bool {
        guard let text = optional(name) else { return fallback }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw .malformed(variable: name, value: text, expected: "true or false")
        }
    }

    func oneOf(_ name: String, default fallback: String, allowed: [String]) throws(ConfigError) -> String {
        let value = string(name, default: fallback).lowercased()
        guard allowed.contains(value) else {
            throw .malformed(variable: name, value: value, expected: "one of \(allowed.joined(separator: ", "))")
        }
        return value
    }

    func choice<Choice: RawRepresentable<String>>(_ name: String, default fallback: Choice) throws(ConfigError) -> Choice {
        guard let text = optional(name) else { return fallback }
        guard let value = Choice(rawValue: text.lowercased()) else {
            throw .malformed(variable: name, value: text, expected: "development or production")
        }
        return value
    }

    func list(_ name: String) -> [String] {
        (optional(name) ?? "").split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
    }

    func listenAddress(_ name: String, default fallback: String) throws(ConfigError) -> ListenAddress {
        let text = string(name, default: fallback)
        guard let address = ListenAddress(text) else {
            throw .malformed(variable: name, value: text, expected: "unix:/path or host:port")
        }
        return address
    }
}
