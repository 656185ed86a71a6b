/// The text of an API key: `lbk_` and 32 random bytes in base64url (47 characters). A JWT starts with its base64url
/// header (`eyJ`), so the marker tells the two apart without trying either.
public enum ApiKeySecret {
    public static let marker = "lbk_"
    static let randomByteCount = 32
    /// `lbk_` and 8 characters: what lists show of a key.
    static let prefixLength = 12
    /// The marker and the base64url of 32 bytes, without padding.
    static let length = 4 + 43

    /// A new key from the system's random generator.
    static func make() -> String { marker + Base64URL.encode(Crypto.randomBytes(randomByteCount)) }

    /// Whether a bearer credential is meant as an API key rather than an access token.
    public static func isKey(_ credential: String) -> Bool { credential.hasPrefix(marker) }

    /// Whether `key` has the shape `make` gives, so nothing else is looked up.
    static func isWellFormed(_ key: String) -> Bool {
        key.utf8.count == length && isKey(key) && Base64URL.decode(key.dropFirst(marker.count))?.count == randomByteCount
    }

    /// What is stored and looked up: the key's SHA-256 in hex.
    static func hash(_ key: String) -> String { Crypto.hex(Crypto.sha256(Array(key.utf8))) }

    static func prefix(of key: String) -> String { String(key.prefix(prefixLength)) }
}
