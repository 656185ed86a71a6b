import Foundation
import Testing

@testable import LeaderboardCore

/// A player's own submissions per game and minute, counted by the statement that stores them, against the real
/// PostgreSQL: within a batch and across batches, over a minute that slides, never counting a game server's scores or
/// a retry, and still refused while Redis is away. In `LeaderboardTests`, whose games are its own.
extension LeaderboardTests {
    func newScore(_ user: Int, _ game: String, _ score: Int, key: String? = nil, trusted: Bool = false) -> NewScore {
        NewScore(userId: user, game: game, score: score, idempotencyKey: key, tokenKey: nil, isTrusted: trusted)
    }

    func storedScores(_ user: Int, _ game: String) throws -> [Int] {
        try database.query("SELECT score FROM scores WHERE user_id = $1 AND game = $2 ORDER BY id", [user, game]).map { try $0.requiredInt("score") }
    }

    @Test func aPlayerPastTheRateIsRefusedWithinABatchAndAfterWhileGameServersAndOtherGamesAreNot() throws {
        try withGame { game in
            try withGame { otherGame in
                let (ann, bob) = (try makeUser("Ann"), try makeUser("Bob"))
                let store = PostgresScoreStore(database: database)
                let batch = try store.insert(
                    [
                        newScore(ann, game, 1), newScore(ann, game, 2, trusted: true), newScore(ann, game, 3), newScore(ann, otherGame, 4),
                        newScore(bob, game, 5), newScore(ann, game, 6),
                    ], perMinute: 2)
                #expect(batch.map { $0.stored?.score } == [1, 2, 3, 4, 5, nil])
                guard case .rateLimited(let seconds) = batch[5] else {
                    Issue.record("the third of the batch was not refused: \(batch[5])")
                    return
                }
                #expect((59...60).contains(seconds), "the oldest counted score was stored a moment ago")

                let later = try store.insert([newScore(ann, game, 7), newScore(ann, game, 8, trusted: true)], perMinute: 2)
                guard case .rateLimited = later[0] else {
                    Issue.record("a later batch's score past the rate was not refused: \(later[0])")
                    return
                }
                #expect(later[1].stored?.score == 8)
                #expect(try storedScores(ann, game) == [1, 2, 3, 8], "nothing refused was stored")
            }
        }
    }

    @Test func theMinuteSlidesAndRetryAfterIsWhenItsOldestScoreLeavesIt() throws {
        try withGame { game in
            let user = try makeUser("Cleo")
            for secondsAgo in [75, 50, 20] {
                try database.query(
                    "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, $3, now() - make_interval(secs => $4))",
                    [user, game, secondsAgo, secondsAgo])
            }
            let store = PostgresScoreStore(database: database)
            guard case .rateLimited(let seconds) = try store.insert([newScore(user, game, 1)], perMinute: 2)[0] else {
                Issue.record("two scores within the minute did not reach a rate of two")
                return
            }
            #expect((9...10).contains(seconds), "the score of 50 s ago leaves the minute in 10 s")
            #expect(try store.insert([newScore(user, game, 2)], perMinute: 3)[0].stored != nil, "the score of 75 s ago is not counted")
        }
    }

    @Test func aRetryPastTheRateIsAnsweredAsTheFirstAndNotCounted() throws {
        try withGame { game in
            let user = try makeUser("Dora")
            let store = PostgresScoreStore(database: database)
            let first = try store.insert([newScore(user, game, 10, key: "retried")], perMinute: 1)[0].stored
            let retries = try store.insert([newScore(user, game, 10, key: "retried"), newScore(user, game, 10, key: "retried")], perMinute: 1)
            #expect(retries.map { $0.stored?.id } == [first?.id, first?.id])
            #expect(retries.allSatisfy { $0.stored?.isReplay == true })
            guard case .rateLimited = try store.insert([newScore(user, game, 11, key: "new")], perMinute: 1)[0] else {
                Issue.record("a new submission past the rate was not refused")
                return
            }
            #expect(try storedScores(user, game) == [10])
        }
    }

    @Test func withRedisAwayThePlayersRateStillHolds() throws {
        try withGame { game in
            let user = try makeUser("Eve")
            let offline = try offlineService(submissionsPerMinute: 2)
            for score in 1...2 {
                guard case .queued = try offline.submit(userId: user, name: "Eve", game: game, score: score, idempotencyKey: nil) else {
                    Issue.record("expected the submission to be queued")
                    return
                }
            }
            do {
                _ = try offline.submit(userId: user, name: "Eve", game: game, score: 3, idempotencyKey: nil)
                Issue.record("the third submission within the minute was accepted")
            } catch ServiceError.rateLimited(let seconds) {
                #expect((59...60).contains(seconds))
            }
            #expect(try storedScores(user, game) == [1, 2])
        }
    }
}
