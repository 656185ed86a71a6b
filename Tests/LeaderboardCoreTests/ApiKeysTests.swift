import LeaderboardTesting
import Testing

@testable import LeaderboardCore

/// API keys over in-memory stores: the key's form, what a create refuses (each refusal on its field), the audit entries,
/// and what a submission with a key may do.
@Suite struct ApiKeysTests {
    let store = InMemoryApiKeyStore()
    let games = InMemoryGameAdminStore()
    var keys: ApiKeys { ApiKeys(store: store, games: games) }

    func fieldsOfError(_ body: () throws -> Void) -> [String]? {
        do {
            try body()
            return nil
        } catch let error as ServiceError {
            return error.fieldErrors.map(\.field)
        } catch {
            return nil
        }
    }

    func error(_ body: () throws -> Void) -> ServiceError? {
        do {
            try body()
            return nil
        } catch {
            return error as? ServiceError
        }
    }

    @Test func aKeyIsTheMarkerAnd32RandomBytesAndOnlyItsHashIsStored() throws {
        let created = try keys.create(name: "EU servers", games: nil, actor: "user:1")

        #expect(created.key.hasPrefix("lbk_") && created.key.utf8.count == 47)
        #expect(ApiKeySecret.isWellFormed(created.key))
        #expect(created.apiKey.prefix == String(created.key.prefix(12)))
        #expect(store.hashes[created.apiKey.id] == ApiKeySecret.hash(created.key))
        #expect(store.hashes[created.apiKey.id]?.count == 64)
        #expect(!store.hashes.values.contains(created.key))
        #expect(try keys.create(name: "EU servers", games: nil, actor: "user:1").key != created.key)
    }

    @Test(arguments: [
        "", "lbk_", "lbk_short", "eyJhbGciOiJIUzI1NiJ9.e30.sig", "LBK_" + String(repeating: "A", count: 43),
        "lbk_" + String(repeating: "A", count: 44),
        "lbk_" + String(repeating: "A", count: 42) + "!",
    ])
    func aCredentialOfAnotherShapeIsNotAWellFormedKey(credential: String) {
        #expect(!ApiKeySecret.isWellFormed(credential))
    }

    @Test func anAccessTokenIsNeverTakenForAKey() {
        #expect(!ApiKeySecret.isKey("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.x"))
        #expect(ApiKeySecret.isKey("lbk_anything"))
    }

    @Test func creatingAndRevokingAreAuditedAndRevokingTwiceChangesNothing() throws {
        let created = try keys.create(name: "Ranked", games: ["cod", "cod"], actor: "user:7")
        #expect(created.apiKey.games == ["cod"], "duplicates are dropped")
        let revoked = try keys.revoke(id: created.apiKey.id, actor: "user:7")
        #expect(revoked.revoked)
        #expect(try keys.revoke(id: created.apiKey.id, actor: "user:7").revoked)

        #expect(store.audit.map(\.action) == ["api_key.create", "api_key.revoke"])
        #expect(store.audit.allSatisfy { $0.actor == "user:7" && $0.target == "api_key:\(created.apiKey.id)" })
        #expect(store.audit[0].changes["name"] == AuditChange(before: .none, after: .text("Ranked")))
        #expect(error { _ = try keys.revoke(id: 99, actor: "user:7") } == .notFound("unknown API key 99"))
    }

    @Test(arguments: ["", "   ", String(repeating: "k", count: 101), "tab\there"])
    func aNameOutsideTheRulesIsRefused(name: String) {
        #expect(fieldsOfError { _ = try keys.create(name: name, games: nil, actor: "user:1") } == ["name"])
    }

    @Test(arguments: [[], ["cod", "nope"], ["'; DROP TABLE api_keys; --"]])
    func gamesThatAreEmptyOrUnknownAreRefused(games: [String]) {
        #expect(fieldsOfError { _ = try keys.create(name: "x", games: games, actor: "user:1") } == ["games"])
        #expect(store.list.isEmpty)
    }

    @Test func onlyAKnownUnrevokedKeyAuthenticates() throws {
        let created = try keys.create(name: "x", games: nil, actor: "user:1")
        #expect(try keys.authenticate(created.key).id == created.apiKey.id)

        let forged = "lbk_" + String(repeating: "A", count: 43)
        #expect(error { _ = try keys.authenticate(forged) } == .unauthorized("unknown API key"))
        #expect(error { _ = try keys.authenticate("lbk_nonsense") } == .unauthorized("unknown API key"))
        _ = try keys.revoke(id: created.apiKey.id, actor: "user:1")
        #expect(error { _ = try keys.authenticate(created.key) } == .unauthorized("API key revoked"))
    }

    @Test func aKeySubmitsOnlyToItsGamesAndOnlyForPlayersWhoExistAndAreNotBanned() throws {
        store.players = [1: ("Ann", false), 2: ("Bob", true)]
        let codOnly = try keys.create(name: "cod servers", games: ["cod"], actor: "user:1").apiKey
        let every = try keys.create(name: "all servers", games: nil, actor: "user:1").apiKey

        #expect(try keys.player(1, game: "cod", key: codOnly) == "Ann")
        #expect(try keys.player(1, game: "valrnt", key: every) == "Ann")
        #expect(error { _ = try keys.player(1, game: "valrnt", key: codOnly) } == .forbidden("this API key may not submit scores to 'valrnt'"))
        #expect(error { _ = try keys.player(3, game: "cod", key: codOnly) } == .notFound("unknown user 3"))
        #expect(error { _ = try keys.player(2, game: "cod", key: codOnly) } == .forbidden("user 2 is banned"))
    }
}
