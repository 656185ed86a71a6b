import FastCGIPool
import LeaderboardAPI
import Testing

@testable import LeaderboardCore

/// REST's one mapping of domain errors to a status, a message and headers.
@Suite struct ServiceErrorMappingTests {
    @Test(arguments: [
        (ServiceError.malformed("malformed JSON"), 400, "malformed JSON"),
        (.validation(field: "game", "field required"), 422, "validation failed"),
        (.unauthorized(), 401, "not authenticated"),
        (.forbidden("only admins may do this"), 403, "only admins may do this"),
        (.notFound("unknown game 'nope'"), 404, "unknown game 'nope'"),
        (.conflict("an account with this e-mail already exists"), 409, "an account with this e-mail already exists"),
        (.rateLimited(retryAfterSeconds: 30), 429, "too many requests, retry later"),
        (.unavailable("too many logins and signups at once, retry later"), 503, "too many logins and signups at once, retry later"),
    ])
    func aDomainErrorGetsItsStatusAndMessage(error: ServiceError, status: Int, message: String) {
        let answer = APIError(error)
        #expect(answer.status == status)
        #expect(answer.message == message)
        #expect(answer.fieldErrors == error.fieldErrors)
    }

    @Test func theHeadersTellTheClientWhatToDoNext() {
        #expect(APIError(.unauthorized("token expired")).headers.map(\.value) == ["Bearer"])
        #expect(APIError(.rateLimited(retryAfterSeconds: 30)).headers.map(\.value) == ["30"])
        #expect(APIError(.rateLimited(retryAfterSeconds: 0)).headers.map(\.value) == ["1"], "never Retry-After: 0")
        #expect(APIError(.unavailable("busy")).headers.map(\.value) == ["1"])
        #expect(APIError(.notFound()).headers.isEmpty)
    }

    @Test func aStoreOutageIsA503NamingTheStore() {
        let database = APIError(unavailable: PostgresError.connectionLost(message: "gone").store)
        #expect(database.status == 503 && database.message == "the database is unavailable, retry later")
        let index = APIError(unavailable: IndexError.notBuilt.store)
        #expect(index.status == 503 && index.message == "the leaderboard index is unavailable, retry later")
        #expect(index.headers.map(\.name) == ["Retry-After"])
    }
}
