/// A store's error, which may be an outage: PostgreSQL's, Redis's and the board index's errors share
/// this, so a transport answers every store outage the same way ("retry later") and any other store
/// error as a bug.
public protocol StoreFailure: Error, CustomStringConvertible {
    /// The store cannot be used right now (unreachable, restarting, refusing writes), as opposed to the
    /// statement being wrong.
    var isUnavailable: Bool { get }
    /// Which store failed, in the store error metric and the logs.
    var store: Store { get }
}

/// The stores the service depends on.
public enum Store: String, Sendable {
    case postgres
    case redis

    /// The store as a client reads it in an answer.
    public var publicName: String {
        switch self {
        case .postgres: "the database"
        case .redis: "the leaderboard index"
        }
    }
}
