/// Tokens whose signature and claims were checked already, so the HMAC and the JSON parse run once per
/// token and process instead of on every request. The expiry is still checked on every use (the caller
/// does), and a revocation is never cached here: only what the token itself says.
///
/// Shared by the worker threads of a process (nginx hands a player's requests to any of them) and bounded:
/// see `GenerationalCache`. Share one only between services with the same secret.
public final class VerifiedTokens: Sendable {
    /// 2 × 8,192 tokens: some 10 MiB at most.
    public static let defaultGenerationSize = 8_192

    private let cache: GenerationalCache<String, VerifiedToken>

    public init(generationSize: Int = VerifiedTokens.defaultGenerationSize) {
        cache = GenerationalCache(generationSize: generationSize)
    }

    func entry(for token: String) -> VerifiedToken? { cache.value(for: token) }

    func insert(_ entry: VerifiedToken, for token: String) { cache.insert(entry, for: token) }
}
