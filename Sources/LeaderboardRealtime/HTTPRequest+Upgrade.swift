import LeaderboardCore

extension HTTPRequest {
    /// The token a WebSocket upgrade is admitted with: the Bearer header's, else the `ath` cookie when the
    /// request comes from a page of this site or of a `CORS_ORIGINS` origin. A browser adds the cookie to an
    /// upgrade that any site's page starts (cross-site WebSocket hijacking) and names that page in `Origin`;
    /// such a cookie counts as no token at all, so the socket is anonymous.
    func upgradeToken(allowedOrigins: [String]) -> String? {
        if let bearer = bearerToken { return bearer }
        return isFromTrustedOrigin(allowedOrigins: allowedOrigins) ? cookies["ath"] : nil
    }

    /// Whether `Origin` is absent (a client that is no browser), the site's own, or one of `allowedOrigins`.
    /// The site's own is the Host the request came to, with the scheme nginx names in `X-Forwarded-Proto`
    /// (either when it names none).
    func isFromTrustedOrigin(allowedOrigins: [String]) -> Bool {
        guard let origin = header("origin") else { return true }
        if allowedOrigins.contains(origin) { return true }
        guard let host = header("host")?.lowercased(), !host.isEmpty else { return false }
        let schemes = header("x-forwarded-proto").map { [$0.lowercased()] } ?? ["http", "https"]
        return schemes.contains { origin.lowercased() == "\($0)://\(host)" }
    }
}
