// The FastCGI ceiling of `make bench`: our worker pool (FastCGIServer, FastCGIConnection: accept, read
// the parameters and body, write the response) with a responder that answers a constant, so the figure
// is what the pool and nginx cost without any route, token check or store round trip.
//
//   leaderboard-bench-fcgi unix:SOCKET WORKERS    e.g. unix:/tmp/bench-fcgi.sock 8
// Stops on SIGTERM or SIGINT, as leaderboard-api does. It links the pool alone (FastCGIPool), no store.
import FastCGIPool
import Foundation
import Logging

let arguments = CommandLine.arguments
guard arguments.count == 3, arguments[1].hasPrefix("unix:"), arguments[1].count > "unix:".count, let workers = Int(arguments[2]), workers > 0
else {
    FileHandle.standardError.write(Data("usage: leaderboard-bench-fcgi unix:/path WORKERS\n".utf8))
    exit(2)
}
let address = FastCGIServer.Address.unix(path: String(arguments[1].dropFirst("unix:".count)))
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}
// A body of the size of a small envelope, like the API's answers.
let body = Array(#"{"success":true,"statusCode":200,"message":"done","data":null}"#.utf8)
do {
    let server = try FastCGIServer(
        address: address, workerCount: workers, maxBodyBytes: 65_536, bodyTooLarge: HTTPResponse(status: 413), logger: Logger(label: "bench-fcgi")
    ) {
        { _, reply in reply.send(HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: body)) }
    }
    server.run()
} catch {
    FileHandle.standardError.write(Data("leaderboard-bench-fcgi: \(error)\n".utf8))
    exit(1)
}
