import FastCGIPool
import LeaderboardCore

@testable import LeaderboardAPI

extension APIService {
    /// The answer to `request`. Every route answers before `respond` returns here: over these tests' stores, a score's
    /// submission is stored and applied on the caller's thread (no group commit). A route that did not would get 599.
    func respond(to request: HTTPRequest) -> HTTPResponse {
        let answer = Locked<HTTPResponse?>(nil)
        respond(to: request) { response in answer.withLock { $0 = response } }
        return answer.withLock { $0 } ?? HTTPResponse(status: 599)
    }
}
