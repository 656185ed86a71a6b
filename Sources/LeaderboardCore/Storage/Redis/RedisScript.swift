import COpenSSL

/// A Lua script, called by its SHA1 so its text crosses the wire only when the server lacks it.
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let bytes = Array(source.utf8)
        EVP_Digest(bytes, bytes.count, &digest, &length, EVP_sha1(), nil)
        sha1 = digest.prefix(Int(length)).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }
}
