/// Tokens whose signature and claims were checked already, so the HMAC and the JSON parse run once per
/// token and process instead of on every request. The expiry is still checked on every use (the caller
/// does), and a revocation is never cached here: only what the token itself says.
///
/// Shared by the worker threads of a process (nginx hands a player's requests to any of them), behind a
/// lock held only for a dictionary lookup. Bounded: two generations of at most `generationSize` tokens;
/// when the newer one is full the older is dropped, so tokens in use stay (a hit in the older generation
/// moves to the newer) and the rest age out. Share one only between services with the same secret.
public final class VerifiedTokens: Sendable {
    private struct Generations {
        var newer: [String: VerifiedToken] = [:]
        var older: [String: VerifiedToken] = [:]
    }

    /// 2 × 8,192 tokens: some 10 MiB at most.
    public static let defaultGenerationSize = 8_192

    let generationSize: Int
    private let generations = Locked(Generations())

    public init(generationSize: Int = VerifiedTokens.defaultGenerationSize) {
        self.generationSize = generationSize
    }

    func entry(for token: String) -> VerifiedToken? {
        generations.withLock { generations in
            if let entry = generations.newer[token] { return entry }
            guard let entry = generations.older.removeValue(forKey: token) else { return nil }
            Self.insert(entry, for: token, into: &generations, generationSize: generationSize)
            return entry
        }
    }

    func insert(_ entry: VerifiedToken, for token: String) {
        generations.withLock { Self.insert(entry, for: token, into: &$0, generationSize: generationSize) }
    }

    private static func insert(_ entry: VerifiedToken, for token: String, into generations: inout Generations, generationSize: Int) {
        if generations.newer.count >= generationSize {
            generations.older = generations.newer
            generations.newer = [:]
            generations.newer.reserveCapacity(generationSize)
        }
        generations.newer[token] = entry
    }
}
