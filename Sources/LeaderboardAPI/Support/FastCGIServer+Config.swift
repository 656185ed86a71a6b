import FastCGIPool
import LeaderboardCore
import Logging

extension FastCGIServer {
    /// The api's pool as configured: `API_LISTEN`, `API_WORKERS`, and `MAX_BODY_BYTES` with its 413 in the envelope.
    public convenience init(config: Config, logger: Logger, makeResponder: @escaping @Sendable () -> Responder) throws(FastCGIError) {
        let address: Address =
            switch config.apiListen {
            case .unix(let path): .unix(path: path)
            case .tcp(let host, let port): .tcp(host: host, port: port)
            }
        try self.init(
            address: address, workerCount: config.apiWorkers, maxBodyBytes: config.maxBodyBytes,
            bodyTooLarge: .failure(.payloadTooLarge(limit: config.maxBodyBytes)), logger: logger, makeResponder: makeResponder)
    }
}
