import FastCGIPool
import Foundation
import LeaderboardTesting
import Testing

@testable import LeaderboardAPI
@testable import LeaderboardCore

/// API keys over in-memory stores: the admin routes, and `POST /scores` with a key as the bearer token. The index is
/// unreachable, so an accepted submission is stored and queued (202).
@Suite struct ApiKeyRoutesTests {
    let users = InMemoryUserStore()
    let keys = InMemoryApiKeyStore()
    let scores = InMemoryScoreStore()
    let api: APIService

    init() {
        var config = APIServiceTests.config
        config.bcryptCost = 4
        api = APIServiceTests.makeAPI(config: config, users: users, apiKeys: keys, scores: scores)
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

    func adminToken() throws -> String {
        let token = token("admin@example.com")
        _ = try users.setRole(.admin, email: "admin@example.com", actor: "test")
        return token
    }

    func createKey(_ json: String, admin: String) throws -> (id: Int, key: String) {
        let created = call("POST", "/admin/api-keys", json: json, token: admin)
        #expect(created.status == 201)
        let data = try #require(created.body["data"] as? [String: Any])
        return (try #require(data["id"] as? Int), try #require(data["key"] as? String))
    }

    @Test func theKeyRoutesAreForAdminsOnly() {
        let player = token("player@example.com")
        for (method, path) in [("POST", "/admin/api-keys"), ("GET", "/admin/api-keys"), ("DELETE", "/admin/api-keys/1")] {
            #expect(call(method, path, json: #"{"name":"x"}"#).status == 401)
            #expect(call(method, path, json: #"{"name":"x"}"#, token: player).status == 403)
        }
        #expect(keys.list.isEmpty)
    }

    @Test func aKeyIsShownOnceAndListedWithoutIt() throws {
        let admin = try adminToken()
        let created = call("POST", "/admin/api-keys", json: #"{"name":"EU servers","games":["cod"]}"#, token: admin)
        #expect(created.status == 201)
        let data = try #require(created.body["data"] as? [String: Any])
        #expect(Set(data.keys) == ["id", "name", "prefix", "games", "createdAt", "createdBy", "lastUsedAt", "revoked", "key"])
        #expect(data["games"] as? [String] == ["cod"])

        let listed = try #require(call("GET", "/admin/api-keys", token: admin).body["data"] as? [[String: Any]])
        #expect(listed.count == 1 && listed[0]["key"] == nil && listed[0]["prefix"] as? String == data["prefix"] as? String)
        #expect(listed[0]["games"] as? [String] == ["cod"])
    }

    @Test func badKeyRequestsGet4xx() throws {
        let admin = try adminToken()
        #expect(call("POST", "/admin/api-keys", json: #"{"name":"x","games":["nope"]}"#, token: admin).status == 422)
        #expect(call("POST", "/admin/api-keys", json: #"{"name":"x","games":"cod"}"#, token: admin).status == 422)
        #expect(call("POST", "/admin/api-keys", json: #"{"name":"x","extra":1}"#, token: admin).status == 422)
        #expect(call("DELETE", "/admin/api-keys/abc", token: admin).status == 404)
        #expect(call("DELETE", "/admin/api-keys/99", token: admin).status == 404)
        #expect(keys.list.isEmpty)
    }

    @Test func aKeySubmitsForAPlayerOnItsGamesUntilRevoked() throws {
        let admin = try adminToken()
        keys.players = [1: ("Ann", false), 2: ("Bob", true)]
        let (id, key) = try createKey(#"{"name":"cod servers","games":["cod"]}"#, admin: admin)

        let accepted = call("POST", "/scores", json: #"{"game":"cod","score":42,"userId":1}"#, token: key)
        #expect(accepted.status == 202)
        #expect(scores.rows.map(\.score.userId) == [1] && scores.rows[0].score.isTrusted)
        #expect(call("POST", "/scores", json: #"{"game":"valrnt","score":42,"userId":1}"#, token: key).status == 403)
        #expect(call("POST", "/scores", json: #"{"game":"cod","score":42,"userId":3}"#, token: key).status == 404)
        #expect(call("POST", "/scores", json: #"{"game":"cod","score":42,"userId":2}"#, token: key).status == 403)
        #expect(call("POST", "/scores", json: #"{"game":"cod","score":42}"#, token: key).status == 422)
        #expect(call("GET", "/auth/me", token: key).status == 401, "a key is no access token")

        #expect(call("DELETE", "/admin/api-keys/\(id)", token: admin).status == 200)
        let revoked = call("POST", "/scores", json: #"{"game":"cod","score":43,"userId":1}"#, token: key)
        #expect(revoked.status == 401)
        #expect(revoked.body["message"] as? String == "API key revoked")
        #expect(call("POST", "/scores", json: #"{"game":"cod","score":43,"userId":1}"#, token: "lbk_forged").status == 401)
        #expect(scores.rows.count == 1)
    }
}
