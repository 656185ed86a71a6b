/// A failure talking to PostgreSQL, with the server's own message and SQLSTATE when it sent one.
public enum PostgresError: StoreFailure, Sendable {
    public var store: Store { .postgres }

    /// The server could not be reached or refused us (wrong password, no such database, ...).
    case connectionFailed(message: String)
    /// The connection broke while a statement was in flight; its outcome is unknown.
    case connectionLost(message: String)
    /// The server rejected the statement.
    case server(sqlState: String, message: String, detail: String?, constraint: String?)
    /// The result did not have the shape the caller expected (a missing column, a non-number).
    case unexpectedResult(String)
    /// Parameter `position` (1-based, as `$1`) holds a NUL, which PostgreSQL's text cannot: a value that validation
    /// should have refused, so nothing was sent (libpq would have cut the value short at it).
    case parameterHoldsNUL(position: Int)

    public var sqlState: String? {
        if case .server(let sqlState, _, _, _) = self { return sqlState }
        return nil
    }

    /// SQLSTATE 23505: an insert or update hit a unique index.
    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// SQLSTATE 25006: a write reached a server that takes none, a standby or a former primary demoted.
    public var isReadOnlyServer: Bool { sqlState == "25006" }

    /// The store is unavailable, as opposed to the statement being wrong.
    public var isUnavailable: Bool {
        switch self {
        case .connectionFailed, .connectionLost: true
        // Class 57: operator intervention (admin shutdown, cannot connect now); class 08: connection exception;
        // 25006: a read-only server, until the connection finds the new primary.
        case .server(let sqlState, _, _, _): sqlState.hasPrefix("57") || sqlState.hasPrefix("08") || sqlState == "25006"
        case .unexpectedResult, .parameterHoldsNUL: false
        }
    }

    public var description: String {
        switch self {
        case .connectionFailed(let message): "postgres: connection failed: \(message)"
        case .connectionLost(let message): "postgres: connection lost: \(message)"
        case .server(let sqlState, let message, _, _): "postgres: \(sqlState): \(message)"
        case .unexpectedResult(let message): "postgres: unexpected result: \(message)"
        case .parameterHoldsNUL(let position): "postgres: parameter $\(position) holds a NUL character; not sent"
        }
    }
}
