/// Why the service refused a request, in the domain's terms; each transport maps it to its own wire
/// (REST: a status and the envelope; WebSocket: an `{error}` or a close code).
public enum ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request cannot be read at all (malformed JSON, text that is not Unicode).
    case malformed(String)
    /// The request was read, and these fields are wrong.
    case validation([FieldError])
    /// No valid credentials: a missing, forged, expired or revoked token, or a wrong password.
    case unauthorized(String = "not authenticated")
    case forbidden(String)
    case notFound(String = "not found")
    case conflict(String)
    /// Too many attempts; the same request may succeed after `retryAfterSeconds`.
    case rateLimited(retryAfterSeconds: Int)
    /// The service cannot take this work now (over capacity); retrying soon may succeed. A store's outage
    /// arrives as the store's own error instead (`StoreFailure`).
    case unavailable(String)

    public static func validation(field: String, _ message: String) -> ServiceError { .validation([FieldError(field: field, message: message)]) }

    /// What a client reads: the fields of a validation error come with it, apart.
    public var message: String {
        switch self {
        case .malformed(let message), .unauthorized(let message), .forbidden(let message), .notFound(let message),
            .conflict(let message), .unavailable(let message):
            message
        case .validation: "validation failed"
        case .rateLimited: "too many requests, retry later"
        }
    }

    public var fieldErrors: [FieldError] {
        if case .validation(let errors) = self { return errors }
        return []
    }

    public var description: String {
        fieldErrors.isEmpty ? message : message + ": " + fieldErrors.map { "\($0.field): \($0.message)" }.joined(separator: "; ")
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
