import Foundation

/// Signup, login, refresh, token checks and logout, independent of any transport.
public final class AuthService {
    public struct Policy: Sendable {
        public var tokenLifetime: Duration
        public var refreshTokenLifetime: Duration
        public var maxLoginFailures: Int
        public var failureWindowSeconds: Int
        public var maxSignupsPerAddress: Int
        public var signupWindowSeconds: Int

        public init(
            tokenLifetime: Duration, refreshTokenLifetime: Duration = .seconds(30 * 86_400), maxLoginFailures: Int, failureWindowSeconds: Int,
            maxSignupsPerAddress: Int, signupWindowSeconds: Int
        ) {
            self.tokenLifetime = tokenLifetime
            self.refreshTokenLifetime = refreshTokenLifetime
            self.maxLoginFailures = maxLoginFailures
            self.failureWindowSeconds = failureWindowSeconds
            self.maxSignupsPerAddress = maxSignupsPerAddress
            self.signupWindowSeconds = signupWindowSeconds
        }
    }

    /// One address may fail this many times more than one e-mail may, since a NAT hides many players.
    static let addressFailureFactor = 5

    private let users: any UserStore
    private let ephemeral: any EphemeralStore
    private let revocations: any TokenRevocations
    private let refreshTokens: any RefreshTokenStore
    private let signer: JWTSigner
    private let passwords: PasswordWork
    private let policy: Policy
    private let verifiedTokens: VerifiedTokens

    /// `passwords` and `verifiedTokens`: one each for every service of the process (they share the secret), so
    /// hashing is bounded process-wide and a token is verified once whichever worker it reaches first.
    public init(
        users: any UserStore, ephemeral: any EphemeralStore, revocations: any TokenRevocations, refreshTokens: any RefreshTokenStore,
        signer: JWTSigner, passwords: PasswordWork, policy: Policy, verifiedTokens: VerifiedTokens = VerifiedTokens()
    ) {
        self.users = users
        self.ephemeral = ephemeral
        self.revocations = revocations
        self.refreshTokens = refreshTokens
        self.signer = signer
        self.passwords = passwords
        self.policy = policy
        self.verifiedTokens = verifiedTokens
    }

    /// Creates an account; an address may sign up `maxSignupsPerAddress` times per window (each costs a hash;
    /// signups hashing at the same moment may pass the limit by the few the hashing bound lets run).
    public func signup(name: String, email: String, password: String, clientAddress: String) throws -> User {
        let email = AccountValidation.email(email)
        let name = AccountValidation.name(name)
        let errors = [email.error, name.error, AccountValidation.newPassword(password)].compactMap { $0 }
        guard errors.isEmpty else { throw ServiceError.validation(errors) }
        let addressKey = RedisKeys.signups(fromAddress: ClientNetwork.of(clientAddress))
        let signups = try ephemeral.counter(addressKey)
        if signups.value >= policy.maxSignupsPerAddress { throw ServiceError.rateLimited(retryAfterSeconds: signups.secondsLeft) }
        let passwordHash = try passwords.hash(password)
        // Counted once hashed: a signup refused for want of a hashing slot costs its address nothing.
        _ = try ephemeral.increment([addressKey], windowSeconds: policy.signupWindowSeconds)
        guard let user = try users.createUser(name: name.value, email: email.value, passwordHash: passwordHash) else {
            throw ServiceError.conflict("an account with this e-mail already exists")
        }
        return user
    }

    /// The service as the daemons run it: secret, bcrypt cost and throttle limits from `config`.
    public convenience init(
        config: Config, users: any UserStore, ephemeral: any EphemeralStore, revocations: any TokenRevocations,
        refreshTokens: any RefreshTokenStore, passwords: PasswordWork, verifiedTokens: VerifiedTokens = VerifiedTokens()
    ) {
        self.init(
            users: users, ephemeral: ephemeral, revocations: revocations, refreshTokens: refreshTokens,
            signer: JWTSigner(secret: config.secretKey), passwords: passwords,
            policy: .init(
                tokenLifetime: config.accessTokenLifetime, refreshTokenLifetime: config.refreshTokenLifetime,
                maxLoginFailures: config.loginMaxFailures,
                failureWindowSeconds: config.loginFailureWindowSeconds, maxSignupsPerAddress: config.signupMaxPerAddress,
                signupWindowSeconds: config.signupWindowSeconds),
            verifiedTokens: verifiedTokens)
    }

