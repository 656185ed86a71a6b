import CFastCGI
import Foundation
import Logging
import Metrics
import Synchronization

/// A pool of threads answering FastCGI requests on one listening socket, in the manner of fcgiwrap, on
/// connections that nginx keeps (`fastcgi_keep_conn on` and an upstream `keepalive`).
///
/// Each worker builds its own responder on its own thread (so each owns its database connections) and waits
/// in one shared epoll instance (`ReadinessPoller`) for whichever comes first: a new connection to accept or a
/// request arriving on a connection. It answers that one request and gives the connection back to epoll, so a
/// kept connection holds a thread only while a request on it is answered, and any number of idle ones wait
/// beside the workers. libfcgi stays the record codec: a worker hands it the connection by setting the
/// request's `ipcFd` before `FCGX_Accept_r`, which then reads the next request on it instead of accepting.
///
/// `@unchecked Sendable`: `isStopping`, `isAccepting`, `openConnections`, `idleConnections` and `isPastGrace` are only read or
/// written under `lock`; `workerActivity` is atomic; the rest is set once in `init`.
public final class FastCGIServer: @unchecked Sendable {
    /// Answers a request by sending one response on its reply: before it returns, or later from another thread.
    public typealias Responder = (HTTPRequest, Reply) -> Void

    private let listenSocket: Int32
    private let workerCount: Int
    private let maxBodyBytes: Int
    private let bodyTooLarge: HTTPResponse
    private let keptConnectionsGrace: Duration
    private let makeResponder: @Sendable () -> Responder
    private let logger: Logger
    /// The unix socket path we created and must remove; nil for TCP and for a socket systemd passed.
    private let ownSocketPath: String?
    private let poller: ReadinessPoller
    /// Who may connect (`FCGI_WEB_SERVER_ADDRS`); nil: anyone who reaches the socket.
    private let webServerAddresses: WebServerAddresses?
    /// How often nginx connected: with kept connections, far fewer times than it sent requests.
    private let acceptedConnections = Counter(label: "leaderboard_fastcgi_connections_accepted_total")
    /// Connections closed unanswered, from an address `FCGI_WEB_SERVER_ADDRS` does not name.
    private let refusedConnections = Counter(label: "leaderboard_fastcgi_connections_refused_total")
    /// The connections open now, idle or answering: more than the workers when nginx keeps many.
    private let connectionsGauge = Gauge(label: "leaderboard_fastcgi_connections")
    private let lock = NSCondition()
    private var isStopping = false
    /// A worker is taking connections from the listening socket's queue.
    private var isAccepting = false
    private var openConnections = 0
    /// The open connections waiting in epoll for their next request, none of them held by a worker.
    private var idleConnections: Set<Int32> = []
    /// The stop's grace is over: connections are closed, not kept, once their answer is sent.
    private var isPastGrace = false
    /// Per worker, when it took the request it is on (`DispatchTime`'s uptime nanoseconds), 0 while it has none.
    private let workerActivity: [WorkerActivity]

    private final class WorkerActivity: Sendable {
        let busySince = Atomic<UInt64>(0)
    }

    /// Opens the socket (the one systemd passed in `LISTEN_FDS`, else `address`) and blocks SIGTERM and
    /// SIGINT for every thread started from now on: create the server before any other thread. A request
    /// whose body is over `maxBodyBytes` is answered `bodyTooLarge`, its body read and dropped. A stopping
    /// pool waits `keptConnectionsGrace` at most for nginx to close the connections it keeps (see `run`).
    /// `FCGI_WEB_SERVER_ADDRS` in the environment limits who may connect, as it does libfcgi's own responders.
    public init(
        address: Address, workerCount: Int, maxBodyBytes: Int, bodyTooLarge: HTTPResponse, keptConnectionsGrace: Duration = .seconds(10),
        logger: Logger, makeResponder: @escaping @Sendable () -> Responder
    ) throws(FastCGIError) {
        guard FCGX_Init() == 0 else { throw .initializationFailed }
        webServerAddresses = try WebServerAddresses(ProcessInfo.processInfo.environment["FCGI_WEB_SERVER_ADDRS"])
        // Blocked now, before the process starts any thread, so every thread inherits the mask and only
        // `run` sees these signals (FCGX_Init installed libfcgi's own handlers, which would swallow them).
        var stopSignals = Self.stopSignals
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        signal(SIGPIPE, SIG_IGN)
        if let inherited = Self.systemdSocket() {
            listenSocket = inherited
            ownSocketPath = nil
        } else {
            if case .unix(let socketPath) = address {
                // A socket file left by a crashed run would make bind fail; one a running pool serves is not ours to take
                // (unlinked, it would leave that pool unreachable, and stopping this one would unlink the path again).
                guard !Self.isServed(unixPath: socketPath) else { throw .addressInUse(address: address.description) }
                unlink(socketPath)
            }
            listenSocket = try ListeningSocket.open(address, backlog: 1024)
            if case .unix(let socketPath) = address {
                chmod(socketPath, 0o660)
                ownSocketPath = socketPath
            } else {
                ownSocketPath = nil
            }
        }
        // Workers take the queue until accept() says it is empty, never blocking in it.
        _ = fcntl(listenSocket, F_SETFL, fcntl(listenSocket, F_GETFL) | O_NONBLOCK)
        poller = try ReadinessPoller()
        self.workerCount = workerCount
        workerActivity = (0..<workerCount).map { _ in WorkerActivity() }
        self.maxBodyBytes = maxBodyBytes
        self.bodyTooLarge = bodyTooLarge
        self.keptConnectionsGrace = keptConnectionsGrace
        self.makeResponder = makeResponder
        self.logger = logger
    }

