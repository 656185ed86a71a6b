import LeaderboardTesting
import Testing

@testable import LeaderboardCore

/// Who may submit and how often, over in-memory stores: authoritative games take only trusted submissions, and a player's
/// own submissions are limited per game and minute.
@Suite struct SubmissionLimitsTests {
    let ephemeral = InMemoryEphemeralStore()
    let catalog = FixedGameCatalog([
        Game(slug: "cod", label: "Call of Duty", position: 1), Game(slug: "valrnt", label: "Valorant", position: 2),
        Game(slug: "chess", label: "Chess", position: 3, authoritative: true),
    ])

    func service(perMinute: Int = 3) -> LeaderboardService {
        LeaderboardService(
            scores: InMemoryScoreStore(games: catalog.list), index: InMemoryRankingIndex(), games: catalog, ephemeral: ephemeral,
            submissionsPerMinute: perMinute)
    }

    func error(_ body: () throws -> Void) -> ServiceError? {
        do {
            try body()
            return nil
        } catch {
            return error as? ServiceError
        }
    }

    @Test func anAuthoritativeGameRefusesAPlayerAndTakesAGameServersScore() throws {
        let service = service()
        let refused = error { _ = try service.submit(userId: 1, name: "Ann", game: "chess", score: 10, idempotencyKey: nil) }
        #expect(refused == .forbidden("this game takes scores only from its game servers (API keys), not from players"))
        let trusted = try service.submit(userId: 1, name: "Ann", game: "chess", score: 10, idempotencyKey: nil, isTrusted: true)
        guard case .applied(let result) = trusted else {
            Issue.record("not applied: \(trusted)")
            return
        }
        #expect(result.best == 10)
    }

    @Test func aPlayerPastTheRateOfAGameIsRefusedWithRetryAfterWhileOtherGamesAndPlayersAreNot() throws {
        let service = service(perMinute: 3)
        for score in 1...3 { _ = try service.submit(userId: 1, name: "Ann", game: "cod", score: score, idempotencyKey: nil) }

        #expect(
            error { _ = try service.submit(userId: 1, name: "Ann", game: "cod", score: 4, idempotencyKey: nil) }
                == .rateLimited(retryAfterSeconds: 60))
        _ = try service.submit(userId: 1, name: "Ann", game: "valrnt", score: 4, idempotencyKey: nil)
        _ = try service.submit(userId: 2, name: "Bob", game: "cod", score: 4, idempotencyKey: nil)
    }

    @Test func gameServersAreNotRateLimited() throws {
        let service = service(perMinute: 1)
        for score in 1...5 { _ = try service.submit(userId: 1, name: "Ann", game: "cod", score: score, idempotencyKey: nil, isTrusted: true) }
        _ = try service.submit(userId: 1, name: "Ann", game: "cod", score: 6, idempotencyKey: nil)
    }
}