    /// Checks the password and issues an access token and the first refresh token of a new session. Unknown e-mail and wrong password cost the same bcrypt
    /// work and give the same answer; so does a password signup would refuse (over bcrypt's 72 bytes, or
    /// with a NUL), which bcrypt would otherwise compare cut short.
    ///
    /// Guessing is throttled without letting anyone lock out the owner: an address that failed
    /// `maxLoginFailures` times for an e-mail is refused for it; once an e-mail has failed that often from
    /// any addresses, an address that has failed for it at all is refused too (a spread-out guesser gets one
    /// guess per address and window), while one that has not still logs in; and an address that failed five
    /// times as often for any e-mails is refused. A success clears its address's and the e-mail's count.
    public func login(email: String, password: String, clientAddress: String) throws -> SignedIn {
        let email = email.trimmingWhitespace()
        if email.isEmpty || password.isEmpty {
            throw ServiceError.validation(
                [
                    email.isEmpty ? FieldError(field: "email", message: "must not be empty") : nil,
                    password.isEmpty ? FieldError(field: "password", message: "must not be empty") : nil,
                ].compactMap { $0 })
        }
        let emailHash = Crypto.hex(Crypto.sha256(Array(email.lowercased().utf8)))
        let emailKey = RedisKeys.loginFailures(emailHash: emailHash)
        let client = ClientNetwork.of(clientAddress)
        let pairKey = RedisKeys.loginFailures(emailHash: emailHash, address: client)
        let addressKey = RedisKeys.loginFailures(fromAddress: client)
        let pair = try ephemeral.counter(pairKey)
        let address = try ephemeral.counter(addressKey)
        if pair.value >= policy.maxLoginFailures { throw ServiceError.rateLimited(retryAfterSeconds: pair.secondsLeft) }
        if address.value >= policy.maxLoginFailures * Self.addressFailureFactor {
            throw ServiceError.rateLimited(retryAfterSeconds: address.secondsLeft)
        }
        if pair.value > 0, try ephemeral.counter(emailKey).value >= policy.maxLoginFailures {
            throw ServiceError.rateLimited(retryAfterSeconds: pair.secondsLeft)
        }
        let credentials = try users.credentials(email: email)
        let comparable = password.utf8.count <= PasswordHasher.maximumBytes && !password.utf8.contains(0)
        let matches = try passwords.verify(password, against: credentials?.passwordHash)
        guard let credentials, matches, comparable else {
            _ = try ephemeral.increment([pairKey, emailKey, addressKey], windowSeconds: policy.failureWindowSeconds)
            throw ServiceError.unauthorized("incorrect e-mail or password")
        }
        try ephemeral.remove(pairKey)
        try ephemeral.remove(emailKey)
        // Only once the password matched: a banned account is told so, and no one else learns it.
        let session = Crypto.hex(Crypto.randomBytes(16))
        let refreshToken = RefreshTokenSecret.make()
        guard
            try refreshTokens.startFamily(
                session, userId: credentials.user.id, tokenHash: RefreshTokenSecret.hash(refreshToken)!, expiresAt: refreshExpiry())
        else { throw ServiceError.forbidden("this account is banned") }
        let token = try issueRecordedToken(for: credentials.user, session: session)
        return SignedIn(token: token, refreshToken: refreshToken, user: credentials.user)
    }

    /// Spends a refresh token for a new access token and the session's next refresh token (rotation). A token spent
    /// already revokes its session (someone else holds a copy): unauthorized, as for an unknown, expired or revoked one.
    public func refresh(_ refreshToken: String?) throws -> SignedIn {
        guard let refreshToken, !refreshToken.isEmpty else { throw ServiceError.unauthorized("refresh token required") }
        guard let hash = RefreshTokenSecret.hash(refreshToken) else { throw ServiceError.unauthorized("invalid refresh token") }
        let successor = RefreshTokenSecret.make()
        switch try refreshTokens.rotate(tokenHash: hash, successorHash: RefreshTokenSecret.hash(successor)!, expiresAt: refreshExpiry()) {
        case .rotated(let user, let session):
            let token = try issueRecordedToken(for: user, session: session)
            return SignedIn(token: token, refreshToken: successor, user: user)
        case .unknown: throw ServiceError.unauthorized("invalid refresh token")
        case .expired: throw ServiceError.unauthorized("refresh token expired")
        case .revoked: throw ServiceError.unauthorized("session revoked")
        case .reused: throw ServiceError.unauthorized("refresh token already used; the session is revoked")
        }
    }

    /// An access token recorded for the player, so a ban revokes it; forbidden when the player is banned.
    private func issueRecordedToken(for user: User, session: String) throws -> String {
        let claims = claims(for: user, session: session)
        let token = signer.sign(claims)
        guard try users.recordToken(Self.revocationKey(token: token, claims: claims), userId: claims.userID, expiresAt: claims.expiresAt)
        else { throw ServiceError.forbidden("this account is banned") }
        return token
    }

    private func refreshExpiry() -> Int {
        Int(Date().timeIntervalSince1970) + Int(policy.refreshTokenLifetime.components.seconds)
    }

    public func issueToken(for user: User, now: Date = Date()) -> String {
        signer.sign(claims(for: user, now: now))
    }

    private func claims(for user: User, session: String? = nil, now: Date = Date()) -> AccessTokenClaims {
        let issuedAt = Int(now.timeIntervalSince1970)
        return AccessTokenClaims(
            userID: user.id, name: user.name, email: user.email, issuedAt: issuedAt,
            expiresAt: issuedAt + Int(policy.tokenLifetime.components.seconds), tokenID: Crypto.hex(Crypto.randomBytes(16)),
            sessionID: session)
    }

