/// Where API keys are kept (by hash), changed together with their audit entries.
public protocol ApiKeyStore {
    /// Stores a new key and the audit entry `audit` makes of its id, in one transaction.
    func insert(name: String, prefix: String, hash: String, games: [String]?, createdBy: String, audit: (Int) -> AuditEntry) throws -> ApiKey
    /// Every key, revoked ones too, newest first.
    func keys() throws -> [ApiKey]
    /// Revokes the key, with its audit entry in the same transaction; a key revoked already stays as it is, with no new
    /// entry. Nil when there is no such key.
    func revoke(id: Int, audit: AuditEntry) throws -> ApiKey?
    /// The key with this hash as stored now, its last use noted (at most once a minute); nil when none has it.
    func key(hash: String) throws -> ApiKey?
    /// The player a key submits for: their name, and whether they are banned; nil when there is no such account.
    func player(id: Int) throws -> (name: String, isBanned: Bool)?
}
