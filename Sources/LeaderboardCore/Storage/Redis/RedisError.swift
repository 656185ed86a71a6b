/// A failure talking to Redis.
public enum RedisError: StoreFailure, Sendable {
    public var store: Store { .redis }

    /// The server could not be reached, or refused AUTH/SELECT.
    case connectionFailed(message: String)
    /// The connection broke (server gone, timeout); the command's outcome is unknown.
    case connectionLost(message: String)
    /// The server answered with an error reply, such as `WRONGTYPE ...` or `NOSCRIPT ...`.
    case server(message: String)
    /// A reply did not have the shape the caller expected.
    case unexpectedReply(String)

    public var isUnavailable: Bool {
        switch self {
        case .connectionFailed, .connectionLost: true
        // A server still loading its dataset, failing to persist or refusing writes (out of memory, a
        // read-only replica) is unavailable, not wrong.
        case .server(let message):
            ["LOADING", "MISCONF", "BUSY", "OOM", "READONLY"].contains { message.hasPrefix($0) }
        case .unexpectedReply: false
        }
    }

    public var description: String {
        switch self {
        case .connectionFailed(let message): "redis: connection failed: \(message)"
        case .connectionLost(let message): "redis: connection lost: \(message)"
        case .server(let message): "redis: \(message)"
        case .unexpectedReply(let message): "redis: unexpected reply: \(message)"
        }
    }
}
