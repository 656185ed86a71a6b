import Testing

@testable import LeaderboardCore

/// How PostgreSQL plans the batch insert on the store stage's connection (`PostgresSettings.plansOnce`), against the
/// real server. In `LeaderboardTests`, whose games are its own.
extension LeaderboardTests {
    /// A light load stores batches of one. A plan for one row looks cheaper to PostgreSQL than the generic plan, so
    /// without `plansOnce` it plans the insert again at every run; with it, once.
    @Test func theBatchInsertIsPlannedOnceOnAConnectionThatPlansOnce() throws {
        try withGame { game in
            let user = try makeUser("Plan")
            func plans(plansOnce: Bool) throws -> (generic: Int, custom: Int) {
                var settings = TestStack.config.postgres
                settings.plansOnce = plansOnce
                let connection = PostgresConnection(settings: settings)
                let store = PostgresScoreStore(database: connection)
                for score in 1...8 {
                    #expect(try store.insert([newScore(user, game, score)], perMinute: 1_000)[0].stored?.score == score)
                }
                let row = try connection.query(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE 'WITH input AS%'")[0]
                return (try row.requiredInt("generic_plans"), try row.requiredInt("custom_plans"))
            }
            let usual = try plans(plansOnce: false)
            #expect(usual.custom == 8, "PostgreSQL planned batches of one anew each time: \(usual)")
            let once = try plans(plansOnce: true)
            #expect(once.custom == 0 && once.generic == 8, "\(once)")
        }
    }
}
