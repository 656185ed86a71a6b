extension HTTPRequest {
    /// Cookies from the `Cookie` header, by name; the first of duplicate names wins.
    public var cookies: [String: String] {
        var cookies: [String: String] = [:]
        for pair in (header("cookie") ?? "").split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].trimmingWhitespace()
            if cookies[name] == nil { cookies[name] = parts[1].trimmingWhitespace() }
        }
        return cookies
    }

    /// The bearer token of `Authorization: Bearer ...`, else the `ath` cookie the predecessor set.
    public var accessToken: String? { bearerToken ?? cookies["ath"] }

    /// The token of `Authorization: Bearer ...`: one a client sends on purpose, unlike a cookie, which a
    /// browser adds to requests that other sites' pages make.
    public var bearerToken: String? {
        guard let authorization = header("authorization") else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingWhitespace()
    }
}