    /// The account of a valid, unrevoked token whose role, read now, is admin: unauthorized without such a token (or
    /// when its account is gone), forbidden for a player.
    public func administrator(_ token: String?) throws -> Account {
        let claims = try authenticate(token)
        guard let account = try users.account(id: claims.userID) else { throw ServiceError.unauthorized("account no longer exists") }
        guard account.role == .admin else { throw ServiceError.forbidden("only administrators may do this") }
        return account
    }

    /// The claims of a valid, unrevoked token, or unauthorized.
    public func authenticate(_ token: String?) throws -> AccessTokenClaims {
        let verified = try verify(token)
        if try revocations.isRevoked(verified.revocationKey) {
            throw ServiceError.unauthorized("token revoked")
        }
        return verified.claims
    }

    /// A token whose signature and expiry hold, or unauthorized; whether it was revoked is not checked yet (see
    /// `whileNotRevoked`). The signature and claims are checked once per token (`VerifiedTokens`), the
    /// expiry on every call.
    public func verify(_ token: String?, now: Date = Date()) throws(ServiceError) -> VerifiedToken {
        guard let token, !token.isEmpty else { throw .unauthorized() }
        if let verified = verifiedTokens.entry(for: token) {
            guard Int(now.timeIntervalSince1970) < verified.claims.expiresAt else { throw .unauthorized("token expired") }
            return verified
        }
        let claims: AccessTokenClaims
        do {
            claims = try signer.verify(token, now: now)
        } catch .expired {
            throw .unauthorized("token expired")
        } catch {
            throw .unauthorized("invalid token")
        }
        let verified = VerifiedToken(claims: claims, revocationKey: Self.revocationKey(token: token, claims: claims))
        verifiedTokens.insert(verified, for: token)
        return verified
    }

    /// Answers a request whose token (if any) was only verified, in `read`, which checks the revocation itself
    /// in the round trip that does its work: the board scripts take the revocation key and refuse a revoked
    /// one (`IndexError.tokenRevoked`), trusting the Redis cache only while it is complete, as `RevocationList`
    /// does (`IndexError.revocationsNotCached` otherwise, and PostgreSQL answers); a score's insert asks PostgreSQL in the same statement.
    ///
    /// When `read` fails otherwise (a bad parameter, the index being rebuilt, a store down), its check may
    /// not have run, so `revocations` answers before the error is passed on: a revoked token is unauthorized
    /// whatever else is wrong, as with `authenticate`.
    public func whileNotRevoked<Result>(_ token: VerifiedToken?, _ read: (_ revocationKey: String?) throws -> Result) throws -> Result {
        do {
            return try read(token?.revocationKey)
        } catch IndexError.tokenRevoked {
            throw ServiceError.unauthorized("token revoked")
        } catch IndexError.revocationsNotCached {
            // The cache could not vouch for the token: PostgreSQL does, and the read goes on without the check.
            if let token, try revocations.isRevoked(token.revocationKey) { throw ServiceError.unauthorized("token revoked") }
            return try read(nil)
        } catch ServiceError.unauthorized(let reason) {
            // The read's own check refused the caller (a score's insert found the token revoked): asking
            // again would only repeat it.
            throw ServiceError.unauthorized(reason)
        } catch {
            if let token, try revocations.isRevoked(token.revocationKey) { throw ServiceError.unauthorized("token revoked") }
            throw error
        }
    }

    /// For public routes: nil without a token; a token that is sent is still checked (unauthorized if it is
    /// forged, expired or revoked), so a client learns its session is gone.
    @discardableResult
    public func authenticateIfPresent(_ token: String?) throws -> AccessTokenClaims? {
        guard let token, !token.isEmpty else { return nil }
        return try authenticate(token)
    }

    /// `verify` for public routes: nil without a token; a token that is sent must hold (unauthorized if not), and
    /// `whileNotRevoked` checks its revocation.
    public func verifyIfPresent(_ token: String?) throws(ServiceError) -> VerifiedToken? {
        guard let token, !token.isEmpty else { return nil }
        return try verify(token)
    }

    /// Revokes the token until it would have expired anyway, and its session: the session's refresh tokens stop working.
    public func logout(token: String, claims: AccessTokenClaims) throws {
        try revocations.revoke(Self.revocationKey(token: token, claims: claims), until: claims.expiresAt)
        if let session = claims.sessionID { try refreshTokens.revokeFamily(session, reason: "logout") }
    }

    /// Tokens we issue carry a `jti`; the predecessor's do not, so those are revoked by their hash.
    public static func revocationKey(token: String, claims: AccessTokenClaims) -> String {
        claims.tokenID ?? "sha256:" + Crypto.hex(Crypto.sha256(Array(token.utf8)))
    }
}

/// What a login or a refresh hands the client: an access token, the session's next refresh token, and the account.
public struct SignedIn: Sendable {
    public let token: String
    public let refreshToken: String
    public let user: User
}

/// A token whose signature and expiry were checked, with the key its revocation would be recorded under.
public struct VerifiedToken: Sendable {
    public let claims: AccessTokenClaims
    public let revocationKey: String
}
