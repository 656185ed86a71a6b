/// A worker's own connections: one to PostgreSQL and one to the Redis primary, each opened on first use, and with
/// `REDIS_READ_REPLICAS` one to a Redis replica for board pages.
public struct StoreConnections {
    public let database: PostgresConnection
    public let redis: RedisConnection
    public let replica: RedisConnection?

    public init(database: PostgresConnection, redis: RedisConnection, replica: RedisConnection? = nil) {
        self.database = database
        self.redis = redis
        self.replica = replica
    }

    /// `watch`: the process's Sentinel watch, which the Redis connections follow.
    public init(config: Config, following watch: SentinelWatch? = nil) {
        self.init(
            database: PostgresConnection(settings: config.postgres), redis: RedisConnection(settings: config.redis, following: watch),
            replica: config.redisReadReplicas ? RedisConnection(settings: config.redis, reading: .replica, following: watch) : nil)
    }
}

/// The stores a worker's services use; unit tests put in-memory ones in their place.
public struct Stores {
    public var users: any UserStore
    public var games: any GameCatalog
    public var ephemeral: any EphemeralStore
    public var revocations: any TokenRevocations
    public var refreshTokens: any RefreshTokenStore
    public var health: any HealthProbe
    public var scores: any ScoreStore
    public var index: any RankingIndex
    public var gameSettings: any GameAdminStore
    public var apiKeys: any ApiKeyStore

    public init(
        users: any UserStore, games: any GameCatalog, ephemeral: any EphemeralStore, revocations: any TokenRevocations,
        refreshTokens: any RefreshTokenStore, health: any HealthProbe, scores: any ScoreStore, index: any RankingIndex,
        gameSettings: any GameAdminStore, apiKeys: any ApiKeyStore
    ) {
        self.users = users
        self.games = games
        self.ephemeral = ephemeral
        self.revocations = revocations
        self.refreshTokens = refreshTokens
        self.health = health
        self.scores = scores
        self.index = index
        self.gameSettings = gameSettings
        self.apiKeys = apiKeys
    }

    /// The PostgreSQL and Redis stores over `connections`.
    /// `games`: the list of games the process's workers share.
    public init(connections: StoreConnections, games: GameList = GameList()) {
        let (database, redis) = (connections.database, connections.redis)
        self.init(
            users: PostgresUserStore(database: database), games: PostgresGameCatalog(database: database, list: games),
            ephemeral: RedisEphemeralStore(redis: redis), revocations: RevocationList(database: database, redis: redis),
            refreshTokens: PostgresRefreshTokenStore(database: database), health: ConnectionHealthProbe(database: database, redis: redis),
            scores: PostgresScoreStore(database: database),
            index: connections.replica.map { ReplicaReadIndex(primary: BoardIndex(redis: redis), replica: BoardIndex(redis: $0)) }
                ?? BoardIndex(redis: redis),
            gameSettings: PostgresGameAdminStore(database: database), apiKeys: PostgresApiKeyStore(database: database))
    }
}

/// What every worker of a process shares (see `PasswordWork`, `VerifiedTokens`, `GroupCommit`, `PageCache`,
/// `ReportCache`, `GameList`, `SentinelWatch`).
public struct SharedWork: Sendable {
    public let passwords: PasswordWork
    public let verifiedTokens: VerifiedTokens
    /// Nil: each submission is stored and applied alone, on its caller's thread. Its stages run once
    /// `startSubmissionStages` has started them.
    public let submissionBatches: LeaderboardService.SubmissionBatches?
    /// Nil: every page is read with the page script.
    public let pages: PageCache?
    /// Nil: every report is made anew.
    public let reports: ReportCache?
    public let postgresReports = LeaderboardService.postgresReportSlots()
    public let games: GameList
    /// Nil without Sentinel.
    public let sentinelWatch: SentinelWatch?

    public init(
        passwords: PasswordWork, verifiedTokens: VerifiedTokens = VerifiedTokens(),
        submissionBatches: LeaderboardService.SubmissionBatches? = nil, pages: PageCache? = nil,
        reports: ReportCache? = nil, games: GameList = GameList(), sentinelWatch: SentinelWatch? = nil
    ) {
        self.games = games
        self.sentinelWatch = sentinelWatch
        self.passwords = passwords
        self.verifiedTokens = verifiedTokens
        self.submissionBatches = submissionBatches
        self.pages = pages
        self.reports = reports
    }
}

extension SharedWork {
    /// Starts the stages of `submissionBatches`, each over connections of its own, as a worker's. The store stage's
    /// connection runs the batch insert, whose plan is the same for every batch: it is planned once (`plansOnce`).
    public func startSubmissionStages(config: Config) {
        let storing = {
            var storing = config
            storing.postgres.plansOnce = true
            return storing
        }()
        submissionBatches?.start(
            store: { StoreContext(config: storing, shared: self).leaderboard.store },
            finish: { StoreContext(config: config, shared: self).leaderboard.finish })
    }
}

/// One worker's stores and the services over them: the one place the api's workers, the ws daemon's store workers
/// and the tests build them.
///
/// `@unchecked Sendable`: a context is used by one thread at a time (an api worker, or the serial queue of a ws
/// store worker), so its connections are never used by two threads at once.
public final class StoreContext: @unchecked Sendable {
    public let stores: Stores
    public let auth: AuthService
    public let leaderboard: LeaderboardService
    public let gameAdmin: GameAdmin
    /// Bans and score deletions, which change PostgreSQL and the index together; nil over in-memory stores.
    public let moderation: PlayerModeration?
    public let apiKeys: ApiKeys

    public init(config: Config, stores: Stores, shared: SharedWork, moderation: PlayerModeration? = nil) {
        self.stores = stores
        self.moderation = moderation
        gameAdmin = GameAdmin(store: stores.gameSettings)
        apiKeys = ApiKeys(store: stores.apiKeys, games: stores.gameSettings)
        auth = AuthService(
            config: config, users: stores.users, ephemeral: stores.ephemeral, revocations: stores.revocations, refreshTokens: stores.refreshTokens,
            passwords: shared.passwords,
            verifiedTokens: shared.verifiedTokens)
        leaderboard = LeaderboardService(
            scores: stores.scores, index: stores.index, games: stores.games, ephemeral: stores.ephemeral, revocations: stores.revocations,
            batches: shared.submissionBatches,
            pages: shared.pages, reports: shared.reports, postgresReports: shared.postgresReports,
            submissionsPerMinute: config.scoreRatePerMinute)
    }

    /// A context over fresh connections to the configured PostgreSQL and Redis.
    public convenience init(config: Config, shared: SharedWork) {
        let connections = StoreConnections(config: config, following: shared.sentinelWatch)
        self.init(
            config: config, stores: Stores(connections: connections, games: shared.games), shared: shared,
            moderation: PlayerModeration(connections: connections))
    }
}
