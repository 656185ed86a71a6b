import Foundation
import Testing

@testable import LeaderboardCore

@Suite struct JWTTests {
    static let signer = JWTSigner(secret: "a-test-secret-that-is-long-enough-for-hs256")
    static let claims = AccessTokenClaims(
        userID: 7, name: "Ann", email: "ann@example.com", issuedAt: 1_700_000_000, expiresAt: 4_102_444_800, tokenID: "abc")

    /// RFC 7515 appendix A.1: the HS256 example, key and signature given by the RFC.
    @Test func matchesRFC7515AppendixA1() throws {
        let key = try #require(
            Base64URL.decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"))
        let header = Base64URL.encode(Array("{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}".utf8))
        let payload = Base64URL.encode(Array("{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}".utf8))
        #expect(header == "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9")
        #expect(
            payload == "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ")
        let signature = Base64URL.encode(JWTSigner(key: key).signature(of: (header + "." + payload).utf8))
        #expect(signature == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    }

    @Test func verifiesWhatItSigns() throws {
        let token = Self.signer.sign(Self.claims)
        #expect(try Self.signer.verify(token) == Self.claims)
    }

    /// A hand-made token signed with the signer's own key, so only its claims are at fault.
    static func token(claims: String) -> String {
        let signingInput = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        return signingInput + "." + Base64URL.encode(signer.signature(of: signingInput.utf8))
    }

