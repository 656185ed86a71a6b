/// An error a client is meant to see: its HTTP status, a human message, and for 422 the fields at fault.
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

    public var description: String { "\(status) \(message)" }

    public static func badRequest(_ message: String) -> APIError { APIError(status: 400, message: message) }
    public static func unauthorized(_ message: String = "not authenticated") -> APIError {
        APIError(status: 401, message: message, headers: [("WWW-Authenticate", "Bearer")])
    }
    public static func notFound(_ message: String = "not found") -> APIError { APIError(status: 404, message: message) }
    public static func methodNotAllowed(allowed: [String]) -> APIError {
        APIError(status: 405, message: "method not allowed", headers: [("Allow", allowed.joined(separator: ", "))])
    }
    public static func conflict(_ message: String) -> APIError { APIError(status: 409, message: message) }
    public static func payloadTooLarge(limit: Int) -> APIError {
        APIError(status: 413, message: "request body is larger than \(limit) bytes")
    }
    public static let unsupportedMediaType = APIError(status: 415, message: "request body must be application/json")
    public static func validation(_ errors: [FieldError]) -> APIError {
        APIError(status: 422, message: "validation failed", fieldErrors: errors)
    }
    public static func validation(field: String, _ message: String) -> APIError { validation([FieldError(field: field, message: message)]) }
    public static func tooManyRequests(retryAfterSeconds: Int) -> APIError {
        APIError(status: 429, message: "too many requests, retry later", headers: [("Retry-After", String(max(1, retryAfterSeconds)))])
    }
    public static func unavailable(_ store: String) -> APIError {
        APIError(status: 503, message: "\(store) is unavailable, retry later", headers: [("Retry-After", "1")])
    }
}

/// One invalid field of a request.
public struct FieldError: Codable, Sendable, Equatable {
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}
