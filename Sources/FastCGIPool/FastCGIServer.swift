import CFastCGI
import Foundation
import Logging

/// A pool of threads answering FastCGI requests on one listening socket, in the manner of fcgiwrap.
///
/// Each worker builds its own responder on its own thread (so each owns its database connections) and
/// loops on `FCGX_Accept_r`.
///
/// `@unchecked Sendable`: `isStopping` and `states` are only read or written under `lock`; the rest is set once in `init`.
public final class FastCGIServer: @unchecked Sendable {
    public typealias Responder = (HTTPRequest) -> HTTPResponse

    private let listenSocket: Int32
    private let workerCount: Int
    private let maxBodyBytes: Int
    private let bodyTooLarge: HTTPResponse
    private let makeResponder: @Sendable () -> Responder
    private let logger: Logger
    /// The unix socket path we created and must remove; nil for TCP and for a socket systemd passed.
    private let ownSocketPath: String?
    private let lock = NSLock()
    private var isStopping = false
    private var states: [WorkerState]

    /// Opens the socket (the one systemd passed in `LISTEN_FDS`, else `address`) and blocks SIGTERM and
    /// SIGINT for every thread started from now on: create the server before any other thread. A request
    /// whose body is over `maxBodyBytes` is answered `bodyTooLarge`, unread.
    public init(
        address: Address, workerCount: Int, maxBodyBytes: Int, bodyTooLarge: HTTPResponse, logger: Logger,
        makeResponder: @escaping @Sendable () -> Responder
    ) throws(FastCGIError) {
        guard FCGX_Init() == 0 else { throw .initializationFailed }
        // Blocked now, before the process starts any thread, so every thread inherits the mask and only
        // `run` sees these signals (FCGX_Init installed libfcgi's own handlers, which would swallow them).
        var stopSignals = Self.stopSignals
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        signal(SIGPIPE, SIG_IGN)
        Self.installWakeUpHandler()
        if let inherited = Self.systemdSocket() {
            listenSocket = inherited
            ownSocketPath = nil
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
            if case .unix(let socketPath) = address {
                chmod(socketPath, 0o660)
                ownSocketPath = socketPath
            } else {
                ownSocketPath = nil
            }
            listenSocket = socket
        }
        self.workerCount = workerCount
        states = Array(repeating: .accepting, count: workerCount)
        self.maxBodyBytes = maxBodyBytes
        self.bodyTooLarge = bodyTooLarge
        self.makeResponder = makeResponder
        self.logger = logger
    }

    /// Serves until SIGTERM or SIGINT, then stops gracefully: no request that reached us is dropped.
    ///
    /// On the signal, a unix socket of our own is unlinked (new connections fail fast, so nginx tries
    /// another upstream) and shut down: accept() still hands out the connections already queued, then
    /// fails, so the workers serve the queue and leave. A socket systemd passed stays as it is, its queue
    /// kept for the next instance: workers finish what they hold and idle ones are woken out of accept()
    /// by a signal (as on a TCP socket). `run` returns once all have exited. `onStop` runs when the
    /// signal arrives (to tell a supervisor that shutdown has begun).
    public func run(onStop: () -> Void = {}) {
        var stopSignals = Self.stopSignals

        let workers = (0..<workerCount).map { index in Self.startThread { self.workerLoop(index) } }
        logger.info("fastcgi pool started", metadata: ["workers": "\(workerCount)"])
        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        logger.info("signal received, finishing queued and in-flight requests", metadata: ["signal": "\(received)"])
        onStop()
        locked { isStopping = true }
        if let ownPath = ownSocketPath {
            unlink(ownPath)
            // No signal here: one that lands while a worker reads a request it has just accepted makes
            // libfcgi drop that connection (nginx then logs a broken pipe for an accepted request).
            shutdown(listenSocket, Int32(SHUT_RD))
        }
        // An idle worker sits in accept(); a signal interrupts it (FCGI_FAIL_ACCEPT_ON_INTR) and, seeing
        // `isStopping`, it leaves. Repeated because a worker may be between its check and accept().
        while ownSocketPath == nil {
            let idle = locked { states.indices.filter { states[$0] == .accepting } }
            if locked({ states.allSatisfy { $0 == .exited } }) { break }
            for index in idle { pthread_kill(workers[index], Self.wakeUpSignal) }
            usleep(20_000)
        }
        for worker in workers { pthread_join(worker, nil) }
        logger.info("fastcgi pool stopped")
    }

    private enum WorkerState { case accepting, busy, exited }

    private func locked<Result>(_ body: () -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    private static var stopSignals: sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        return signals
    }

    private static let wakeUpSignal = SIGUSR2

    /// A handler that does nothing, installed without SA_RESTART so a blocked accept() returns EINTR.
    private static func installWakeUpHandler() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(wakeUpSignal, &action, nil)
    }

    private func workerLoop(_ index: Int) {
        let respond = makeResponder()
        var request = FCGX_Request()
        FCGX_InitRequest(&request, listenSocket, FCGI_FAIL_ACCEPT_ON_INTR)
        // On our own socket a worker accepts until accept() fails (the queue is served after the stop);
        // on another it leaves once `isStopping` is set.
        let drainsQueue = ownSocketPath != nil
        while true {
            let accepting = locked {
                let accepting = drainsQueue || !isStopping
                states[index] = accepting ? .accepting : .exited
                return accepting
            }
            guard accepting, FCGX_Accept_r(&request) >= 0 else { break }
            locked { states[index] = .busy }
            let connection = FastCGIConnection(request: &request, maxBodyBytes: maxBodyBytes)
            let read = connection.read()
            connection.send(read.map { respond($0.request) } ?? bodyTooLarge, to: &request)
            // libfcgi closes gracefully: it shuts down its sending side and waits (up to 2 s) for nginx to
            // close first, reading what nginx still sends, so that the answer to a request not sent whole
            // (a body over the limit) is not lost. After a request read whole there is nothing to wait for,
            // and the wait held the worker until nginx got round to closing: detached, it closes at once.
            if read?.isWhole == true { FCGX_Detach(&request) }
            FCGX_Finish_r(&request)
        }
        FCGX_Free(&request, 1)
        locked { states[index] = .exited }
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
        let status = pthread_create(
            &thread, nil,
            { context in
                Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
        precondition(status == 0, "pthread_create failed: \(status)")
        return thread
    }
}

extension FastCGIServer {
    /// Where the pool listens when systemd passed it no socket: a unix socket of its own, or a TCP address.
    public enum Address: Sendable, CustomStringConvertible {
        case unix(path: String)
        case tcp(host: String, port: Int)

        public var description: String {
            switch self {
            case .unix(let path): "unix:\(path)"
            case .tcp(let host, let port): "\(host):\(port)"
            }
        }
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
