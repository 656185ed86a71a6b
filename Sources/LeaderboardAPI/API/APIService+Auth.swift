import FastCGIPool
import LeaderboardCore

extension APIService {
    struct LoginData: Encodable, Sendable {
        let token: String
        let refreshToken: String
        let user: User
    }

    struct RefreshData: Encodable, Sendable {
        let token: String
        let refreshToken: String
    }

    /// The refresh token's cookie: sent only to the refresh route, and never on a request another site's page starts.
    static let refreshCookieName = "rth"
    static let refreshCookiePath = prefix + "/auth/refresh"

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
        let signedIn = try auth.login(email: email, password: password, clientAddress: request.remoteAddress)
        var response = HTTPResponse.envelope(
            message: "logged in", data: LoginData(token: signedIn.token, refreshToken: signedIn.refreshToken, user: signedIn.user))
        setCookies(of: signedIn, on: &response)
        return Self.uncacheable(response)
    }

    /// A new access token and refresh token for the refresh token in the body (`{refreshToken}`, for game clients) or
    /// the `rth` cookie (browsers).
    func refresh(_ request: HTTPRequest) throws -> HTTPResponse {
        var presented = TokenTransport.cookies(request.header("cookie"))[Self.refreshCookieName]
        if !request.body.isEmpty {
            var body = try request.jsonFields()
            let token = body.contains("refreshToken") ? body.string("refreshToken") : nil
            try body.validate()
            presented = token ?? presented
        }
        let signedIn = try auth.refresh(presented)
        var response = HTTPResponse.envelope(message: "refreshed", data: RefreshData(token: signedIn.token, refreshToken: signedIn.refreshToken))
        setCookies(of: signedIn, on: &response)
        return Self.uncacheable(response)
    }

    private func setCookies(of signedIn: SignedIn, on response: inout HTTPResponse) {
        response.headers.append(("Set-Cookie", cookie(value: signedIn.token, maxAge: Int(config.accessTokenLifetime.components.seconds))))
        response.headers.append(
            ("Set-Cookie", refreshCookie(value: signedIn.refreshToken, maxAge: Int(config.refreshTokenLifetime.components.seconds))))
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

    /// Clears the cookies; revokes the token and its session when the token is still valid. The revocation is stored in
    /// PostgreSQL before the answer, so a 200 means the token no longer works anywhere; when the token's own check cannot
    /// be made (PostgreSQL down and Redis's cache not vouching), the answer is the store's error, not a 200 that revoked nothing.
    func logout(_ request: HTTPRequest) throws -> HTTPResponse {
        if let token = request.accessToken {
            do {
                try auth.logout(token: token, claims: try auth.authenticate(token))
            } catch ServiceError.unauthorized {
                // Invalid, expired or revoked already: there is nothing left to revoke.
            }
        }
        var response = HTTPResponse.envelope(message: "logged out", data: Optional<User>.none)
        response.headers.append(("Set-Cookie", cookie(value: "", maxAge: 0)))
        response.headers.append(("Set-Cookie", refreshCookie(value: "", maxAge: 0)))
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

    private func refreshCookie(value: String, maxAge: Int) -> String {
        "\(Self.refreshCookieName)=\(value); Path=\(Self.refreshCookiePath); Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
            + (config.cookieSecure ? "; Secure" : "")
    }
}
