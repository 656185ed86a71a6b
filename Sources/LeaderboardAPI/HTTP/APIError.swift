import FastCGIPool
import LeaderboardCore

/// An error as a REST client sees it: its HTTP status, a human message, and for 422 the fields at fault.
/// The domain's errors become one in `init(_:)`; the kinds only HTTP has are made here.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public var fieldErrors: [FieldError]
    public var headers: [(name: String, value: String)]

    public init(status: Int, message: String, fieldErrors: [FieldError] = [], headers: [(name: String, value: String)] = []) {
        self.status = status
        self.message = message
        self.fieldErrors = fieldErrors
        self.headers = headers
    }

    /// The one place a domain error gets its status, message and headers.
    public init(_ error: ServiceError) {
        let (status, headers): (Int, [(name: String, value: String)]) =
            switch error {
            case .malformed: (400, [])
            case .validation: (422, [])
            case .unauthorized: (401, [("WWW-Authenticate", "Bearer")])
            case .forbidden: (403, [])
            case .notFound: (404, [])
            case .conflict: (409, [])
            case .rateLimited(let seconds): (429, [("Retry-After", String(max(1, seconds)))])
            case .unavailable: (503, [("Retry-After", "1")])
            }
        self.init(status: status, message: error.message, fieldErrors: error.fieldErrors, headers: headers)
    }

    /// A store outage: 503, to be retried.
    public init(unavailable store: Store) {
        self.init(.unavailable("\(store.publicName) is unavailable, retry later"))
    }

    public var description: String { "\(status) \(message)" }

    public static func methodNotAllowed(allowed: [String]) -> APIError {
        APIError(status: 405, message: "method not allowed", headers: [("Allow", allowed.joined(separator: ", "))])
    }
    public static func payloadTooLarge(limit: Int) -> APIError {
        APIError(status: 413, message: "request body is larger than \(limit) bytes")
    }
    public static let unsupportedMediaType = APIError(status: 415, message: "request body must be application/json")
}
