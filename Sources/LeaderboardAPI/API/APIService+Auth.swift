import FastCGIPool
import LeaderboardCore

extension APIService {
    struct LoginData: Encodable, Sendable {
        let token: String
        let user: User
    }

    func signup(_ request: HTTPRequest) throws -> HTTPResponse {
        var body = try request.jsonFields()
        let (email, name, password) = (body.string("email"), body.string("name"), body.string("password"))
        try body.validate()
        let user = try auth.signup(name: name, email: email, password: password, clientAddress: request.remoteAddress)
        return Self.uncacheable(.envelope(status: 201, message: "account created", data: user))
    }

    func login(_ request: HTTPRequest) throws -> HTTPResponse {
        var body = try request.jsonFields()
        let (email, password) = (body.string("email"), body.string("password"))
        try body.validate()
        let (token, user) = try auth.login(email: email, password: password, clientAddress: request.remoteAddress)
        var response = HTTPResponse.envelope(message: "logged in", data: LoginData(token: token, user: user))
        response.headers.append(("Set-Cookie", cookie(value: token, maxAge: Int(config.accessTokenLifetime.components.seconds))))
        return Self.uncacheable(response)
    }

    /// The account with its role, so a client knows whether to offer the administration.
    func me(_ request: HTTPRequest) throws -> HTTPResponse {
        Self.uncacheable(.envelope(data: try account(request).account))
    }

    /// The caller's token claims and account, or 401 when the token is not valid or the account was deleted.
    func account(_ request: HTTPRequest) throws -> (claims: AccessTokenClaims, account: Account) {
        let claims = try auth.authenticate(request.accessToken)
        guard let account = try stores.users.account(id: claims.userID) else { throw ServiceError.unauthorized("account no longer exists") }
        return (claims, account)
    }

    /// Always clears the cookie; revokes the token when it is still valid. The revocation is stored in
    /// PostgreSQL before the answer, so a 200 means the token no longer works anywhere.
    func logout(_ request: HTTPRequest) throws -> HTTPResponse {
        if let token = request.accessToken, let claims = try? auth.authenticate(token) {
            try auth.logout(token: token, claims: claims)
        }
        var response = HTTPResponse.envelope(message: "logged out", data: Optional<User>.none)
        response.headers.append(("Set-Cookie", cookie(value: "", maxAge: 0)))
        return response
    }

    /// A token or an account's data: no cache on the way (a proxy, the browser's) may keep it.
    private static func uncacheable(_ response: HTTPResponse) -> HTTPResponse {
        var response = response
        response.headers.append(("Cache-Control", "no-store"))
        return response
    }

    /// The predecessor's `ath` cookie: not readable by scripts, not sent on cross-site subrequests.
    private func cookie(value: String, maxAge: Int) -> String {
        "ath=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (config.cookieSecure ? "; Secure" : "")
    }
}
