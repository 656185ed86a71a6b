import COpenSSL
import FastCGIPool
import Foundation
import LeaderboardAPI
import LeaderboardCore

/// What the fuzzers feed: the parsers that take bytes straight from a client. A crash, a trap or a
/// sanitizer report is a finding; every other outcome (a thrown error included) is fine.
///
/// Built in every build (so these compile and the regression tests in Tests/fuzz run them); the
/// libFuzzer executables in Fuzz/ that call them exist only with LEADERBOARD_FUZZ=1 (`make fuzz`).
public enum FuzzTargets {
    /// A request body as the REST routes and the WebSocket messages read it: the strict parser, then every accessor
    /// the routes use.
    public static func json(_ bytes: [UInt8]) {
        for depth in [1, 4, 16] {
            guard var fields = try? JSONFields.parse(bytes, maximumDepth: depth) else { continue }
            _ = fields.string("game", "gameChannel")
            _ = fields.integer("score")
            _ = fields.string("email")
            _ = fields.integer("start")
            _ = fields.names
            _ = fields.contains("date")
            try? fields.validate()
        }
        // The same bytes as a request body through the content-type check.
        let request = HTTPRequest(method: "POST", path: "/", headers: ["Content-Type": "application/json"], body: bytes)
        _ = try? request.jsonFields()
    }

    static let secret = "a fuzzing secret that is long enough for HS256"
    static let signer = JWTSigner(secret: secret)

    /// Tokens: the bytes as a token, and the bytes as the payload of a correctly signed token (so the
    /// claims parsing behind the signature check is reached). A token the signer makes from claims
    /// taken from the bytes must verify to those claims.
    public static func jwt(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? signer.verify(text)
        _ = try? signer.verify(text, now: Date(timeIntervalSince1970: 0))

        let header = base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let signingInput = header + "." + base64URL(bytes)
        let signed = signingInput + "." + base64URL(hmacSHA256(Array(signingInput.utf8)))
        _ = try? signer.verify(signed, now: Date(timeIntervalSince1970: 0))

        let parts = text.split(separator: "\u{0}", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        let seed = bytes.prefix(8).reduce(0) { $0 &* 31 &+ Int($1) }
        let claims = AccessTokenClaims(
            userID: max(1, abs(seed % 1_000_000_000)), name: parts.first ?? "", email: parts.count > 1 ? parts[1] : "",
            issuedAt: seed % 2 == 0 ? nil : 1_700_000_000, expiresAt: 4_102_444_800, tokenID: parts.count > 2 ? parts[2] : nil)
        let token = signer.sign(claims)
        guard let verified = try? signer.verify(token) else { preconditionFailure("a token we signed does not verify: \(token)") }
        precondition(verified == claims, "a token we signed verifies to other claims: \(verified) != \(claims)")
    }

    /// HMAC-SHA256 with the fuzzing secret, by OpenSSL directly rather than by the code under test.
    static func hmacSHA256(_ message: [UInt8]) -> [UInt8] {
        let key = Array(secret.utf8)
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = HMAC(EVP_sha256(), key, Int32(key.count), message, message.count, &output, &length)
        return Array(output.prefix(Int(length)))
    }

    /// Base64url without padding, written here so that the fuzzer does not trust the code it tests.
    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
