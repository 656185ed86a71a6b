import Foundation

/// The claims of an access token: ours (`sub`, `id`, `name`, `email`, `iat`, `exp`, `jti`, and `sid`, the refresh
/// token family it was issued in), and the predecessor's subset (`id`, `name`, `email`, `exp`), which PyJWT-made tokens carry.
public struct AccessTokenClaims: Sendable, Equatable {
    public var userID: Int
    public var name: String
    public var email: String
    public var issuedAt: Int?
    public var expiresAt: Int
    public var notBefore: Int?
    public var tokenID: String?
    /// The refresh token family (the session) this token was issued in, so logout can end the session.
    public var sessionID: String?

    public init(
        userID: Int, name: String, email: String, issuedAt: Int?, expiresAt: Int, notBefore: Int? = nil, tokenID: String?,
        sessionID: String? = nil
    ) {
        self.userID = userID
        self.name = name
        self.email = email
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.tokenID = tokenID
        self.sessionID = sessionID
    }
}

/// Why a token was refused. Clients see only "invalid token" or "token expired"; logs may see the rest.
public enum TokenError: Error, Equatable, Sendable {
    case malformed(String)
    case unsupportedAlgorithm(String)
    case badSignature
    case expired
    case notYetValid
}

/// Signs and verifies HS256 JSON Web Tokens (RFC 7519) with one secret. The algorithm is pinned:
/// the header's `alg` must be exactly `HS256`, so `none`, HS512 and RS256 tokens are refused.
public struct JWTSigner: Sendable {
    private let key: [UInt8]

    public init(secret: String) {
        key = Array(secret.utf8)
    }

    init(key: [UInt8]) {
        self.key = key
    }

    public func sign(_ claims: AccessTokenClaims) -> String {
        var payload: [String: Any] = [
            "sub": String(claims.userID), "id": claims.userID, "name": claims.name, "email": claims.email,
            "exp": claims.expiresAt,
        ]
        if let issuedAt = claims.issuedAt { payload["iat"] = issuedAt }
        if let notBefore = claims.notBefore { payload["nbf"] = notBefore }
        if let tokenID = claims.tokenID { payload["jti"] = tokenID }
        if let sessionID = claims.sessionID { payload["sid"] = sessionID }
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        // Sorted keys keep tokens reproducible for the same claims.
        let body = try! JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys, .withoutEscapingSlashes])
        let signingInput = header + "." + Base64URL.encode(body)
        return signingInput + "." + Base64URL.encode(signature(of: signingInput.utf8))
    }

    func signature(of signingInput: some Sequence<UInt8>) -> [UInt8] {
        Crypto.hmacSHA256(key: key, message: Array(signingInput))
    }

    public func verify(_ token: String, now: Date = Date()) throws(TokenError) -> AccessTokenClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("expected 3 segments, got \(parts.count)") }
        guard let headerBytes = Base64URL.decode(parts[0]), let header = Self.object(headerBytes) else {
            throw .malformed("header is not base64url JSON")
        }
        guard let algorithm = header["alg"]?.string, algorithm == "HS256" else {
            throw .unsupportedAlgorithm(header["alg"]?.string ?? "missing or not a string")
        }
        guard let presented = Base64URL.decode(parts[2]) else { throw .malformed("signature is not base64url") }
        let expected = signature(of: token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard Crypto.constantTimeEquals(presented, expected) else { throw .badSignature }

        guard let payloadBytes = Base64URL.decode(parts[1]), let payload = Self.object(payloadBytes) else {
            throw .malformed("payload is not base64url JSON")
        }
        let nowSeconds = Int(now.timeIntervalSince1970)
        // RFC 7519 §2: a NumericDate is a JSON number; a claim present in another shape is refused, not ignored.
        guard let expiresAt = try Self.numericDate(payload, "exp") else { throw .malformed("exp is missing") }
        guard nowSeconds < expiresAt else { throw .expired }
        let notBefore = try Self.numericDate(payload, "nbf")
        if let notBefore, nowSeconds < notBefore { throw .notYetValid }
        let issuedAt = try Self.numericDate(payload, "iat")
        if let issuedAt, issuedAt > nowSeconds + Self.allowedClockSkewSeconds { throw .malformed("iat is in the future") }
        // `id` when present (the predecessor's claim, a JSON number), else `sub` (a string, RFC 7519 §4.1.2).
        let userID = payload["id"].map(\.wholeNumber) ?? payload["sub"]?.string.flatMap { Int($0) }
        guard let userID, userID > 0 else { throw .malformed("no user id") }
        return AccessTokenClaims(
            userID: userID, name: payload["name"]?.string ?? "", email: payload["email"]?.string ?? "", issuedAt: issuedAt,
            expiresAt: expiresAt, notBefore: notBefore, tokenID: payload["jti"]?.string, sessionID: payload["sid"]?.string)
    }

    /// How far ahead of our clock a token's `iat` may be: another host's clock may run a little fast.
    static let allowedClockSkewSeconds = 300

    /// A token's header or payload: a JSON object; claims are flat, so a shallow bound refuses a hostile nesting early.
    private static func object(_ bytes: [UInt8]) -> [String: JSONValue]? {
        guard case .object(let members) = try? JSONParser.parse(bytes, maximumDepth: 8) else { return nil }
        return members
    }

    /// The claim as whole seconds (RFC 7519 allows fractions; they are truncated), nil when absent, and
    /// malformed when it is anything but a JSON number (a string, a Boolean, null).
    private static func numericDate(_ payload: [String: JSONValue], _ claim: String) throws(TokenError) -> Int? {
        guard let value = payload[claim] else { return nil }
        guard case .number(let number) = value, abs(number.double) < 1e15 else { throw .malformed("\(claim) is not a NumericDate") }
        return Int(number.double)
    }
}
