import NIOConcurrencyHelpers

/// The open sockets of each account in this daemon, held to `WS_MAX_SOCKETS_PER_ACCOUNT`: one token, stolen
/// or scripted, cannot take a share of the daemon's connections that thousands of players need.
final class AccountSockets: Sendable {
    let limit: Int
    private let counts = NIOLockedValueBox<[Int: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts one more socket of the account, unless it has `limit` open already: then false, and nothing counted.
    func claim(userID: Int) -> Bool {
        counts.withLockedValue { counts in
            let open = counts[userID, default: 0]
            guard open < limit else { return false }
            counts[userID] = open + 1
            return true
        }
    }

    /// One socket of the account closed.
    func release(userID: Int) {
        counts.withLockedValue { counts in
            let open = counts[userID, default: 0] - 1
            counts[userID] = open > 0 ? open : nil
        }
    }
}
