import LeaderboardCore
import Testing

@testable import LeaderboardRealtime

/// The daemon's one mapping of errors to what a client hears: any refusal of the domain is an `{error}`,
/// whatever its kind, and only an outage or a bug is "retry later".
@Suite struct SocketFailureTests {
    @Test(arguments: [
        (ServiceError.malformed("malformed JSON"), "malformed JSON"),
        (
            .validation([FieldError(field: "score", message: "must be a whole number"), FieldError(field: "game", message: "field required")]),
            "score: must be a whole number; game: field required"
        ),
        (.forbidden("only admins may do this"), "only admins may do this"),
        (.notFound("unknown game 'nope'"), "unknown game 'nope'"),
        (.conflict("already used"), "already used"),
        (.rateLimited(retryAfterSeconds: 30), "too many requests, retry later"),
    ])
    func aRefusalIsToldToTheClient(error: ServiceError, text: String) {
        guard case .refused(let reason) = SocketFailure(error) else {
            Issue.record("\(error) was not a refusal")
            return
        }
        #expect(reason.text == text)
    }

    @Test func aTokenThatDoesNotHoldIsUnauthenticated() {
        guard case .unauthenticated(let reason) = SocketFailure(ServiceError.unauthorized("token revoked")) else {
            Issue.record("not unauthenticated")
            return
        }
        #expect(reason.text == "token revoked")
    }

    @Test(arguments: [
        ServiceError.unavailable("too many logins and signups at once, retry later") as any Error,
        PostgresError.connectionLost(message: "server closed the connection"),
        RedisError.connectionFailed(message: "refused"),
        IndexError.notBuilt,
        RedisError.unexpectedReply("a bug"),
    ])
    func outagesAndBugsAreRetriedWithoutDetail(error: any Error) {
        guard case .unavailable = SocketFailure(error) else {
            Issue.record("\(error) was shown to the client")
            return
        }
    }
}
