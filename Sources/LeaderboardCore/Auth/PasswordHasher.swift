import CCrypt
import Foundation

/// bcrypt through libcrypt: new hashes are `$2b$` at the configured cost; `$2a$`, `$2b$` and `$2y$`
/// hashes made elsewhere (Python's bcrypt, passlib) verify.
public struct PasswordHasher: Sendable {
    /// bcrypt reads at most 72 bytes; longer passwords would be silently truncated, so they are refused.
    public static let maximumBytes = 72
    public static let minimumBytes = 8

    public let cost: Int

    public init(cost: Int) {
        self.cost = cost
    }

    public func hash(_ password: String) -> String {
        var setting = [CChar](repeating: 0, count: 64)
        guard crypt_gensalt_rn("$2b$", UInt(cost), nil, 0, &setting, Int32(setting.count)) != nil else {
            fatalError("crypt_gensalt_rn failed for cost \(cost), errno \(errno)")
        }
        guard let hashed = Self.crypt(password, setting: String(decoding: setting.prefix { $0 != 0 }.map(UInt8.init), as: UTF8.self)),
            hashed.hasPrefix("$2b$")
        else {
            fatalError("bcrypt is unavailable in libcrypt")
        }
        return hashed
    }

    public func verify(_ password: String, against storedHash: String) -> Bool {
        guard let computed = Self.crypt(password, setting: storedHash) else { return false }
        return Crypto.constantTimeEquals(Array(computed.utf8), Array(storedHash.utf8))
    }

    /// A hash of a random password at this cost, to verify against when an e-mail is unknown, so that
    /// answering "no such user" costs the same time as a wrong password.
    public func makeDecoyHash() -> String {
        hash(Crypto.hex(Crypto.randomBytes(16)))
    }

    private static func crypt(_ password: String, setting: String) -> String? {
        // crypt_data is 32 KiB: too big for a thread's stack budget, so it lives on the heap, zeroed.
        let data = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<crypt_data>.size, alignment: MemoryLayout<crypt_data>.alignment)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<crypt_data>.size)
        defer { data.deallocate() }
        guard let result = crypt_r(password, setting, data.assumingMemoryBound(to: crypt_data.self)) else { return nil }
        let text = String(cString: result)
        // libcrypt signals failure with "*0" or "*1" rather than NULL.
        return text.hasPrefix("*") ? nil : text
    }
}
