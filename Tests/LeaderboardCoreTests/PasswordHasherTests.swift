import Testing

@testable import LeaderboardCore

@Suite struct PasswordHasherTests {
    let hasher = PasswordHasher(cost: 4)

    @Test func hashesAsBcrypt2bAtTheConfiguredCostAndVerifies() {
        let hash = hasher.hash("open sesame 1")
        #expect(hash.hasPrefix("$2b$04$"))
        #expect(hash.count == 60)
        #expect(hasher.verify("open sesame 1", against: hash))
        #expect(!hasher.verify("open sesame 2", against: hash))
        #expect(hasher.hash("open sesame 1") != hash, "each hash has its own salt")
    }

    @Test(arguments: ["bcrypt2b", "bcrypt2a", "passlib2b", "passlib2a", "passlib2y"])
    func verifiesHashesMadeByPython(kind: String) throws {
        let fixtures = try PythonAuthFixtures.load()
        let hash = try #require(fixtures.hashes[kind])
        #expect(hasher.verify(fixtures.password, against: hash))
        #expect(!hasher.verify(fixtures.password + "!", against: hash))
    }

    @Test func verifiesTheDemoPassword() throws {
        let fixtures = try PythonAuthFixtures.load()
        #expect(hasher.verify("123456", against: try #require(fixtures.hashes["demo123456"])))
    }

    @Test(arguments: ["", "*0", "$1$abc$def", "not a hash", "$2b$04$short"])
    func refusesGarbageHashes(hash: String) {
        #expect(!hasher.verify("anything", against: hash))
    }

    @Test func passwordRulesFollowBcryptsLimits() {
        #expect(AccountValidation.newPassword("1234567") != nil)
        #expect(AccountValidation.newPassword("12345678") == nil)
        #expect(AccountValidation.newPassword(String(repeating: "a", count: 72)) == nil)
        #expect(AccountValidation.newPassword(String(repeating: "a", count: 73))?.field == "password")
        #expect(AccountValidation.newPassword(String(repeating: "é", count: 37)) != nil, "74 bytes, though 37 characters")
        #expect(AccountValidation.newPassword("abc\u{0}defgh") != nil)
    }

    @Test func emailsAreTrimmedAndChecked() {
        #expect(AccountValidation.email("  Ann@Example.com ").value == "Ann@Example.com")
        #expect(AccountValidation.email("ann@example.com").error == nil)
        for bad in ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@@example.com", "ann@.com"] {
            #expect(AccountValidation.email(bad).error != nil, "\(bad)")
        }
    }
}
