import Foundation

/// Whether an idle connection's socket has something to read. Between requests a PostgreSQL or Redis
/// connection has nothing to read; if it has, the server closed it (restarted, shut down) or said
/// goodbye. Checked before each use, so a stale connection is replaced before anything is sent on it,
/// and no statement is ever sent twice.
enum IdleSocket {
    static func hasPendingInput(_ socket: Int32) -> Bool {
        guard socket >= 0 else { return true }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) != 0
    }
}
