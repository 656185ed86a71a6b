import LeaderboardCore

/// What the daemon makes of an error from a store call: the one place a domain error meets the socket.
enum SocketFailure {
    /// The request cannot be served as asked: the client is told why in `{error}`, and the socket stays open.
    case refused(MessageError)
    /// The token does not hold (forged, expired, revoked, its account gone): refused at the upgrade (the welcome
    /// route serves it anonymously), an `{error}` for a message or a renewal.
    case unauthenticated(MessageError)
    /// A store outage, the service over capacity, or a bug: worth retrying later; nothing internal is shown.
    case unavailable

    init(_ error: any Error) {
        switch error {
        case ServiceError.unauthorized(let reason): self = .unauthenticated(MessageError(reason))
        case ServiceError.unavailable: self = .unavailable
        case let error as ServiceError: self = .refused(MessageError(error))
        default: self = .unavailable
        }
    }

    /// What a message's (or a renewal's) `{error}` tells the client.
    var errorText: String {
        switch self {
        case .refused(let reason), .unauthenticated(let reason): reason.text
        case .unavailable: "the service is unavailable; retry later"
        }
    }
}
