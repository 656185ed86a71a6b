import FastCGIPool
import Foundation
import LeaderboardTesting
import Logging
import Testing

@testable import LeaderboardAPI
@testable import LeaderboardCore

/// The REST API over in-memory stores: routing, the envelope, auth flows and error mapping.
@Suite struct APIServiceTests {
    static let config = try! Config(values: [
        "PG_USER": "lb", "PG_DB": "lb", "SECRET_KEY": String(repeating: "s", count: 40), "BCRYPT_COST": "10",
        "LEADERBOARD_MODE": "development", "CORS_ORIGINS": "https://app.example.com", "LOGIN_MAX_FAILURES": "3",
        "SIGNUP_MAX_PER_ADDRESS": "3",
    ])

    /// Stores the auth tests never reach; a board route would answer 503 from them.
    static let unreachable = try! Config(values: [
        "PG_USER": "x", "PG_DB": "x", "PG_PORT": "1", "REDIS_URL": "redis://127.0.0.1:1", "LEADERBOARD_MODE": "development",
    ])

    let api: APIService

    init() {
        var config = Self.config
        config.bcryptCost = 4
        api = Self.makeAPI(config: config, users: InMemoryUserStore())
    }

    static func makeAPI(
        config: Config = config, users: any UserStore, health: FixedHealthProbe = FixedHealthProbe(),
        gameSettings: any GameAdminStore = InMemoryGameAdminStore(), apiKeys: InMemoryApiKeyStore = InMemoryApiKeyStore(),
        scores: (any ScoreStore)? = nil, ephemeral: InMemoryEphemeralStore = InMemoryEphemeralStore(),
        revocations: any TokenRevocations = InMemoryRevocations()
    ) -> APIService {
        let stores = Stores(
            users: users, games: FixedGameCatalog(), ephemeral: ephemeral, revocations: revocations,
            refreshTokens: InMemoryRefreshTokenStore(users: users), health: health,
            scores: scores ?? PostgresScoreStore(database: PostgresConnection(settings: unreachable.postgres)),
            index: BoardIndex(redis: RedisConnection(settings: unreachable.redis)), gameSettings: gameSettings, apiKeys: apiKeys)
        return APIService(
            config: config, context: StoreContext(config: config, stores: stores, shared: SharedWork(passwords: PasswordWork(config: config))),
            logger: Logger(label: "test"))
    }

    func call(
        _ method: String, _ path: String, json: String? = nil, headers: [String: String] = [:], from address: String = "127.0.0.1"
    ) -> (HTTPResponse, [String: Any]) {
        Self.call(api, method, path, json: json, headers: headers, from: address)
    }

