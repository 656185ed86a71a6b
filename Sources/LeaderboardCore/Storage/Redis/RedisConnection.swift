import CHiredis
import Foundation

/// One hiredis connection, opened on first use and reopened after the server restarts.
///
/// `@unchecked Sendable`: a `redisContext` must not be used from two threads at once; each owner keeps its
/// connection to itself and hands it on only between uses.
public final class RedisConnection: @unchecked Sendable {
    /// Which server a connection under Sentinel wants: the primary, or any replica in sync with it (for reads).
    public enum Reading: Sendable {
        case primary
        case replica
    }

    private let settings: RedisSettings
    private let reading: Reading
    private let timeout: timeval
    private var context: UnsafeMutablePointer<redisContext>?
    /// The process's watch of Sentinel's announcements, and how many moves it had counted when this connection
    /// opened: after another, the next command connects afresh.
    private let watch: SentinelWatch?
    private var switchesSeen = 0
    /// While AUTH, SELECT and ROLE run on a new connection: a move announced meanwhile must not close it under
    /// `openContext` (the next command moves it).
    private var isHandshaking = false
    /// A subscribed connection's socket, for `interrupt` from another thread; cleared before the socket closes.
    private let subscribedSocket = Locked<Int32?>(nil)
    /// A replica connection that found no replica asks the Sentinels again only after this: its reads go to the
    /// primary meanwhile, without a round trip to them each.
    private var noReplicaUntil: ContinuousClock.Instant?

    /// `timeout` bounds connecting and every command, so a stopped server never hangs a request. `reading`
    /// and `watch` count only with a Sentinel.
    public init(settings: RedisSettings, timeout: Duration = .seconds(2), reading: Reading = .primary, following watch: SentinelWatch? = nil) {
        self.settings = settings
        self.reading = reading
        self.watch = watch
        let (seconds, attoseconds) = timeout.components
        self.timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }

    deinit { close() }

    /// Closes the connection; the next command opens a new one. Safe to call twice.
    public func close() {
        subscribedSocket.withLock { $0 = nil }
        if let context { redisFree(context) }
        context = nil
    }

