import Testing

@testable import LeaderboardCore

@Suite struct ConfigTests {
    static let minimal = ["PG_USER": "lb", "PG_DB": "leaderboard", "SECRET_KEY": String(repeating: "k", count: 40)]

    @Test func readsThePredecessorsVariablesAndDefaultsTheRest() throws {
        var values = Self.minimal
        values["PG_PORT"] = "5433"
        values["ACCESS_TOKEN_EXPIRE_MINUTES"] = "60.0"
        let config = try Config(values: values)
        #expect(config.postgres.ports == [5433])
        #expect(config.postgres.hosts == ["localhost"])
        #expect(config.accessTokenLifetime == .seconds(3600))
        #expect(config.mode == .production)
        #expect(config.bcryptCost == 12)
        #expect(config.redis.endpoint == .tcp(host: "127.0.0.1", port: 6379))
    }

    @Test(arguments: ["PG_USER", "PG_DB", "SECRET_KEY"])
    func aMissingRequiredVariableIsNamed(variable: String) {
        var values = Self.minimal
        values[variable] = nil
        #expect(throws: ConfigError.missing(variable: variable)) { try Config(values: values) }
    }

    @Test func aMalformedValueNamesItsVariable() {
        var values = Self.minimal
        values["PG_PORT"] = "eighty"
        #expect(throws: ConfigError.malformed(variable: "PG_PORT", value: "eighty", expected: "a whole number in 1...65535")) {
            try Config(values: values)
        }
        #expect(ConfigError.malformed(variable: "PG_PORT", value: "eighty", expected: "x").description.contains("PG_PORT"))
    }

    @Test func productionRefusesAShortSecretAndDevelopmentHasADefault() throws {
        var values = Self.minimal
        values["SECRET_KEY"] = "short"
        #expect(throws: ConfigError.self) { try Config(values: values) }
        values["SECRET_KEY"] = nil
        values["LEADERBOARD_MODE"] = "development"
        #expect(try Config(values: values).secretKey == Config.developmentSecret)
    }

    @Test func onlyHS256IsAccepted() {
        var values = Self.minimal
        values["ALGORITHM"] = "none"
        #expect(throws: ConfigError.self) { try Config(values: values) }
    }

    @Test func secretsNeverAppearInErrorMessages() {
        let error = ConfigError.malformed(variable: "SECRET_KEY", value: "hunter2", expected: "x")
        #expect(!error.description.contains("hunter2"))
    }

    @Test func parsesRedisURLs() throws {
        let full = try RedisSettings(url: "redis://:s3cret@cache.internal:6380/2")
        #expect(full.endpoint == .tcp(host: "cache.internal", port: 6380))
        #expect(full.password == "s3cret")
        #expect(full.database == 2)
        #expect(try RedisSettings(url: "unix:///run/redis.sock").endpoint == .unix(path: "/run/redis.sock"))
        #expect(throws: ConfigError.self) { try RedisSettings(url: "http://x") }
        #expect(throws: ConfigError.self) { try RedisSettings(url: "redis://host:99999") }
    }

    @Test func parsesListenAddresses() {
        #expect(ListenAddress("unix:/run/api.sock") == .unix(path: "/run/api.sock"))
        #expect(ListenAddress("0.0.0.0:9000") == .tcp(host: "0.0.0.0", port: 9000))
        #expect(ListenAddress(":9000") == .tcp(host: "127.0.0.1", port: 9000))
        #expect(ListenAddress("nowhere") == nil)
    }

    @Test func parsesDotEnvFiles() throws {
        let values = try DotEnv.parse(
            """
            # the predecessor's file
            PG_USER="postgres"
            export PG_PW='p#w'
            PG_PORT=5432 # a comment

            ACCESS_TOKEN_EXPIRE_MINUTES=60.0
            """)
        #expect(values == ["PG_USER": "postgres", "PG_PW": "p#w", "PG_PORT": "5432", "ACCESS_TOKEN_EXPIRE_MINUTES": "60.0"])
        #expect(throws: ConfigError.malformedEnvFile(line: 2, reason: "expected KEY=value")) { try DotEnv.parse("A=1\nnot a pair") }
    }

    @Test func quotesLibpqValues() {
        let settings = PostgresSettings(host: "db", port: 5432, user: "u", password: "it's \\ odd", database: "d")
        #expect(settings.connectionString.contains(#"password='it\'s \\ odd'"#))
    }

    @Test func aPrimaryAndItsStandbysGoToLibpqAsOneHostListThatWantsTheWritableOne() throws {
        var values = Self.minimal
        values["PG_SERVER"] = "10.0.0.1, 10.0.0.2"
        values["PG_PORT"] = "5432,5433"
        let settings = try Config(values: values).postgres
        #expect(settings.hosts == ["10.0.0.1", "10.0.0.2"] && settings.ports == [5432, 5433])
        #expect(settings.connectionString.contains("host='10.0.0.1,10.0.0.2' port='5432,5433'"))
        #expect(settings.connectionString.contains("target_session_attrs='read-write'"))
        values["PG_PORT"] = "5432"
        #expect(try Config(values: values).postgres.ports == [5432], "one port serves every host")
        values["PG_PORT"] = "5432,5433,5434"
        #expect(throws: ConfigError.self) { try Config(values: values) }
    }

    @Test func sentinelsNameThePrimaryByItsNameAndReplicaReadsNeedThem() throws {
        var values = Self.minimal
        values["REDIS_READ_REPLICAS"] = "true"
        #expect(throws: ConfigError.self) { try Config(values: values) }
        values["REDIS_SENTINELS"] = "10.0.0.11:26379, 10.0.0.12:26379"
        #expect(throws: ConfigError.missing(variable: "REDIS_MASTER_NAME")) { try Config(values: values) }
        values["REDIS_MASTER_NAME"] = "leaderboard"
        let config = try Config(values: values)
        #expect(config.redisReadReplicas)
        #expect(
            config.redis.sentinel
                == RedisSettings.Sentinel(
                    addresses: [RedisSettings.Address(host: "10.0.0.11", port: 26379), RedisSettings.Address(host: "10.0.0.12", port: 26379)],
                    masterName: "leaderboard"))
        values["REDIS_SENTINELS"] = "10.0.0.11"
        #expect(throws: ConfigError.self) { try Config(values: values) }
    }

    @Test func theWebSocketDaemonListensOnTCPOnly() throws {
        var values = Self.minimal
        values["WS_LISTEN"] = "0.0.0.0:9001"
        let address = try Config(values: values).wsListen
        #expect(address.host == "0.0.0.0" && address.port == 9001)
        values["WS_LISTEN"] = "unix:/run/ws.sock"
        #expect(throws: ConfigError.malformed(variable: "WS_LISTEN", value: "unix:/run/ws.sock", expected: "host:port")) {
            try Config(values: values)
        }
    }

    @Test func refusalsListenTakesAnIPv4HostAndPortOnly() throws {
        var values = Self.minimal
        values["NGINX_REFUSALS_LISTEN"] = "127.0.0.1:8089"
        let address = try #require(try Config(values: values).nginxRefusalsListen)
        #expect(address.host == "127.0.0.1" && address.port == 8089)
        values["NGINX_REFUSALS_LISTEN"] = "unix:/run/refusals.sock"
        #expect(throws: ConfigError.self) { try Config(values: values) }
        values["NGINX_REFUSALS_LISTEN"] = nil
        #expect(try Config(values: values).nginxRefusalsListen == nil)
    }
}
