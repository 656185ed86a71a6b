import FastCGIPool
import Foundation
import LeaderboardTesting
import Testing

@testable import LeaderboardAPI
@testable import LeaderboardCore

/// The admin routes over in-memory stores: who may use them, and what a game looks like on the wire.
@Suite struct AdminRoutesTests {
    let users = InMemoryUserStore()
    let games = InMemoryGameAdminStore()
    let api: APIService

    init() {
        var config = APIServiceTests.config
        config.bcryptCost = 4
        api = APIServiceTests.makeAPI(config: config, users: users, gameSettings: games)
    }

    func call(_ method: String, _ path: String, json: String? = nil, token: String? = nil) -> (status: Int, body: [String: Any]) {
        var headers: [String: String] = [:]
        if json != nil { headers["Content-Type"] = "application/json" }
        if let token { headers["Authorization"] = "Bearer \(token)" }
        let response = api.respond(
            to: HTTPRequest(method: method, path: "/api/v1" + path, headers: headers, body: Array((json ?? "").utf8), remoteAddress: "127.0.0.1"))
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:])
    }

    func token(_ email: String) -> String {
        _ = call("POST", "/auth/signup", json: #"{"email":"\#(email)","name":"N","password":"s3cret-pass"}"#)
        let login = call("POST", "/auth/login", json: #"{"email":"\#(email)","password":"s3cret-pass"}"#)
        return (login.body["data"] as? [String: Any])?["token"] as? String ?? ""
    }

    @Test func adminRoutesAre401WithoutATokenAnd403ForAPlayerBeforeTheBodyIsRead() {
        let player = token("player@example.com")
        for (method, path) in [("POST", "/admin/games"), ("PATCH", "/admin/games/cod")] {
            let anonymous = call(method, path, json: #"{"slug":"kart","label":"Kart"}"#)
            #expect(anonymous.status == 401)
            let refused = call(method, path, json: "not json", token: player)
            #expect(refused.status == 403)
            #expect(refused.body["message"] as? String == "only administrators may do this")
        }
        #expect(games.audit.isEmpty)
    }

    @Test func meShowsTheRoleAndAnAdminCreatesAndEditsAGame() throws {
        let adminToken = token("admin@example.com")
        #expect((call("GET", "/auth/me", token: adminToken).body["data"] as? [String: Any])?["role"] as? String == "player")
        let admin = try #require(try users.setRole(.admin, email: "ADMIN@example.com", actor: "test"))
        #expect((call("GET", "/auth/me", token: adminToken).body["data"] as? [String: Any])?["role"] as? String == "admin")

        let created = call("POST", "/admin/games", json: #"{"slug":"kart","label":"Kart","order":"asc","format":"time_ms"}"#, token: adminToken)
        #expect(created.status == 201)
        let game = try #require(created.body["data"] as? [String: Any])
        #expect(
            Set(game.keys) == [
                "slug", "label", "position", "order", "rule", "minScore", "maxScore", "tieBreak", "inGlobal", "format", "authoritative", "archived",
            ])
        #expect(game["format"] as? String == "time_ms" && game["inGlobal"] as? Bool == false)
        #expect(games.audit.last?.actor == "user:\(admin.id)")

        let edited = call("PATCH", "/admin/games/kart", json: #"{"label":"Kart Racing","reason":"a clearer name"}"#, token: adminToken)
        #expect(edited.status == 200)
        #expect((edited.body["data"] as? [String: Any])?["label"] as? String == "Kart Racing")
        #expect((call("GET", "/games/kart").body["data"] as? [String: Any])?["label"] as? String == "Kart Racing")

        _ = try users.setRole(.player, email: "admin@example.com", actor: "test")
        #expect(call("PATCH", "/admin/games/kart", json: #"{"label":"Again"}"#, token: adminToken).status == 403)
    }

    @Test func badBodiesAre422NamingEveryField() throws {
        let adminToken = token("admin@example.com")
        _ = try users.setRole(.admin, email: "admin@example.com", actor: "test")
        let refused = call("POST", "/admin/games", json: #"{"slug":"Kart","label":"","orderr":"asc","inGlobal":"no"}"#, token: adminToken)
        #expect(refused.status == 422)
        let fields = (refused.body["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
        #expect(fields == ["orderr", "inGlobal"], "type errors come first; the rules are checked once the types hold")
        let slug = call("PATCH", "/admin/games/cod", json: #"{"slug":"cod2"}"#, token: adminToken)
        #expect(slug.status == 422)
        #expect(call("PATCH", "/admin/games/nope", json: "{}", token: adminToken).status == 404)
        #expect(call("POST", "/admin/games", json: #"{"slug":"cod","label":"Again"}"#, token: adminToken).status == 409)
    }

    @Test func gamesListsOnlyGamesNotArchivedAndAGameIsReadableByItsSlug() {
        let adminToken = token("admin@example.com")
        _ = try? users.setRole(.admin, email: "admin@example.com", actor: "test")
        #expect(call("PATCH", "/admin/games/valrnt", json: #"{"archived":true}"#, token: adminToken).status == 200)

        let listed = (call("GET", "/games").body["data"] as? [[String: Any]])?.compactMap { $0["value"] as? String }
        #expect(listed == ["all", "cod"])
        #expect((call("GET", "/games/valrnt").body["data"] as? [String: Any])?["archived"] as? Bool == true)
        #expect(call("GET", "/games/nope").status == 404)
    }

    @Test func gamesAreListedFromTheCatalogWhilePostgresIsDown() {
        let unreachable = PostgresGameAdminStore(database: PostgresConnection(settings: APIServiceTests.unreachable.postgres))
        let api = APIServiceTests.makeAPI(users: users, gameSettings: unreachable)
        let response = api.respond(to: HTTPRequest(method: "GET", path: "/api/v1/games", headers: [:], body: [], remoteAddress: "127.0.0.1"))
        let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        #expect(response.status == 200)
        #expect((body?["data"] as? [[String: Any]])?.compactMap { $0["value"] as? String } == ["all", "cod", "valrnt"])
    }
}
