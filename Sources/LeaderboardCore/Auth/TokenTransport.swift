/// Where a client's access token travels, on REST requests and WebSocket upgrades alike:
/// `Authorization: Bearer ...`, else the `ath` cookie the predecessor set.
public enum TokenTransport {
    /// The name of the cookie that carries the token.
    public static let cookieName = "ath"

    /// The token of these header values, if either carries one.
    public static func token(authorization: String?, cookie: String?) -> String? {
        bearer(authorization: authorization) ?? cookies(cookie)[cookieName]
    }

    /// The token of `Authorization: Bearer ...`: one a client sends on purpose, unlike a cookie, which a
    /// browser adds to requests that other sites' pages make.
    public static func bearer(authorization: String?) -> String? {
        guard let authorization else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingWhitespace()
    }

    /// Cookies of a `Cookie` header, by name; the first of duplicate names wins.
    public static func cookies(_ header: String?) -> [String: String] {
        var cookies: [String: String] = [:]
        for pair in (header ?? "").split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].trimmingWhitespace()
            if cookies[name] == nil { cookies[name] = parts[1].trimmingWhitespace() }
        }
        return cookies
    }
}
