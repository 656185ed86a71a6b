import CFastCGI

/// The answer to one request, sent by whoever holds it: the worker that read the request, or, for an answer that
/// waits on work done elsewhere (a score's group commit), another thread later. Either way the worker is free once
/// its responder returns; the connection stays with the request until the answer is sent, then waits in epoll for
/// nginx's next request, or is closed if it ended.
///
/// `@unchecked Sendable`: one thread holds a reply at a time (the worker, then whoever it handed the reply to), and
/// it is sent once.
public final class Reply: @unchecked Sendable {
    private let request: UnsafeMutablePointer<FCGX_Request>
    private let descriptor: Int32
    private let omitsBody: Bool
    private let server: FastCGIServer
    private var isSent = false

    /// Takes over `request`, read by `FCGX_Accept_r` on `descriptor`: its memory is freed with the reply.
    init(request: UnsafeMutablePointer<FCGX_Request>, on descriptor: Int32, omitsBody: Bool, server: FastCGIServer) {
        self.request = request
        self.descriptor = descriptor
        self.omitsBody = omitsBody
        self.server = server
    }

    /// Sends `response` (no body for HEAD) and gives the connection back. Once.
    public func send(_ response: HTTPResponse) {
        precondition(!isSent, "a reply is sent once")
        isSent = true
        FastCGIConnection.send(response, omitsBody: omitsBody, to: request)
        FCGX_Finish_r(request)
        // libfcgi closed the connection if it ended or nginx did not ask to keep it (ipcFd is -1 then).
        server.answered(on: descriptor, isOpen: request.pointee.ipcFd >= 0)
    }

    deinit {
        // A responder that dropped its reply unsent would leave nginx waiting on the connection until its timeout.
        if !isSent { send(HTTPResponse(status: 500)) }
        request.deallocate()
    }
}