    /// Serves until SIGTERM or SIGINT, then stops gracefully: no request that reached us is dropped.
    ///
    /// On the signal the pool stops taking new connections. A unix socket of our own is unlinked (new
    /// connections fail fast, so nginx tries another upstream) and the connections already queued on it are
    /// accepted and served; a socket systemd passed keeps its queue for the next instance. Requests in flight
    /// are answered, and so is every request nginx still sends on a connection it keeps. Those connections are
    /// nginx's to close: FastCGI has no way to tell nginx to stop using one, and one we closed could be the
    /// one nginx is writing a POST into, which it would not resend (502). nginx closes them by its upstream
    /// `keepalive_timeout` and `keepalive_time` (seconds, in the configs in nginx/); connections still open
    /// after `keptConnectionsGrace` are closed when idle. `run` returns once every connection is closed and
    /// every worker has exited. `onStop` runs when the signal arrives (to tell a supervisor).
    public func run(onStop: () -> Void = {}) {
        var stopSignals = Self.stopSignals
        poller.watchListener(listenSocket)
        let workers = workerActivity.map { activity in Self.startThread { self.workerLoop(activity) } }
        logger.info("fastcgi pool started", metadata: ["workers": "\(workerCount)"])
        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        logger.info("signal received, finishing queued and in-flight requests", metadata: ["signal": "\(received)"])
        onStop()
        stopAccepting()
        waitForConnectionsToClose()
        poller.signalStop()
        for worker in workers { pthread_join(worker, nil) }
        logger.info("fastcgi pool stopped")
    }

