import Foundation
import Testing

@testable import LeaderboardCore

/// Game administration and roles against the real PostgreSQL: audit rows in the change's transaction, the order and
/// rule fixed once scored (also against a first score committed concurrently), and the role read at every check.
@Suite struct PostgresGameAdminTests {
    /// After the seeded games, where tests running meanwhile expect games of other tests (see `PostgresConnectionTests`).
    static let position = 100
    let database = TestStack.database()
    var admin: GameAdmin { GameAdmin(store: PostgresGameAdminStore(database: database)) }

    /// A fresh slug for a game of this test's own, removed afterwards with its scores.
    func withSlug<Result>(_ body: (String) throws -> Result) throws -> Result {
        let slug = "ga" + TestStack.unique("").replacingOccurrences(of: "-", with: "")
        defer {
            _ = try? database.query("DELETE FROM scores WHERE game = $1", [slug])
            _ = try? database.query("DELETE FROM games WHERE slug = $1", [slug])
        }
        return try body(slug)
    }

    func makeUser(email: String = TestStack.unique("admin") + "@example.com") throws -> (id: Int, email: String) {
        let rows = try database.query("INSERT INTO users (name, email, password) VALUES ('Ad Min', $1, 'x') RETURNING id", [email])
        return (try rows[0].requiredInt("id"), email)
    }

    /// The audit rows of `target`, oldest first: action, actor, reason and details as parsed JSON.
    func auditRows(_ target: String) throws -> [(action: String, actor: String, reason: String?, details: [String: [String: Any]])] {
        try database.query("SELECT action, actor, reason, details::text AS details FROM audit_log WHERE target = $1 ORDER BY id", [target]).map {
            row in
            let details = try JSONSerialization.jsonObject(with: Data(try row.requiredString("details").utf8)) as? [String: [String: Any]] ?? [:]
            return (try row.requiredString("action"), try row.requiredString("actor"), try row.string("reason"), details)
        }
    }

    @Test func createAndUpdateAreStoredWithTheirAuditRows() throws {
        try withSlug { slug in
            let created = try admin.create(
                slug: slug,
                settings: GameSettings(label: "Kart", position: Self.position, order: .asc, minScore: -9_007_199_254_740_991, format: .timeMs),
                actor: "user:7",
                reason: "new season")
            #expect(try PostgresGameAdminStore(database: database).game(slug) == created)
            #expect(created.minScore == -9_007_199_254_740_991 && !created.inGlobal)

            let updated = try admin.update(slug: slug, settings: GameSettings(label: "Kart Racing", archived: true), actor: AuditEntry.shellActor)
            #expect(updated.label == "Kart Racing" && updated.archived)
            #expect(try PostgresGameAdminStore(database: database).games().first { $0.slug == slug } == updated)

            let rows = try auditRows(slug)
            #expect(rows.map(\.action) == ["game.create", "game.update"])
            #expect(rows.map(\.actor) == ["user:7", "leaderboardctl"])
            #expect(rows.map(\.reason) == ["new season", nil])
            #expect(rows[0].details["order"]?["after"] as? String == "asc")
            #expect(rows[0].details["order"]?["before"] is NSNull)
            #expect(rows[0].details["minScore"]?["after"] as? Int == -9_007_199_254_740_991)
            #expect(Set(rows[1].details.keys) == ["label", "archived"])
            #expect(rows[1].details["label"]?["before"] as? String == "Kart" && rows[1].details["label"]?["after"] as? String == "Kart Racing")
        }
    }

    @Test func aRefusedChangeStoresNothingAndLeavesNoAuditRow() throws {
        try withSlug { slug in
            _ = try admin.create(slug: slug, settings: GameSettings(label: "Kart", position: Self.position), actor: "user:7")
            #expect(throws: ServiceError.self) {
                try admin.create(slug: slug, settings: GameSettings(label: "Again", position: Self.position), actor: "user:7")
            }
            #expect(throws: ServiceError.self) { try admin.update(slug: slug, settings: GameSettings(minScore: 10, maxScore: 5), actor: "user:7") }
            #expect(try admin.game(slug).label == "Kart")
            #expect(try auditRows(slug).map(\.action) == ["game.create"])
        }
    }

    @Test func orderAndRuleAreFixedOnceTheGameHasAScore() throws {
        try withSlug { slug in
            _ = try admin.create(slug: slug, settings: GameSettings(label: "Kart", position: Self.position), actor: "user:7")
            #expect(try admin.update(slug: slug, settings: GameSettings(rule: .sum), actor: "user:7").rule == .sum)
            let user = try makeUser()
            try database.query("INSERT INTO scores (user_id, game, score) VALUES ($1, $2, 5)", [user.id, slug])

            let error = #expect(throws: ServiceError.self) { try admin.update(slug: slug, settings: GameSettings(rule: .best), actor: "user:7") }
            #expect(error.map { if case .conflict = $0 { true } else { false } } == true)
            #expect(try admin.update(slug: slug, settings: GameSettings(tieBreak: .earliest), actor: "user:7").tieBreak == .earliest)
            #expect(try admin.game(slug).rule == .sum)
        }
    }

    /// The first score's insert holds a KEY SHARE lock on the game row until it commits; the update's FOR UPDATE waits
    /// for it, then sees the score and refuses.
    @Test func aFirstScoreCommittedWhileTheOrderChangesMakesTheChangeAConflict() throws {
        try withSlug { slug in
            _ = try admin.create(slug: slug, settings: GameSettings(label: "Kart", position: Self.position), actor: "user:7")
            let user = try makeUser()
            let scorer = TestStack.database()
            try scorer.query("BEGIN")
            try scorer.query("INSERT INTO scores (user_id, game, score) VALUES ($1, $2, 5)", [user.id, slug])

            let result = try TestStack.whileWaitingForALock("the update waits for the score's lock") { updater in
                try GameAdmin(store: PostgresGameAdminStore(database: updater)).update(
                    slug: slug, settings: GameSettings(order: .asc), actor: "user:7")
            } release: {
                try scorer.query("COMMIT")
            }
            #expect(throws: ServiceError.self) { try result.get() }
            #expect(try admin.game(slug).order == .desc)
        }
    }

    @Test func theRoleIsReadAtEveryCheckAndEachChangeIsAudited() throws {
        let users = PostgresUserStore(database: database)
        let user = try makeUser()
        #expect(try users.account(id: user.id)?.role == .player)

        #expect(try users.setRole(.admin, email: user.email.uppercased(), actor: AuditEntry.shellActor)?.role == .admin)
        #expect(try users.account(id: user.id)?.role == .admin)
        #expect(try users.setRole(.admin, email: user.email, actor: AuditEntry.shellActor)?.role == .admin)
        #expect(try users.setRole(.player, email: user.email, actor: AuditEntry.shellActor)?.role == .player)
        #expect(try users.account(id: user.id)?.role == .player)
        #expect(try users.setRole(.admin, email: "nobody-" + user.email, actor: AuditEntry.shellActor) == nil)

        let rows = try auditRows("user:\(user.id)")
        #expect(rows.map(\.action) == ["user.role", "user.role"], "granting a role held already changes nothing")
        #expect(rows.map { $0.details["role"]?["after"] as? String } == ["admin", "player"])
    }
}
