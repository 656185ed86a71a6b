import LeaderboardTesting
import Testing

@testable import LeaderboardCore

/// The one wiring: a context's services work over its own stores, and contexts of one process share its work.
@Suite struct StoreContextTests {
    static func makeStores(index: InMemoryRankingIndex, users: InMemoryUserStore) -> Stores {
        Stores(
            users: users, games: FixedGameCatalog(), ephemeral: InMemoryEphemeralStore(), revocations: InMemoryRevocations(),
            refreshTokens: InMemoryRefreshTokenStore(users: users), health: FixedHealthProbe(), scores: InMemoryScoreStore(), index: index,
            gameSettings: InMemoryGameAdminStore(),
            apiKeys: InMemoryApiKeyStore())
    }

    @Test func eachContextsServicesUseItsOwnStores() throws {
        let config = try Config(values: [
            "PG_USER": "lb", "PG_DB": "lb", "SECRET_KEY": String(repeating: "s", count: 40), "BCRYPT_COST": "4",
            "LEADERBOARD_MODE": "development",
        ])
        let shared = SharedWork(passwords: PasswordWork(config: config))
        let (firstIndex, secondIndex) = (InMemoryRankingIndex(), InMemoryRankingIndex())
        let (firstUsers, secondUsers) = (InMemoryUserStore(), InMemoryUserStore())
        let first = StoreContext(config: config, stores: Self.makeStores(index: firstIndex, users: firstUsers), shared: shared)
        let second = StoreContext(config: config, stores: Self.makeStores(index: secondIndex, users: secondUsers), shared: shared)

        let user = try first.auth.signup(name: "Ann", email: "ann@example.com", password: "s3cret-pass", clientAddress: "127.0.0.1")
        #expect(try firstUsers.account(id: user.id)?.user == user)
        #expect(try secondUsers.account(id: user.id) == nil)
        let token = try first.auth.login(email: "ann@example.com", password: "s3cret-pass", clientAddress: "127.0.0.1").token
        #expect(try first.auth.authenticate(token).userID == user.id)

        _ = try second.leaderboard.submit(userId: user.id, name: user.name, game: "cod", score: 10, idempotencyKey: nil)
        let board = try #require(try secondIndex.around(userId: user.id, game: "cod", period: .allTime, radius: 0, unlessRevoked: nil))
        #expect(board.score == 10)
        #expect(try firstIndex.around(userId: user.id, game: "cod", period: .allTime, radius: 0, unlessRevoked: nil) == nil)
    }
}
