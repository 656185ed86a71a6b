import Foundation

/// Signup, login, token checks and logout, independent of any transport.
public final class AuthService {
    public struct Policy: Sendable {
        public var tokenLifetime: Duration
        public var maxLoginFailures: Int
        public var failureWindowSeconds: Int

        public init(tokenLifetime: Duration, maxLoginFailures: Int, failureWindowSeconds: Int) {
            self.tokenLifetime = tokenLifetime
            self.maxLoginFailures = maxLoginFailures
            self.failureWindowSeconds = failureWindowSeconds
        }
    }

    /// One address may fail this many times more than one e-mail may, since a NAT hides many players.
    static let addressFailureFactor = 5

    private let users: any UserStore
    private let ephemeral: any EphemeralStore
    private let revocations: any TokenRevocations
    private let signer: JWTSigner
    private let hasher: PasswordHasher
    private let policy: Policy
    private lazy var decoyHash = hasher.makeDecoyHash()

    public init(
        users: any UserStore, ephemeral: any EphemeralStore, revocations: any TokenRevocations, signer: JWTSigner, hasher: PasswordHasher,
        policy: Policy
    ) {
        self.users = users
        self.ephemeral = ephemeral
        self.revocations = revocations
        self.signer = signer
        self.hasher = hasher
        self.policy = policy
    }

    public func signup(name: String, email: String, password: String) throws -> User {
        let email = AccountValidation.email(email)
        let name = AccountValidation.name(name)
        let errors = [email.error, name.error, AccountValidation.newPassword(password)].compactMap { $0 }
        guard errors.isEmpty else { throw APIError.validation(errors) }
        guard let user = try users.createUser(name: name.value, email: email.value, passwordHash: hasher.hash(password)) else {
            throw APIError.conflict("an account with this e-mail already exists")
        }
        return user
    }

    /// The service as the daemons run it: secret, bcrypt cost and throttle limits from `config`.
    public convenience init(config: Config, users: any UserStore, ephemeral: any EphemeralStore, revocations: any TokenRevocations) {
        self.init(
            users: users, ephemeral: ephemeral, revocations: revocations, signer: JWTSigner(secret: config.secretKey),
            hasher: PasswordHasher(cost: config.bcryptCost),
            policy: .init(
                tokenLifetime: config.accessTokenLifetime, maxLoginFailures: config.loginMaxFailures,
                failureWindowSeconds: config.loginFailureWindowSeconds))
    }

    /// Checks the password and issues a token. Unknown e-mail and wrong password cost the same bcrypt
    /// work and give the same answer; repeated failures per e-mail and per address are throttled.
    public func login(email: String, password: String, clientAddress: String) throws -> (token: String, user: User) {
        let email = email.trimmingWhitespace()
        if email.isEmpty || password.isEmpty {
            throw APIError.validation(
                [email.isEmpty ? FieldError(field: "email", message: "must not be empty") : nil,
                 password.isEmpty ? FieldError(field: "password", message: "must not be empty") : nil].compactMap { $0 })
        }
        let emailKey = "login-fail:email:" + Crypto.hex(Crypto.sha256(Array(email.lowercased().utf8)))
        let addressKey = "login-fail:addr:" + clientAddress
        for (key, limit) in [(emailKey, policy.maxLoginFailures), (addressKey, policy.maxLoginFailures * Self.addressFailureFactor)] {
            let (failures, secondsLeft) = try ephemeral.counter(key)
            if failures >= limit { throw APIError.tooManyRequests(retryAfterSeconds: secondsLeft) }
        }
        let credentials = try users.credentials(email: email)
        let matches = hasher.verify(password, against: credentials?.passwordHash ?? decoyHash)
        guard let credentials, matches else {
            for key in [emailKey, addressKey] { _ = try ephemeral.increment(key, windowSeconds: policy.failureWindowSeconds) }
            throw APIError.unauthorized("incorrect e-mail or password")
        }
        try ephemeral.remove(emailKey)
        return (issueToken(for: credentials.user), credentials.user)
    }

    public func issueToken(for user: User, now: Date = Date()) -> String {
        let issuedAt = Int(now.timeIntervalSince1970)
        return signer.sign(
            AccessTokenClaims(
                userID: user.id, name: user.name, email: user.email, issuedAt: issuedAt,
                expiresAt: issuedAt + Int(policy.tokenLifetime.components.seconds),
                tokenID: Crypto.hex(Crypto.randomBytes(16))))
    }

    /// The claims of a valid, unrevoked token, or 401.
    public func authenticate(_ token: String?) throws -> AccessTokenClaims {
        guard let token, !token.isEmpty else { throw APIError.unauthorized() }
        let claims: AccessTokenClaims
        do {
            claims = try signer.verify(token)
        } catch .expired {
            throw APIError.unauthorized("token expired")
        } catch {
            throw APIError.unauthorized("invalid token")
        }
        if try revocations.isRevoked(Self.revocationKey(token: token, claims: claims)) {
            throw APIError.unauthorized("token revoked")
        }
        return claims
    }

    /// For public routes: nil without a token; a token that is sent is still checked (401 if it is
    /// forged, expired or revoked), so a client learns its session is gone.
    @discardableResult
    public func authenticateIfPresent(_ token: String?) throws -> AccessTokenClaims? {
        guard let token, !token.isEmpty else { return nil }
        return try authenticate(token)
    }

    /// Revokes the token until it would have expired anyway.
    public func logout(token: String, claims: AccessTokenClaims) throws {
        try revocations.revoke(Self.revocationKey(token: token, claims: claims), until: claims.expiresAt)
    }

    /// Tokens we issue carry a `jti`; the predecessor's do not, so those are revoked by their hash.
    public static func revocationKey(token: String, claims: AccessTokenClaims) -> String {
        claims.tokenID ?? "sha256:" + Crypto.hex(Crypto.sha256(Array(token.utf8)))
    }
}
