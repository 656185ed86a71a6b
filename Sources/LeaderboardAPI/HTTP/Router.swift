import FastCGIPool
import LeaderboardCore

/// Matches method and path to a handler. Patterns are literal segments and `{name}` parameters;
/// a trailing slash on either side is ignored, as the predecessor's `/games/` and `/games` both worked.
public struct Router<Context>: Sendable {
    public typealias Handler = @Sendable (HTTPRequest, PathParameters, Context) throws -> HTTPResponse
    /// The outcome of a `LaterHandler`'s work: a response, or the error to answer.
    public typealias Answer = @Sendable (Result<HTTPResponse, any Error>) -> Void
    /// A handler whose response waits on work done elsewhere: unless it throws, it calls its `Answer` once, from any thread.
    public typealias LaterHandler = @Sendable (HTTPRequest, PathParameters, Context, @escaping Answer) throws -> Void

    /// How a route answers: before its handler returns, or later.
    public enum Action: Sendable {
        case now(Handler)
        case later(LaterHandler)
    }

    struct Route: Sendable {
        let method: String
        let pattern: String
        let segments: [Segment]
        let action: Action
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public enum Match {
        /// The handler, the path's parameters, and the route's pattern (a label with few values, for metrics).
        case found(Action, PathParameters, pattern: String)
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    private var routes: [Route] = []

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        add(method, pattern, action: .now(handler))
    }

    public mutating func addLater(_ method: String, _ pattern: String, _ handler: @escaping LaterHandler) {
        add(method, pattern, action: .later(handler))
    }

    private mutating func add(_ method: String, _ pattern: String, action: Action) {
        let segments = Self.segments(of: pattern).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? Segment.parameter(String(segment.dropFirst().dropLast())) : .literal(segment)
        }
        routes.append(Route(method: method, pattern: pattern, segments: segments, action: action))
    }

    public func match(method: String, path: String) -> Match {
        let parts = Self.segments(of: path)
        var allowed: [String] = []
        for route in routes {
            guard let parameters = Self.bind(route.segments, to: parts) else { continue }
            if route.method == method { return .found(route.action, parameters, pattern: route.pattern) }
            allowed.append(route.method)
        }
        if allowed.isEmpty { return .notFound }
        // HEAD is served wherever GET is, by the transport dropping the body.
        if method == "HEAD", allowed.contains("GET"),
            let found = routes.first(where: { $0.method == "GET" && Self.bind($0.segments, to: parts) != nil })
        {
            return .found(found.action, Self.bind(found.segments, to: parts)!, pattern: found.pattern)
        }
        return .methodNotAllowed(allowed: allowed.contains("GET") ? allowed + ["HEAD"] : allowed)
    }

    private static func segments(of path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    private static func bind(_ pattern: [Segment], to parts: [String]) -> PathParameters? {
        guard pattern.count == parts.count else { return nil }
        var values: [String: String] = [:]
        for (segment, part) in zip(pattern, parts) {
            switch segment {
            case .literal(let literal): if literal != part { return nil }
            case .parameter(let name): values[name] = part
            }
        }
        return PathParameters(values: values)
    }
}

/// The `{name}` values of a matched route.
public struct PathParameters: Sendable {
    let values: [String: String]

    public subscript(name: String) -> String? { values[name] }
}
