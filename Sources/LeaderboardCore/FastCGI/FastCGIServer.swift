import CFastCGI
import Foundation
import Logging

/// A pool of threads answering FastCGI requests on one listening socket, in the manner of fcgiwrap.
///
/// Each worker builds its own responder on its own thread (so each owns its database connections) and
/// loops on `FCGX_Accept_r`. SIGTERM or SIGINT stops accepting; requests in flight finish; `run` returns.
public final class FastCGIServer: Sendable {
    public typealias Responder = (HTTPRequest) -> HTTPResponse

    private let listenSocket: Int32
    private let workerCount: Int
    private let maxBodyBytes: Int
    private let makeResponder: @Sendable () -> Responder
    private let logger: Logger

    /// Opens the socket: the one systemd passed (`LISTEN_FDS`), else `address`.
    public init(
        address: ListenAddress, workerCount: Int, maxBodyBytes: Int, logger: Logger,
        makeResponder: @escaping @Sendable () -> Responder
    ) throws(FastCGIError) {
        guard FCGX_Init() == 0 else { throw .initializationFailed }
        if let inherited = Self.systemdSocket() {
            listenSocket = inherited
        } else {
            let path: String
            switch address {
            case .unix(let socketPath):
                // A socket file left by a crashed run would make bind fail.
                unlink(socketPath)
                path = socketPath
            case .tcp(let host, let port):
                path = "\(host):\(port)"
            }
            let socket = FCGX_OpenSocket(path, 1024)
            guard socket >= 0 else { throw .cannotListen(address: address.description, errno: errno) }
            if case .unix(let socketPath) = address { chmod(socketPath, 0o660) }
            listenSocket = socket
        }
        self.workerCount = workerCount
        self.maxBodyBytes = maxBodyBytes
        self.makeResponder = makeResponder
        self.logger = logger
    }

    /// Serves until SIGTERM or SIGINT, then waits for the workers to finish what they started.
    public func run() {
        // Blocked here, before any worker exists, so every thread inherits the mask and only the
        // signal thread below ever sees these signals (libfcgi installed its own handlers in FCGX_Init).
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)

        let workers = (0..<workerCount).map { _ in Self.startThread { self.workerLoop() } }
        let signalWaiter = Self.startThread {
            var received: Int32 = 0
            sigwait(&signals, &received)
            self.logger.info("signal received, finishing in-flight requests", metadata: ["signal": "\(received)"])
            // Wakes every worker blocked in accept(); a worker busy with a request finishes it first.
            shutdown(self.listenSocket, Int32(SHUT_RDWR))
        }
        logger.info("fastcgi pool started", metadata: ["workers": "\(workerCount)"])
        for worker in workers { pthread_join(worker, nil) }
        pthread_cancel(signalWaiter)
        pthread_join(signalWaiter, nil)
        logger.info("fastcgi pool stopped")
    }

    private func workerLoop() {
        let respond = makeResponder()
        var request = FCGX_Request()
        FCGX_InitRequest(&request, listenSocket, 0)
        while FCGX_Accept_r(&request) >= 0 {
            let connection = FastCGIConnection(request: &request, maxBodyBytes: maxBodyBytes)
            connection.send(connection.read().map(respond) ?? .failure(.payloadTooLarge(limit: maxBodyBytes)), to: &request)
            FCGX_Finish_r(&request)
        }
        FCGX_Free(&request, 1)
    }

    /// The socket systemd handed over by socket activation, if it was meant for this process.
    private static func systemdSocket() -> Int32? {
        let environment = ProcessInfo.processInfo.environment
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
            let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 1
        else { return nil }
        return 3
    }

    private final class ThreadBody {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// A plain pthread running `body`; the body travels as a retained pointer, not a captured closure.
    private static func startThread(_ body: @escaping () -> Void) -> pthread_t {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        precondition(status == 0, "pthread_create failed: \(status)")
        return thread
    }
}

public enum FastCGIError: Error, CustomStringConvertible {
    case initializationFailed
    case cannotListen(address: String, errno: Int32)

    public var description: String {
        switch self {
        case .initializationFailed: "fastcgi: FCGX_Init failed"
        case .cannotListen(let address, let code): "fastcgi: cannot listen on \(address): \(String(cString: strerror(code)))"
        }
    }
}