    /// Sends one command as argv (binary-safe, never parsed from a string). An error reply throws `.server`.
    @discardableResult
    public func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        try Self.succeeded(pipeline([arguments])[0])
    }

    /// Sends several commands in one round trip; replies come back in order, error replies as `.error`.
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        let connection = try openContext()
        for arguments in commands {
            let status = Self.withArgv(arguments) { argc, argv, lengths in
                redisAppendCommandArgv(connection, argc, argv, lengths)
            }
            if status != REDIS_OK { throw lost(connection) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(connection, &raw) == REDIS_OK, let raw else { throw lost(connection) }
            defer { freeReplyObject(raw) }
            replies.append(Self.decode(raw.assumingMemoryBound(to: redisReply.self)))
        }
        // A replica now (a failover demoted it): the next command connects afresh, to the primary Sentinel names.
        if reading == .primary, replies.contains(where: { if case .error(let message) = $0 { message.hasPrefix("READONLY") } else { false } }) {
            close()
        }
        return replies
    }

    /// Sends several commands in one round trip, for callers that need every one to succeed: the first
    /// error reply throws `.server`.
    public func pipelineOrThrow(_ commands: [[String]]) throws(RedisError) {
        for reply in try pipeline(commands) { _ = try Self.succeeded(reply) }
    }

    /// `reply`, unless it is an error reply: that throws `.server`.
    private static func succeeded(_ reply: RedisReply) throws(RedisError) -> RedisReply {
        if case .error(let message) = reply { throw .server(message: message) }
        return reply
    }

    /// Runs a Lua script by SHA, loading it once when the server answers NOSCRIPT (a new or flushed server).
    @discardableResult
    public func run(_ script: RedisScript, keys: [String], arguments: [String]) throws(RedisError) -> RedisReply {
        try Self.succeeded(run(script, keys: keys, argumentLists: [arguments])[0])
    }

    /// Runs a Lua script once per argument list (each with `keys`), pipelined in one round trip; replies in
    /// order, error replies as `.error`. Loads the script when the server answers NOSCRIPT and reruns just
    /// those calls (a NOSCRIPT call did not run).
    public func run(_ script: RedisScript, keys: [String] = [], argumentLists: [[String]]) throws(RedisError) -> [RedisReply] {
        let calls = argumentLists.map { ["EVALSHA", script.sha1, String(keys.count)] + keys + $0 }
        var replies = try pipeline(calls)
        let unknown = replies.indices.filter { if case .error(let message) = replies[$0] { message.hasPrefix("NOSCRIPT") } else { false } }
        if !unknown.isEmpty {
            try command(["SCRIPT", "LOAD", script.source])
            for (index, reply) in zip(unknown, try pipeline(unknown.map { calls[$0] })) { replies[index] = reply }
        }
        return replies
    }

    /// Turns this connection into a subscriber: after this, only `nextMessage` may be called. Reads then
    /// wait without a timeout (an idle channel is normal); over TCP, keepalive finds a peer that vanished
    /// (a unix socket has none, and hiredis fails the connection if asked: a vanished server closes it).
    public func subscribe(to channels: [String]) throws(RedisError) {
        let connection = try openContext()
        let status = Self.withArgv(["SUBSCRIBE"] + channels) { argc, argv, lengths in
            redisAppendCommandArgv(connection, argc, argv, lengths)
        }
        if status != REDIS_OK { throw lost(connection) }
        if connection.pointee.connection_type == REDIS_CONN_TCP { redisEnableKeepAlive(connection) }
        redisSetTimeout(connection, timeval(tv_sec: 0, tv_usec: 0))
        subscribedSocket.withLock { $0 = connection.pointee.fd }
    }

    /// Ends a `nextMessage` blocked on another thread (it throws `.connectionLost`): a hiredis read cannot be
    /// cancelled, but a socket shut down ends it. Safe from any thread; does nothing unless subscribed.
    public func interrupt() {
        subscribedSocket.withLock { socket in
            if let socket { shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Whether the watch has seen the primary move since this connection opened.
    public var hasMissedASwitch: Bool {
        guard let watch else { return false }
        return watch.switches != switchesSeen
    }

    /// Blocks until a message arrives on a subscribed channel; confirmations are skipped.
    public func nextMessage() throws(RedisError) -> (channel: String, payload: [UInt8]) {
        guard let connection = context else { throw .connectionLost(message: "not subscribed") }
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(connection, &raw) == REDIS_OK, let raw else { throw lost(connection) }
            let reply = Self.decode(raw.assumingMemoryBound(to: redisReply.self))
            freeReplyObject(raw)
            if let parts = reply.array, parts.count == 3, parts[0].string == "message", let channel = parts[1].string,
                case .bulkString(let payload) = parts[2]
            {
                return (channel, payload)
            }
        }
    }

    private func openContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        // An idle connection has nothing to read; if it has, the server closed it (restarted, say):
        // replace it before sending, so no command is lost to a stale socket.
        if let context, context.pointee.err == 0, !IdleSocket.hasPendingInput(context.pointee.fd), isHandshaking || !hasMissedASwitch {
            return context
        }
        close()
        // Read before Sentinel is asked: a move announced meanwhile is caught by the next command.
        switchesSeen = watch?.switches ?? 0
        if let noReplicaUntil, ContinuousClock.now < noReplicaUntil { throw .connectionFailed(message: "no replica in sync a moment ago") }
        let endpoint: RedisSettings.Endpoint
        switch (settings.sentinel, reading) {
        case (nil, _): endpoint = settings.endpoint
        case (let sentinel?, .primary): endpoint = try primary(namedBy: sentinel)
        case (let sentinel?, .replica):
            do {
                endpoint = try replica(namedBy: sentinel)
                noReplicaUntil = nil
            } catch {
                noReplicaUntil = .now + .seconds(1)
                throw error
            }
        }
        let opened = try connect(to: endpoint)
        redisSetTimeout(opened, timeout)
        context = opened
        isHandshaking = true
        defer { isHandshaking = false }
        do throws(RedisError) {
            if let password = settings.password { try command(["AUTH", password]) }
            if settings.database != 0 { try command(["SELECT", String(settings.database)]) }
            // A Sentinel may still name a demoted primary (or a promoted replica) for a moment after a failover.
            let wanted = reading == .primary ? "master" : "slave"
            if settings.sentinel != nil, let role = try command(["ROLE"]).array?.first?.string, role != wanted {
                throw RedisError.connectionFailed(message: "\(endpoint) is a \(role), not a \(wanted)")
            }
        } catch {
            close()
            throw .connectionFailed(message: error.description)
        }
        return opened
    }

    private func connect(to endpoint: RedisSettings.Endpoint) throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        let opened: UnsafeMutablePointer<redisContext>? =
            switch endpoint {
            case .tcp(let host, let port): redisConnectWithTimeout(host, Int32(port), timeout)
            case .unix(let path): redisConnectUnixWithTimeout(path, timeout)
            }
        guard let opened else { throw .connectionFailed(message: "out of memory") }
        if opened.pointee.err != 0 {
            let message = Self.errorString(of: opened)
            redisFree(opened)
            throw .connectionFailed(message: message)
        }
        return opened
    }

    /// The primary's address as the first Sentinel that answers names it.
    private func primary(namedBy sentinel: RedisSettings.Sentinel) throws(RedisError) -> RedisSettings.Endpoint {
        try ask(sentinel, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", sentinel.masterName], about: "the primary") { reply in
            guard let parts = reply.array, parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) })
            else { return nil }
            return .tcp(host: host, port: port)
        }
    }

    /// A replica, in sync with the primary as the first Sentinel that answers sees it, taken at random so a
    /// process's connections spread over the replicas.
    private func replica(namedBy sentinel: RedisSettings.Sentinel) throws(RedisError) -> RedisSettings.Endpoint {
        try ask(sentinel, ["SENTINEL", "REPLICAS", sentinel.masterName], about: "a replica in sync") { reply in
            let healthy = (reply.array ?? []).compactMap { entry -> RedisSettings.Endpoint? in
                // Each replica is a flat list of field names and values.
                let fields = entry.array?.compactMap(\.string) ?? []
                let values = Dictionary(stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0], fields[$0 + 1]) }) { first, _ in first }
                guard let host = values["ip"], let port = values["port"].flatMap({ Int($0) }), values["master-link-status"] == "ok",
                    let flags = values["flags"], !flags.contains("down"), !flags.contains("disconnected")
                else { return nil }
                return .tcp(host: host, port: port)
            }
            return healthy.randomElement()
        }
    }

    /// The first answer `parse` makes something of, asking each Sentinel in turn.
    private func ask(
        _ sentinel: RedisSettings.Sentinel, _ arguments: [String], about what: String, _ parse: (RedisReply) -> RedisSettings.Endpoint?
    ) throws(RedisError) -> RedisSettings.Endpoint {
        var failures: [String] = []
        for address in sentinel.addresses {
            do throws(RedisError) {
                let connection = try connect(to: .tcp(host: address.host, port: address.port))
                defer { redisFree(connection) }
                redisSetTimeout(connection, timeout)
                let reply = Self.withArgv(arguments) { argc, argv, lengths in redisCommandArgv(connection, argc, argv, lengths) }
                guard let reply else { throw RedisError.connectionLost(message: Self.errorString(of: connection)) }
                defer { freeReplyObject(reply) }
                let decoded = Self.decode(reply.assumingMemoryBound(to: redisReply.self))
                guard let endpoint = parse(decoded) else { throw RedisError.unexpectedReply("\(arguments.joined(separator: " ")): \(decoded)") }
                return endpoint
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        throw .connectionFailed(message: "no Sentinel named \(what) (\(failures.joined(separator: "; ")))")
    }

    private func lost(_ connection: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = Self.errorString(of: connection)
        close()
        return .connectionLost(message: message)
    }

    private static func errorString(of connection: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: connection.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func decode(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        let bytes = { () -> [UInt8] in
            guard let text = value.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: text, count: value.len))
        }
        switch value.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(Int(value.integer))
        case REDIS_REPLY_STRING: return .bulkString(bytes())
        case REDIS_REPLY_ARRAY:
            return .array((0..<value.elements).map { decode(value.element[$0]!) })
        default: return .null
        }
    }

    /// Hands hiredis an argv whose strings stay valid for the call; lengths make it binary-safe.
    private static func withArgv<Result>(
        _ arguments: [String],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Result
    ) -> Result {
        let buffers = arguments.map { argument -> UnsafeMutableBufferPointer<CChar> in
            let utf8 = Array(argument.utf8)
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(utf8.count, 1))
            utf8.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
            }
            return buffer
        }
        defer { for buffer in buffers { buffer.deallocate() } }
        var pointers = buffers.map { UnsafePointer<CChar>?(UnsafePointer($0.baseAddress!)) }
        let lengths = arguments.map { $0.utf8.count }
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { body(Int32(arguments.count), argv.baseAddress!, $0.baseAddress!) }
        }
    }
}