    static func call(
        _ api: APIService, _ method: String, _ path: String, json: String? = nil, headers: [String: String] = [:],
        from address: String = "127.0.0.1"
    ) -> (HTTPResponse, [String: Any]) {
        var allHeaders = headers
        if json != nil { allHeaders["Content-Type"] = "application/json" }
        let response = api.respond(
            to: HTTPRequest(method: method, path: "/api/v1" + path, headers: allHeaders, body: Array((json ?? "").utf8), remoteAddress: address))
        let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response, body)
    }

    func signupAndLogin(email: String = "ann@example.com", password: String = "s3cret-pass") -> String {
        _ = call("POST", "/auth/signup", json: #"{"email":"\#(email)","name":"Ann","password":"\#(password)"}"#)
        let (_, body) = call("POST", "/auth/login", json: #"{"email":"\#(email)","password":"\#(password)"}"#)
        return (body["data"] as? [String: Any])?["token"] as? String ?? ""
    }

    @Test func signupAnswers201WithTheUserInTheEnvelope() {
        let (response, body) = call("POST", "/auth/signup", json: #"{"email":" Ann@Example.com ","name":"Ann","password":"s3cret-pass"}"#)
        #expect(response.status == 201)
        #expect(body["success"] as? Bool == true)
        #expect(body["statusCode"] as? Int == 201)
        let data = body["data"] as? [String: Any]
        #expect(data?["email"] as? String == "Ann@Example.com")
        #expect(data?["name"] as? String == "Ann")
        #expect(data?["password"] == nil)
    }

    @Test func theSameEmailInAnotherCaseIsAConflict() {
        _ = call("POST", "/auth/signup", json: #"{"email":"ann@example.com","name":"Ann","password":"s3cret-pass"}"#)
        let (response, body) = call("POST", "/auth/signup", json: #"{"email":"ANN@example.com","name":"Other","password":"s3cret-pass"}"#)
        #expect(response.status == 409)
        #expect(body["success"] as? Bool == false)
        #expect(body.keys.contains("data") && body["data"] is NSNull)
    }

    @Test func invalidSignupsListEveryBadField() {
        let (response, body) = call("POST", "/auth/signup", json: #"{"email":"nope","name":"","password":"short"}"#)
        #expect(response.status == 422)
        let fields = (body["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
        #expect(fields == ["email", "name", "password"])
    }

    @Test func loginSetsTheAthCookieAndMeAcceptsCookieOrBearer() throws {
        _ = call("POST", "/auth/signup", json: #"{"email":"ann@example.com","name":"Ann","password":"s3cret-pass"}"#)
        let (response, body) = call("POST", "/auth/login", json: #"{"email":"ANN@example.com","password":"s3cret-pass"}"#)
        #expect(response.status == 200)
        let token = try #require((body["data"] as? [String: Any])?["token"] as? String)
        let cookie = try #require(response.header("Set-Cookie"))
        #expect(cookie.hasPrefix("ath=\(token);"))
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] { #expect(cookie.contains(attribute)) }
        #expect(!cookie.contains("Secure"), "development mode without TLS")

        let (byBearer, me) = call("GET", "/auth/me", headers: ["Authorization": "Bearer \(token)"])
        #expect(byBearer.status == 200)
        #expect((me["data"] as? [String: Any])?["email"] as? String == "ann@example.com")
        #expect(call("GET", "/auth/me", headers: ["Cookie": "ath=\(token)"]).0.status == 200)
    }

    @Test func logoutRevokesTheTokenAndClearsTheCookie() {
        let token = signupAndLogin()
        let (response, _) = call("POST", "/auth/logout", headers: ["Authorization": "Bearer \(token)"])
        #expect(response.status == 200)
        #expect(response.header("Set-Cookie")?.contains("Max-Age=0") == true)
        let (me, body) = call("GET", "/auth/me", headers: ["Authorization": "Bearer \(token)"])
        #expect(me.status == 401)
        #expect(body["message"] as? String == "token revoked")
        #expect(call("POST", "/auth/signout").0.status == 200, "signing out without a token still clears the cookie")
    }

    /// The revocation list over a PostgreSQL and a Redis that cannot be reached: the token's check cannot be made, so
    /// neither can its revocation, and the client must not be told it is logged out (nor lose the token it could retry with).
    @Test(arguments: ["/auth/logout", "/auth/signout"])
    func aLogoutThatCouldNotBeStoredIsAnErrorNotA200(route: String) throws {
        let users = InMemoryUserStore()
        let signingIn = Self.makeAPI(users: users)
        _ = Self.call(signingIn, "POST", "/auth/signup", json: #"{"email":"ann@example.com","name":"Ann","password":"s3cret-pass"}"#)
        let (_, login) = Self.call(signingIn, "POST", "/auth/login", json: #"{"email":"ann@example.com","password":"s3cret-pass"}"#)
        let token = try #require((login["data"] as? [String: Any])?["token"] as? String)
        let unreachable = RevocationList(
            database: PostgresConnection(settings: Self.unreachable.postgres), redis: RedisConnection(settings: Self.unreachable.redis))
        let api = Self.makeAPI(users: users, revocations: unreachable)
        let (response, body) = Self.call(api, "POST", route, headers: ["Authorization": "Bearer \(token)"])
        #expect(response.status == 503)
        #expect(body["success"] as? Bool == false)
        #expect(response.header("Set-Cookie") == nil, "the cookie stays, so the client can log out again")
    }

    /// A board read carries the revocation check to Redis; when the index cannot answer (here: no Redis at
    /// all) or the request is refused first, the check is made on its own, so a revoked token still gets 401.
    @Test(arguments: ["/leaderboards/all?start=0&end=9", "/leaderboards/all?period=yearly", "/leaderboards/nope", "/leaderboards/all/me"])
    func aRevokedTokenIs401OnBoardRoutesWhateverElseFails(path: String) {
        let token = signupAndLogin()
        #expect(call("GET", path, headers: ["Authorization": "Bearer \(token)"]).0.status != 401)
        _ = call("POST", "/auth/logout", headers: ["Authorization": "Bearer \(token)"])
        let (response, body) = call("GET", path, headers: ["Authorization": "Bearer \(token)"])
        #expect(response.status == 401)
        #expect(body["message"] as? String == "token revoked")
    }

    @Test func aRevokedTokenCannotSubmitEvenWhenTheStoresCannotAnswer() {
        let token = signupAndLogin()
        _ = call("POST", "/auth/logout", headers: ["Authorization": "Bearer \(token)"])
        for json in [#"{"game":"cod","score":5}"#, #"{"game":"nope"}"#, "not json"] {
            let (response, body) = call("POST", "/scores", json: json, headers: ["Authorization": "Bearer \(token)"])
            #expect(response.status == 401)
            #expect(body["message"] as? String == "token revoked")
        }
    }

    @Test func wrongPasswordAndUnknownEmailGetTheSame401() {
        _ = signupAndLogin()
        let (wrong, wrongBody) = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"wrong-pass"}"#)
        let (unknown, unknownBody) = call("POST", "/auth/login", json: #"{"email":"bob@example.com","password":"wrong-pass"}"#)
        #expect(wrong.status == 401 && unknown.status == 401)
        #expect(wrongBody["message"] as? String == unknownBody["message"] as? String)
    }

    @Test func repeatedFailuresAreThrottledWithRetryAfterAndASuccessResetsThem() {
        _ = signupAndLogin()
        for _ in 0..<3 { _ = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"wrong-pass"}"#) }
        let (throttled, _) = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"s3cret-pass"}"#)
        #expect(throttled.status == 429)
        #expect(Int(throttled.header("Retry-After") ?? "") ?? 0 >= 1)
    }

    @Test func aSuccessfulLoginResetsTheEmailsFailures() {
        _ = signupAndLogin()
        for _ in 0..<2 { _ = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"wrong-pass"}"#) }
        #expect(call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"s3cret-pass"}"#).0.status == 200)
        for _ in 0..<2 { _ = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"wrong-pass"}"#) }
        #expect(call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"s3cret-pass"}"#).0.status == 200)
    }

    /// Failures from one address cannot lock the owner out: their correct password from another address
    /// logs in while the guessing address is refused.
    @Test func failuresFromOneAddressDoNotLockOutTheOwnerElsewhere() {
        _ = signupAndLogin()
        for _ in 0..<3 { _ = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"wrong-pass"}"#, from: "10.0.0.66") }
        let guesser = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"s3cret-pass"}"#, from: "10.0.0.66").0
        #expect(guesser.status == 429)
        let owner = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"s3cret-pass"}"#, from: "10.0.0.7").0
        #expect(owner.status == 200)
    }

    /// Guesses spread over many addresses: once the e-mail has failed its limit, an address that failed for it
    /// gets no more guesses, and one that has not (the owner's) still logs in.
    @Test func anEmailUnderSpreadOutGuessingIsSlowedNotLocked() {
        _ = signupAndLogin()
        let wrong = #"{"email":"ann@example.com","password":"wrong-pass"}"#
        for address in ["10.0.1.1", "10.0.1.2", "10.0.1.3"] { #expect(call("POST", "/auth/login", json: wrong, from: address).0.status == 401) }
        let again = call("POST", "/auth/login", json: wrong, from: "10.0.1.1").0
        #expect(again.status == 429)
        #expect(Int(again.header("Retry-After") ?? "") ?? 0 >= 1)
        #expect(call("POST", "/auth/login", json: wrong, from: "10.0.1.4").0.status == 401, "a new address gets one guess")
        #expect(call("POST", "/auth/login", json: wrong, from: "10.0.1.4").0.status == 429)
        let owner = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"s3cret-pass"}"#, from: "10.0.1.9").0
        #expect(owner.status == 200)
    }

    /// An IPv6 host usually holds a whole /64: its addresses count as one client, or each guess could come from a fresh one.
    @Test func theAddressesOfAnIPv6NetworkCountAsOneClient() {
        _ = signupAndLogin()
        let wrong = #"{"email":"ann@example.com","password":"wrong-pass"}"#
        for address in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
            #expect(call("POST", "/auth/login", json: wrong, from: address).0.status == 401)
        }
        #expect(call("POST", "/auth/login", json: wrong, from: "2001:db8:1:2::4").0.status == 429)
        #expect(call("POST", "/auth/login", json: wrong, from: "2001:db8:1:3::4").0.status == 401, "another /64 gets one guess")
        let owner = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"s3cret-pass"}"#, from: "10.0.3.9").0
        #expect(owner.status == 200)
    }

    /// bcrypt reads 72 bytes: a login must not accept the account's 72-byte password with a tail added.
    @Test func loginComparesThePasswordExactly() {
        let password = String(repeating: "p", count: 72)
        _ = signupAndLogin(password: password)
        let (tail, body) = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"\#(password)tail"}"#)
        #expect(tail.status == 401)
        #expect(body["message"] as? String == "incorrect e-mail or password")
        #expect(call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"\#(password)"}"#).0.status == 200)
    }

    @Test func signupsPerAddressAreLimitedWithRetryAfter() {
        for index in 0..<3 {
            let json = #"{"email":"p\#(index)@example.com","name":"P","password":"s3cret-pass"}"#
            #expect(call("POST", "/auth/signup", json: json, from: "10.0.2.1").0.status == 201)
        }
        let (refused, body) = call("POST", "/auth/signup", json: #"{"email":"p9@example.com","name":"P","password":"s3cret-pass"}"#, from: "10.0.2.1")
        #expect(refused.status == 429)
        #expect(body["success"] as? Bool == false)
        #expect(Int(refused.header("Retry-After") ?? "") ?? 0 >= 1)
        #expect(
            call("POST", "/auth/signup", json: #"{"email":"p9@example.com","name":"P","password":"s3cret-pass"}"#, from: "10.0.2.2").0.status == 201)
    }

    @Test func answersWithATokenOrAnAccountAreNotStored() {
        let (signup, _) = call("POST", "/auth/signup", json: #"{"email":"ann@example.com","name":"Ann","password":"s3cret-pass"}"#)
        let (login, body) = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"s3cret-pass"}"#)
        let token = (body["data"] as? [String: Any])?["token"] as? String ?? ""
        let (me, _) = call("GET", "/auth/me", headers: ["Authorization": "Bearer \(token)"])
        for response in [signup, login, me] { #expect(response.header("Cache-Control") == "no-store") }
        let (failed, _) = call("POST", "/auth/login", json: #"{"email":"ann@example.com","password":"wrong-pass"}"#)
        #expect(failed.header("Cache-Control") == nil, "an error carries nothing to keep")
    }

    /// A valid token whose account is gone (deleted) names nobody: every route about the caller is 401.
    @Test(arguments: ["/auth/me", "/me/standing", "/me/scores"])
    func aTokenOfADeletedAccountIs401(path: String) {
        let signer = JWTSigner(secret: Self.config.secretKey)
        let now = Int(Date().timeIntervalSince1970)
        let token = signer.sign(
            AccessTokenClaims(userID: 99, name: "Gone", email: "gone@example.com", issuedAt: now, expiresAt: now + 60, tokenID: "g"))
        let (response, body) = call("GET", path, headers: ["Authorization": "Bearer \(token)"])
        #expect(response.status == 401)
        #expect(body["message"] as? String == "account no longer exists")
    }

    @Test(arguments: ["", "Bearer", "Bearer not.a.token", "Bearer a.b"])
    func missingOrGarbageTokensGet401(authorization: String) {
        let (response, body) = call("GET", "/auth/me", headers: authorization.isEmpty ? [:] : ["Authorization": authorization])
        #expect(response.status == 401)
        #expect(body["success"] as? Bool == false)
        #expect(response.header("WWW-Authenticate") == "Bearer")
    }

    @Test func anExpiredTokenIsRefusedAsExpired() {
        let signer = JWTSigner(secret: Self.config.secretKey)
        let expired = signer.sign(AccessTokenClaims(userID: 1, name: "Ann", email: "a@b.co", issuedAt: 1, expiresAt: 2, tokenID: "x"))
        let (response, body) = call("GET", "/auth/me", headers: ["Authorization": "Bearer \(expired)"])
        #expect(response.status == 401)
        #expect(body["message"] as? String == "token expired")
    }

    @Test func gamesListAllFirstAndHonourExcludeChannel() {
        let (response, body) = call("GET", "/games/")
        #expect(response.status == 200)
        let values = (body["data"] as? [[String: Any]])?.compactMap { $0["value"] as? String }
        #expect(values == ["all", "cod", "valrnt"])
        let (_, excluded) = api.respond(to: HTTPRequest(method: "GET", path: "/api/v1/games", query: ["excludeChannel": "cod"])).jsonBody
        #expect((excluded["data"] as? [[String: Any]])?.compactMap { $0["value"] as? String } == ["all", "valrnt"])
    }

    @Test func unknownRoutesAre404AndWrongMethods405WithAllow() {
        #expect(call("GET", "/nope").0.status == 404)
        let (response, _) = call("DELETE", "/auth/login")
        #expect(response.status == 405)
        #expect(response.header("Allow") == "POST")
    }

    @Test func oversizeBodiesAre413() {
        let big = #"{"email":"\#(String(repeating: "a", count: 70_000))"}"#
        #expect(call("POST", "/auth/signup", json: big).0.status == 413)
    }

    @Test func aDownDatabaseIs503NotA500() {
        let api = Self.makeAPI(users: UnreachableUserStore(), health: FixedHealthProbe(postgres: false))
        let login = api.respond(
            to: HTTPRequest(
                method: "POST", path: "/api/v1/auth/login", headers: ["Content-Type": "application/json"],
                body: Array(#"{"email":"a@b.co","password":"x"}"#.utf8)))
        #expect(login.status == 503)
        let health = api.respond(to: HTTPRequest(method: "GET", path: "/api/v1/health"))
        #expect(health.status == 503)
        #expect((health.jsonBody.1["data"] as? [String: String]) == ["postgres": "down", "redis": "ok"])
    }

    @Test func corsPreflightAnswersOnlyConfiguredOrigins() {
        let allowed = call("OPTIONS", "/auth/login", headers: ["Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"]).0
        #expect(allowed.status == 204)
        #expect(allowed.header("Access-Control-Allow-Origin") == "https://app.example.com")
        #expect(allowed.header("Access-Control-Allow-Methods") == "POST")
        let foreign = call("OPTIONS", "/auth/login", headers: ["Origin": "https://evil.example", "Access-Control-Request-Method": "POST"]).0
        #expect(foreign.header("Access-Control-Allow-Origin") == nil)
        #expect(call("GET", "/games", headers: ["Origin": "https://app.example.com"]).0.header("Access-Control-Allow-Credentials") == "true")
    }
}

extension HTTPResponse {
    var jsonBody: (HTTPResponse, [String: Any]) {
        (self, (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:])
    }
}