    /// Whether the pool can still answer a request: a worker is free, or one took its request less than `limit`
    /// ago. A pool whose every worker has been on one request for longer (a call that hangs, a deadlock) answers
    /// nobody, and the systemd watchdog should restart it.
    public func isAnswering(stuckAfter limit: Duration) -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        return workerActivity.contains { worker in
            let since = worker.busySince.load(ordering: .relaxed)
            return since == 0 || since > now || .nanoseconds(now - since) < limit
        }
    }

    private func stopAccepting() {
        locked { isStopping = true }
        poller.forget(listenSocket)
        guard let ownPath = ownSocketPath else { return }
        unlink(ownPath)
        // accept() still hands out the connections already queued, then fails: take them all, to be served.
        shutdown(listenSocket, Int32(SHUT_RD))
        acceptQueued()
    }

    /// Until nginx has closed every connection (or the grace is over and the idle ones are closed here), and
    /// no request is in flight.
    private func waitForConnectionsToClose() {
        let grace = keptConnectionsGrace.components
        let deadline = Date(timeIntervalSinceNow: Double(grace.seconds) + Double(grace.attoseconds) / 1e18)
        lock.lock()
        defer { lock.unlock() }
        while (openConnections > 0 || isAccepting) && lock.wait(until: deadline) {}
        isPastGrace = true
        if !idleConnections.isEmpty {
            logger.warning("closing kept connections nginx did not close", metadata: ["connections": "\(idleConnections.count)"])
            for descriptor in idleConnections {
                poller.forget(descriptor)
                close(descriptor)
            }
            openConnections -= idleConnections.count
            connectionsGauge.record(openConnections)
            idleConnections = []
        }
        // What is left is in flight: always answered.
        while openConnections > 0 || isAccepting { lock.wait() }
    }

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

    private func workerLoop(_ activity: WorkerActivity) {
        let respond = makeResponder()
        while true {
            switch poller.wait() {
            case .stop:
                return
            case .listener:
                let mayAccept = locked {
                    isAccepting = !isStopping
                    return isAccepting
                }
                guard mayAccept else { continue }
                acceptQueued()
                let mayAcceptAgain = locked {
                    isAccepting = false
                    lock.broadcast()
                    return !isStopping
                }
                if mayAcceptAgain { poller.rearmListener(listenSocket) }
            case .connection(let descriptor):
                guard locked({ idleConnections.remove(descriptor) != nil }) else { continue }
                activity.busySince.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
                serve(on: descriptor, respond: respond)
                activity.busySince.store(0, ordering: .relaxed)
            }
        }
    }

    /// Takes every connection in the listening socket's queue and waits in epoll for its first request.
    private func acceptQueued() {
        while true {
            // accept4 is not in Swift's Glibc module; a connection is accepted rarely now that nginx keeps them.
            let connection = accept(listenSocket, nil, nil)
            guard connection >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            AcceptedSocket.prepare(connection)
            if let webServerAddresses, !webServerAddresses.admit(connection) {
                close(connection)
                refusedConnections.increment()
                continue
            }
            acceptedConnections.increment()
            locked {
                openConnections += 1
                connectionsGauge.record(openConnections)
                idleConnections.insert(connection)
            }
            poller.watch(connection: connection)
        }
    }

    /// Reads the request that arrived on `descriptor` and hands it to the responder with its `Reply`, or counts the
    /// connection closed if it ended (nginx closed it).
    private func serve(on descriptor: Int32, respond: Responder) {
        // Its own request struct, since its reply may be sent after this worker has taken the next request.
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        // No listening socket for libfcgi: when a connection ends, FCGX_Accept_r closes it and fails at once (accept on
        // -1) instead of accepting; the pool accepts for itself. `keepConnection`, so that a connection whose request is
        // finished stays open; `detached`, so that one that ends is closed at once, without libfcgi's graceful close
        // (which waits up to 2 s for nginx, in select(), unsafe past descriptor 1023). Every body is read whole.
        FCGX_InitRequest(request, -1, 0)
        request.pointee.ipcFd = descriptor
        request.pointee.keepConnection = 1
        request.pointee.detached = 1
        guard FCGX_Accept_r(request) >= 0 else {
            FCGX_Free(request, 0)
            request.deallocate()
            answered(on: descriptor, isOpen: false)
            return
        }
        let connection = FastCGIConnection(request: request, maxBodyBytes: maxBodyBytes)
        let reply = Reply(request: request, on: descriptor, omitsBody: connection.omitsBody, server: self)
        if let request = connection.read() {
            respond(request, reply)
        } else {
            // The refusal of a body over the limit carries the request's id too, as every answer of the API does.
            var answer = bodyTooLarge
            answer.headers.append(("X-Request-ID", connection.answerRequestID))
            reply.send(answer)
        }
    }

    /// A request on `descriptor` was answered: the connection waits in epoll for nginx's next request, unless it ended
    /// (`isOpen` false) or the stop's grace is over.
    func answered(on descriptor: Int32, isOpen: Bool) {
        guard isOpen else {
            locked {
                openConnections -= 1
                connectionsGauge.record(openConnections)
                if isStopping { lock.broadcast() }
            }
            return
        }
        let keeps = locked {
            if isPastGrace {
                openConnections -= 1
                connectionsGauge.record(openConnections)
                lock.broadcast()
                return false
            }
            idleConnections.insert(descriptor)
            return true
        }
        if keeps { poller.rearm(connection: descriptor) } else { close(descriptor) }
    }

    /// Whether a process accepts connections on the unix socket at `path`.
    private static func isServed(unixPath path: String) -> Bool {
        guard var address = ListeningSocket.unixAddress(path) else { return false }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { close(probe) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
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
    case cannotResolve(address: String, reason: String)
    case addressInUse(address: String)
    case cannotPoll(errno: Int32)
    case invalidWebServerAddress(String)

    /// The address cannot work as given (no such directory or host, not this machine's, not ours to bind): a setting
    /// to correct, not a state to wait out, as a port another process holds may be.
    public var isAboutTheAddress: Bool {
        switch self {
        case .cannotResolve: true
        case .cannotListen(_, let code): code != EADDRINUSE
        default: false
        }
    }

    public var description: String {
        switch self {
        case .initializationFailed: "fastcgi: FCGX_Init failed"
        case .cannotListen(let address, let code): "fastcgi: cannot listen on \(address): \(String(cString: strerror(code)))"
        case .cannotResolve(let address, let reason): "fastcgi: cannot listen on \(address): \(reason)"
        case .addressInUse(let address): "fastcgi: \(address) is served by another process already; stop it first"
        case .cannotPoll(let code): "fastcgi: cannot create the epoll instance: \(String(cString: strerror(code)))"
        case .invalidWebServerAddress(let text): "fastcgi: FCGI_WEB_SERVER_ADDRS: '\(text)' is not an IPv4 address"
        }
    }
}