    @Test(arguments: [#""id": 7.5"#, #""id": "7.5""#, #""id": 1e30"#, #""id": true"#, #""sub": 8.5"#, #""sub": "7x""#, #""id": null, "sub": "7""#])
    func refusesAUserIDThatIsNotAWholeNumber(idClaims: String) {
        #expect(throws: TokenError.malformed("no user id")) { try Self.signer.verify(Self.token(claims: "{\(idClaims), \"exp\": 4102444800}")) }
    }

    @Test(arguments: [(#""id": 7"#, 7), (#""id": 7.0"#, 7), (#""sub": "7""#, 7), (#""id": 7, "sub": "8""#, 7)])
    func takesAWholeUserIDFromIdOrSub(idClaims: String, userID: Int) throws {
        #expect(try Self.signer.verify(Self.token(claims: "{\(idClaims), \"exp\": 4102444800}")).userID == userID)
    }

    /// RFC 7519: NumericDates are JSON numbers, `sub` a string; the predecessor's `id` is a number.
    @Test(arguments: [
        #""id": 7, "exp": "4102444800""#, #""id": 7, "exp": 4102444800, "nbf": "1""#, #""id": 7, "exp": 4102444800, "iat": "1""#,
        #""id": 7, "exp": true"#, #""id": 7, "exp": 4102444800, "nbf": null"#, #""id": "7", "exp": 4102444800"#,
        #""sub": 7, "exp": 4102444800"#,
    ])
    func refusesClaimsOfTheWrongType(claims: String) {
        #expect(throws: TokenError.self) { try Self.signer.verify(Self.token(claims: "{\(claims)}")) }
    }

    @Test func refusesATokenIssuedMoreThanTheAllowedSkewAhead() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let ahead = { (seconds: Int) in Self.token(claims: #"{"id": 7, "exp": 4102444800, "iat": \#(1_800_000_000 + seconds)}"#) }
        #expect(throws: TokenError.malformed("iat is in the future")) { try Self.signer.verify(ahead(5 * 365 * 86_400), now: now) }
        #expect(throws: TokenError.malformed("iat is in the future")) {
            try Self.signer.verify(ahead(JWTSigner.allowedClockSkewSeconds + 1), now: now)
        }
        #expect(try Self.signer.verify(ahead(JWTSigner.allowedClockSkewSeconds), now: now).issuedAt == 1_800_000_300)
    }

    @Test func takesFractionalNumericDates() throws {
        let claims = try Self.signer.verify(Self.token(claims: #"{"id": 7, "exp": 4102444800.5, "nbf": 1.5, "iat": 1700000000.25}"#))
        #expect(claims.expiresAt == 4_102_444_800)
        #expect(claims.notBefore == 1)
        #expect(claims.issuedAt == 1_700_000_000)
    }

    @Test func acceptsPyJWTTokensWithThePredecessorsClaims() throws {
        let fixtures = try PythonAuthFixtures.load()
        let claims = try JWTSigner(secret: fixtures.secret).verify(fixtures.tokens["valid"]!)
        #expect(claims.userID == 42)
        #expect(claims.name == "James Brown")
        #expect(claims.email == "james@example.com")
        #expect(claims.expiresAt == 4_102_444_800)
        #expect(claims.tokenID == nil)
    }

    @Test func refusesPyJWTTokensThatAreExpiredForeignOrEarly() throws {
        let fixtures = try PythonAuthFixtures.load()
        let signer = JWTSigner(secret: fixtures.secret)
        #expect(throws: TokenError.expired) { try signer.verify(fixtures.tokens["expired"]!) }
        #expect(throws: TokenError.unsupportedAlgorithm("HS512")) { try signer.verify(fixtures.tokens["hs512"]!) }
        #expect(throws: TokenError.badSignature) { try signer.verify(fixtures.tokens["wrongSecret"]!) }
        #expect(throws: TokenError.notYetValid) { try signer.verify(fixtures.tokens["notYetValid"]!) }
    }

    @Test(arguments: ["none", "None", "HS512", "RS256", "hs256"])
    func refusesEveryAlgorithmButHS256(algorithm: String) {
        let token = Self.signer.sign(Self.claims)
        let parts = token.split(separator: ".")
        let header = Base64URL.encode(Array(#"{"alg":"\#(algorithm)","typ":"JWT"}"#.utf8))
        let forged = [header, String(parts[1]), algorithm.lowercased() == "none" ? "" : String(parts[2])].joined(separator: ".")
        #expect(throws: TokenError.unsupportedAlgorithm(algorithm)) { try Self.signer.verify(forged) }
    }

    @Test func refusesATamperedPayload() {
        let token = Self.signer.sign(Self.claims)
        var parts = token.split(separator: ".").map(String.init)
        var forgedClaims = Self.claims
        forgedClaims.userID = 1
        parts[1] = Self.signer.sign(forgedClaims).split(separator: ".")[1].description
        #expect(throws: TokenError.badSignature) { try Self.signer.verify(parts.joined(separator: ".")) }
    }

    @Test(arguments: ["", "a.b", "a.b.c.d", "!!!.e30.abc", "eyJhbGciOiJIUzI1NiJ9.e30.a"])
    func refusesMalformedTokens(token: String) {
        #expect(throws: TokenError.self) { try Self.signer.verify(token) }
    }

    @Test func refusesATruncatedSignature() {
        let token = Self.signer.sign(Self.claims)
        #expect(throws: TokenError.badSignature) { try Self.signer.verify(String(token.dropLast(3))) }
    }

    @Test func refusesExpiredTokensAtTheSecondOfExpiry() {
        let token = Self.signer.sign(Self.claims)
        let expiry = Date(timeIntervalSince1970: TimeInterval(Self.claims.expiresAt))
        #expect(throws: TokenError.expired) { try Self.signer.verify(token, now: expiry) }
        #expect(throws: Never.self) { try Self.signer.verify(token, now: expiry.addingTimeInterval(-1)) }
    }

    @Test func base64URLRoundTripsAndRejectsNonCanonicalInput() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
        #expect(Base64URL.decode("QQ==") == nil)
        #expect(Base64URL.decode("QR") == nil)
        #expect(Base64URL.decode("Q") == nil)
    }
}

/// The tokens and hashes that `Tests/fixtures/make_fixtures.py` made with PyJWT, bcrypt and passlib.
struct PythonAuthFixtures: Decodable {
    let secret: String
    let tokens: [String: String]
    let password: String
    let hashes: [String: String]

    static func load() throws -> PythonAuthFixtures {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/python-auth.json")
        return try JSONDecoder().decode(PythonAuthFixtures.self, from: Data(contentsOf: url))
    }
}
