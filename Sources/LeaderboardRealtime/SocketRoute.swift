/// The WebSocket endpoints, with the predecessor's paths.
public enum SocketRoute: String, Sendable, CaseIterable {
    /// Says welcome, then echoes: a liveness check that needs no account.
    case welcome = "/ws/v1"
    case scores = "/ws/v1/scores"
    case myScore = "/ws/v1/my-score"
    case addScore = "/ws/v1/add-score"
    case reports = "/ws/v1/reports"

    /// The route of a request URI, ignoring the query and trailing slashes.
    public init?(uri: String) {
        var path = Substring(uri.prefix { $0 != "?" })
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        self.init(rawValue: String(path))
    }

    /// A player's own standing and submissions; the welcome, the boards and the reports serve anonymous clients too.
    var needsAccount: Bool { self == .myScore || self == .addScore }
}
