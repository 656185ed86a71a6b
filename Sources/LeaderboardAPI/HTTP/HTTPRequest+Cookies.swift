import FastCGIPool
import LeaderboardCore

extension HTTPRequest {
    /// The bearer token of `Authorization: Bearer ...`, else the `ath` cookie the predecessor set.
    public var accessToken: String? { TokenTransport.token(authorization: header("authorization"), cookie: header("cookie")) }
}
