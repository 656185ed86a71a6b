import Testing

@testable import LeaderboardCore

/// Key names are shared with processes of other versions (a rolling deploy runs old and new daemons over one
/// Redis) and with operators' tools: they must not change by accident.
@Suite struct RedisKeysTests {
    @Test func theIndexKeysAreNamedAsBefore() {
        #expect(RedisKeys.generation == "lb:meta:gen:v2")
        #expect(RedisKeys.generationCounter == "lb:meta:gen-counter")
        #expect(RedisKeys.generationPrefix(12) == "lb:12:")
        #expect(RedisKeys.watermark(generation: 12) == "lb:12:watermark")
        #expect(RedisKeys.appliedShard(3, generation: 12) == "lb:12:applied:3")
        #expect(RedisKeys.boardVersion(game: "cod", period: "d:2026-12-04") == "lb:ver:cod:d:2026-12-04")
        #expect(RedisKeys.namesVersion == "lb:ver:names")
        #expect(RedisKeys.versionCounter == "lb:meta:version-counter")
        #expect(RedisKeys.eventsChannel == "lb:events")
        #expect(RedisKeys.reconcilerLease == "lb:meta:reconciler")
    }

    @Test func theAccountKeysAreNamedAsBefore() {
        #expect(RedisKeys.revokedToken("jti-1") == "lb:revoked:jti-1")
        #expect(RedisKeys.revocationsCached == "lb:meta:revocations-cached")
        #expect(RedisKeys.revocationsReload == "lb:meta:revocations-reload")
        #expect(RedisKeys.ephemeralPrefix + RedisKeys.signups(fromAddress: "10.0.0.1") == "lb:tmp:signup:addr:10.0.0.1")
        #expect(RedisKeys.loginFailures(emailHash: "ab") == "login-fail:email:ab")
        #expect(RedisKeys.loginFailures(emailHash: "ab", address: "::1") == "login-fail:pair:ab:::1")
        #expect(RedisKeys.loginFailures(fromAddress: "::1") == "login-fail:addr:::1")
        #expect(RedisKeys.idempotentAnswer(userId: 7, keyHash: "ff") == "idem:7:ff")
        #expect(RedisKeys.healthProbe == "lb:tmp:health")
    }

    /// Every script that reads or writes a generation finds it, and answers NOINDEX without one, the same way.
    @Test(arguments: [BoardScripts.apply, BoardScripts.page, BoardScripts.standing, BoardScripts.topOfBoards])
    func everyBoardScriptStartsWithTheGenerationPrelude(script: RedisScript) {
        #expect(script.source.hasPrefix(BoardScripts.generationPrelude))
        #expect(script.source.components(separatedBy: RedisKeys.generation).count == 2, "the generation is read once, by the prelude")
    }
}
