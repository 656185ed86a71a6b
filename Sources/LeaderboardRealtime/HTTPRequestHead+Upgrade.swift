import LeaderboardCore
import NIOHTTP1

extension HTTPRequestHead {
    /// The token a WebSocket upgrade is admitted with: the Bearer header's, else the `ath` cookie when the
    /// request comes from a page of this site or of a `CORS_ORIGINS` origin. A browser adds the cookie to an
    /// upgrade that any site's page starts (cross-site WebSocket hijacking) and names that page in `Origin`;
    /// such a cookie counts as no token at all, so the socket is anonymous.
    func upgradeToken(allowedOrigins: [String]) -> String? {
        if let bearer = TokenTransport.bearer(authorization: headers.first(name: "authorization")) { return bearer }
        guard isFromTrustedOrigin(allowedOrigins: allowedOrigins) else { return nil }
        return TokenTransport.cookies(headers.first(name: "cookie"))[TokenTransport.cookieName]
    }

    /// Whether `Origin` is absent (a client that is no browser), the site's own, or one of `allowedOrigins`.
    /// The site's own is the Host the request came to, with the scheme nginx names in `X-Forwarded-Proto`
    /// (either when it names none).
    func isFromTrustedOrigin(allowedOrigins: [String]) -> Bool {
        guard let origin = headers.first(name: "origin") else { return true }
        if allowedOrigins.contains(origin) { return true }
        guard let host = headers.first(name: "host")?.lowercased(), !host.isEmpty else { return false }
        let schemes = headers.first(name: "x-forwarded-proto").map { [$0.lowercased()] } ?? ["http", "https"]
        return schemes.contains { origin.lowercased() == "\($0)://\(host)" }
    }
}
