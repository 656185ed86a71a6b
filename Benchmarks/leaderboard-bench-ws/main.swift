// The WebSocket load client of `make bench` (Benchmarks/bench.py runs it): one process that can hold
// 10,000 sockets and still time what they receive; SwiftNIO for `submit` and the submitting connection.
//
//   leaderboard-bench-ws submit --host H --port P --path /ws/v1/add-score --tokens FILE
//       --connections N --warmup S --duration S [--games cod,lol] [--max-score N]
//     Closed loop: each connection sends a score, waits for the answer, sends the next. Counts the
//     answers of the measured window (after the warm-up) and times each one.
//
//   leaderboard-bench-ws fanout --host H --port P --tokens FILE --subscribers N --submissions K
//       [--warmup-submissions W] [--interval-ms MS] [--game cod] [--daemon-pid PID] [--settle S]
//       [--readers R] [--read-pause-us U]
//     Connects N subscribers to /ws/v1/scores (each with its own token), measures the daemon's resident
//     memory before and after (idle connections), then makes them all watch rows 0-9 of the game's
//     all-time board, and from one more connection (the last token's player, who has few scores of
//     their own) submits W + K scores above the board's top on
//     /ws/v1/add-score, one every MS. Each submission changes row 1, so every subscriber must receive
//     it: the latency is from just before the submission is written to when a subscriber has read the
//     push that shows it (both on this process's monotonic clock).
//     The subscribers are plain sockets after the handshake, read by R threads (one per core) on epoll
//     (SubscriberReader.swift): a SwiftNIO pipeline per connection cost about as much CPU per push as the
//     daemon's, on the same cores. After reading the sockets that were ready, a reader pauses U µs (500)
//     so that the next ones are read in one batch rather than each write waking it; that can only add to
//     the latencies measured.
//
// Prints one JSON object on stdout; progress goes to stderr. Every phase has a deadline, so a stuck
// daemon ends the run with what was measured, never a hang.
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOWebSocket
import Synchronization

// MARK: - Command line

struct Options {
    let command: String
    private var values: [String: String] = [:]

    init(_ arguments: [String]) {
        guard arguments.count >= 2 else { Self.usage() }
        command = arguments[1]
        var index = 2
        while index < arguments.count {
            let name = arguments[index]
            guard name.hasPrefix("--"), index + 1 < arguments.count else { Self.usage() }
            values[String(name.dropFirst(2))] = arguments[index + 1]
            index += 2
        }
    }

    func string(_ name: String, _ fallback: String? = nil) -> String {
        guard let value = values[name] ?? fallback else { fail("--\(name) is required") }
        return value
    }

    func int(_ name: String, _ fallback: Int? = nil) -> Int {
        guard let value = Int(string(name, fallback.map(String.init))) else { fail("--\(name) must be a whole number") }
        return value
    }

    func double(_ name: String, _ fallback: Double) -> Double {
        guard let value = Double(string(name, String(fallback))) else { fail("--\(name) must be a number") }
        return value
    }

    static func usage() -> Never {
        fail("usage: leaderboard-bench-ws submit|fanout --name value ... (see the comment at the top of main.swift)")
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("leaderboard-bench-ws: \(message)\n".utf8))
    exit(2)
}

func log(_ message: String) {
    FileHandle.standardError.write(Data("bench-ws: \(message)\n".utf8))
}

func nowNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func readTokens(_ path: String) -> [String] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
    return text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
}

// MARK: - Measurements

/// Exact percentiles of a sample (sorted once): every sample is kept, so nothing is approximated.
struct Distribution: Encodable {
    let count: Int
    let p50: Double
    let p90: Double
    let p99: Double
    let max: Double
    let mean: Double

    /// `values` in nanoseconds; the distribution is in milliseconds.
    init?(nanoseconds values: [UInt64]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        func at(_ quantile: Double) -> Double {
            let rank = Swift.max(0, Swift.min(sorted.count - 1, Int((quantile * Double(sorted.count)).rounded(.up)) - 1))
            return Double(sorted[rank]) / 1e6
        }
        count = sorted.count
        p50 = at(0.50)
        p90 = at(0.90)
        p99 = at(0.99)
        max = Double(sorted[sorted.count - 1]) / 1e6
        mean = Double(sorted.reduce(0, +)) / Double(sorted.count) / 1e6
    }
}

/// Resident memory and CPU time of another process, from /proc.
enum ProcessProbe {
    /// VmRSS, from /proc/PID/statm (its second field, in pages): the fan-out reads it every 10 ms while
    /// it times pushes, and statm costs both processes far less than the text of /proc/PID/status.
    static func residentKiB(_ pid: Int) -> Int? {
        guard pid > 0 else { return nil }
        let fd = open("/proc/\(pid)/statm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &bytes) { buffer -> Int? in
            let count = read(fd, buffer.baseAddress, buffer.count)
            guard count > 0 else { return nil }
            var field = 0
            var value = 0
            for byte in buffer[0..<count] {
                if byte == 0x20 {
                    if field == 1 { break }
                    field += 1
                    value = 0
                } else if byte >= 0x30 && byte <= 0x39 {
                    value = value * 10 + Int(byte - 0x30)
                } else {
                    break
                }
            }
            return field == 1 ? value * pageKiB : nil
        }
    }

    static let pageKiB = sysconf(Int32(_SC_PAGESIZE)) / 1024

    /// User + system CPU seconds.
    static func cpuSeconds(_ pid: Int) -> Double? {
        guard pid > 0, let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func ownCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}

// MARK: - A minimal WebSocket client connection

/// Sends the upgrade request, waits for `101`, then swaps itself for the frame codec and `application`.
final class HandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let request: String
    private let upgraded: EventLoopPromise<Void>
    private var application: (any ChannelHandler)?
    private var received: ByteBuffer?

    init(host: String, port: Int, path: String, token: String, application: any ChannelHandler, upgraded: EventLoopPromise<Void>) {
        var key: [UInt8] = []
        for _ in 0..<16 { key.append(UInt8.random(in: 0...255)) }
        request =
            "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(Data(key).base64EncodedString())\r\nSec-WebSocket-Version: 13\r\n"
            + "Authorization: Bearer \(token)\r\n\r\n"
        self.application = application
        self.upgraded = upgraded
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if received == nil { received = bytes } else { received!.writeBuffer(&bytes) }
        guard var buffer = received, let view = buffer.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
        let headLength = view.upperBound - buffer.readerIndex
        let head = buffer.readString(length: headLength) ?? ""
        guard head.hasPrefix("HTTP/1.1 101") else {
            upgraded.fail(BenchError.refused(String(head.prefix { $0 != "\r" })))
            context.close(promise: nil)
            return
        }
        received = nil
        do {
            let sync = context.pipeline.syncOperations
            try sync.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)), position: .after(self))
            try sync.addHandler(WebSocketFrameEncoder(), position: .first)
            try sync.addHandler(application!, position: .last)
            application = nil
        } catch {
            upgraded.fail(error)
            context.close(promise: nil)
            return
        }
        // Whatever followed the head already is the first frame(s).
        if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
        upgraded.succeed(())
    }

    func channelInactive(context: ChannelHandlerContext) {
        upgraded.fail(BenchError.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        upgraded.fail(error)
        context.close(promise: nil)
    }
}

enum BenchError: Error {
    case refused(String)
    case closed
}

/// Opens a WebSocket connection; the future completes once upgraded.
func connect(
    group: any EventLoopGroup, host: String, port: Int, path: String, token: String,
    application: @escaping @Sendable () -> any ChannelHandler
) -> EventLoopFuture<any Channel> {
    let loop = group.next()
    let upgraded = loop.makePromise(of: Void.self)
    return ClientBootstrap(group: loop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .connectTimeout(.seconds(10))
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    HandshakeHandler(host: host, port: port, path: path, token: token, application: application(), upgraded: upgraded))
            }
        }
        .connect(host: host, port: port)
        .flatMap { channel in upgraded.futureResult.map { channel } }
        .flatMapErrorThrowing { error in
            upgraded.fail(error)
            throw error
        }
}

func textFrame(_ text: String) -> WebSocketFrame {
    WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text))
}

/// Answers pings (the daemon drops clients that stay silent) and hands text frames to `onText`.
class FrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            onText(context: context, frame.unmaskedData)
        case .ping:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            onClose(frame.unmaskedData)
            context.close(promise: nil)
        default:
            break
        }
    }

    // Overridable here: a subclass's own handlerAdded would not be the protocol's witness.
    func handlerAdded(context: ChannelHandlerContext) {}
    func onText(context: ChannelHandlerContext, _ data: ByteBuffer) {}
    func onClose(_ data: ByteBuffer) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Opens `count` connections, at most `inFlight` handshakes at a time; the channels that made it.
func connectMany(
    count: Int, inFlight: Int, deadline: UInt64, group: any EventLoopGroup, host: String, port: Int, path: String, tokens: [String],
    application: @escaping @Sendable (Int) -> any ChannelHandler
) -> (channels: [any Channel], failures: [String: Int]) {
    let permits = DispatchSemaphore(value: inFlight)
    let results = NIOLockedValueBox<(channels: [any Channel], failures: [String: Int])>(([], [:]))
    let all = DispatchGroup()
    for index in 0..<count {
        permits.wait()
        if nowNanoseconds() > deadline {
            permits.signal()
            results.withLockedValue { $0.failures["deadline", default: 0] += count - index }
            break
        }
        all.enter()
        connect(group: group, host: host, port: port, path: path, token: tokens[index % tokens.count]) { application(index) }
            .whenComplete { result in
                results.withLockedValue { results in
                    switch result {
                    case .success(let channel): results.channels.append(channel)
                    case .failure(let error): results.failures[String(describing: error).prefix(80).description, default: 0] += 1
                    }
                }
                permits.signal()
                all.leave()
            }
        if (index + 1) % 2000 == 0 { log("\(index + 1) of \(count) connecting") }
    }
    all.wait()
    return results.withLockedValue { $0 }
}

func closeAll(_ channels: [any Channel]) {
    let futures = channels.map { channel in
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer(bytes: [0x03, 0xE8])))
            .flatMap { channel.close() }
    }
    for future in futures { _ = try? future.wait() }
}

func emit(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

// MARK: - submit: submissions per second

/// Shared by every submitting connection: the phase, and what the measured window counted.
final class SubmitLoad: Sendable {
    enum Phase: Int { case warmup, measure, stop }

    let phase = NIOLockedValueBox(Phase.warmup)
    let measured = NIOLockedValueBox<(latencies: [UInt64], errors: [String: Int])>(([], [:]))
    let games: [String]
    let maxScore: Int

    init(games: [String], maxScore: Int) {
        self.games = games
        self.maxScore = maxScore
    }

    func nextMessage() -> String {
        #"{"game":"\#(games.randomElement()!)","score":\#(Int.random(in: 0...maxScore))}"#
    }
}

final class SubmitHandler: FrameHandler, @unchecked Sendable {
    private let load: SubmitLoad
    private var sentAt: UInt64 = 0

    init(load: SubmitLoad) {
        self.load = load
    }

    func send(context: ChannelHandlerContext) {
        sentAt = nowNanoseconds()
        context.writeAndFlush(wrapOutboundOut(textFrame(load.nextMessage())), promise: nil)
    }

    override func handlerAdded(context: ChannelHandlerContext) {
        // Added once upgraded: start the loop.
        send(context: context)
    }

    override func onText(context: ChannelHandlerContext, _ data: ByteBuffer) {
        let elapsed = nowNanoseconds() - sentAt
        let phase = load.phase.withLockedValue { $0 }
        if phase == .measure {
            let text = String(buffer: data)
            load.measured.withLockedValue { measured in
                if text.hasPrefix(#"{"error""#) {
                    measured.errors[String(text.prefix(100)), default: 0] += 1
                } else {
                    measured.latencies.append(elapsed)
                }
            }
        }
        if phase != .stop { send(context: context) }
    }
}

struct SubmitResult: Encodable {
    let connections: Int
    let connectFailures: [String: Int]
    let warmupSeconds: Double
    let seconds: Double
    let answers: Int
    let perSecond: Double
    let errors: [String: Int]
    let latencyMs: Distribution?
    let clientCPUSeconds: Double
    let daemonCPUSeconds: Double?
    let daemonRSSKiB: Int?
}

func runSubmit(_ options: Options) {
    let host = options.string("host", "127.0.0.1")
    let port = options.int("port")
    let tokens = readTokens(options.string("tokens"))
    let count = options.int("connections", 64)
    let warmup = options.double("warmup", 3)
    let duration = options.double("duration", 10)
    let daemonPID = options.int("daemon-pid", 0)
    let load = SubmitLoad(
        games: options.string("games", "cod,valrnt,mcft,fnite,apxleg,lol,ow,cs,rl,pubg").split(separator: ",").map(String.init),
        maxScore: options.int("max-score", 15_000))
    let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
    defer { try? group.syncShutdownGracefully() }

    let (channels, failures) = connectMany(
        count: count, inFlight: 64, deadline: nowNanoseconds() + 60_000_000_000, group: group, host: host, port: port,
        path: options.string("path", "/ws/v1/add-score"), tokens: tokens
    ) { _ in SubmitHandler(load: load) }
    log("submit: \(channels.count) connections, warm-up \(warmup) s")
    Thread.sleep(forTimeInterval: warmup)
    let cpuBefore = ProcessProbe.ownCPUSeconds()
    let daemonBefore = ProcessProbe.cpuSeconds(daemonPID)
    let started = nowNanoseconds()
    load.phase.withLockedValue { $0 = .measure }
    var rss = 0
    let end = started + UInt64(duration * 1e9)
    while nowNanoseconds() < end {
        Thread.sleep(forTimeInterval: 0.25)
        rss = max(rss, ProcessProbe.residentKiB(daemonPID) ?? 0)
    }
    load.phase.withLockedValue { $0 = .stop }
    let seconds = Double(nowNanoseconds() - started) / 1e9
    let cpu = ProcessProbe.ownCPUSeconds() - cpuBefore
    let daemonCPU = ProcessProbe.cpuSeconds(daemonPID).flatMap { after in daemonBefore.map { after - $0 } }
    let measured = load.measured.withLockedValue { $0 }
    closeAll(channels)
    emit(
        SubmitResult(
            connections: channels.count, connectFailures: failures, warmupSeconds: warmup, seconds: seconds,
            answers: measured.latencies.count, perSecond: Double(measured.latencies.count) / seconds, errors: measured.errors,
            latencyMs: Distribution(nanoseconds: measured.latencies), clientCPUSeconds: cpu, daemonCPUSeconds: daemonCPU,
            daemonRSSKiB: rss > 0 ? rss : nil))
}

// MARK: - fanout: latency from a submission to its receipt by every subscriber

/// The submitting connection: counts its answers.
final class SubmitterHandler: FrameHandler, @unchecked Sendable {
    let answers = NIOLockedValueBox<(ok: Int, errors: [String])>((0, []))

    override func onText(context: ChannelHandlerContext, _ data: ByteBuffer) {
        let text = String(buffer: data)
        answers.withLockedValue { answers in
            if text.hasPrefix(#"{"error""#) { answers.errors.append(String(text.prefix(100))) } else { answers.ok += 1 }
        }
    }
}

struct FanoutResult: Encodable {
    let subscribers: Int
    let connectFailures: [String: Int]
    let connectSeconds: Double
    let daemonRSSBeforeKiB: Int?
    let daemonRSSConnectedKiB: Int?
    let rssPerConnectionKiB: Double?
    let watching: Int
    let submissions: Int
    let warmupSubmissions: Int
    let intervalMs: Int
    let submitterAnswers: Int
    let submitterErrors: [String]
    let expectedReceipts: Int
    let receipts: Int
    /// Pushes that showed a submission the subscriber had already read (not timed again).
    let repeatedReceipts: Int
    /// Per receipt: submission -> one subscriber has read it.
    let latencyMs: Distribution?
    /// Per submission: -> the first subscriber has read it (the submission, the tick, the render).
    let firstReceiptMs: Distribution?
    /// Per submission: -> the last of the subscribers has read it (only submissions every subscriber got).
    let lastReceiptMs: Distribution?
    let completeSubmissions: Int
    /// Each measured submission's time to its last receipt, in order (nil: not every subscriber got it).
    let lastReceiptEachMs: [Double?]
    let errors: [String: Int]
    let closes: [String: Int]
    let daemonRSSUnderLoadKiB: Int?
    let daemonCPUSeconds: Double?
    let clientCPUSeconds: Double
    let seconds: Double
}

#if os(Linux)
func runFanout(_ options: Options) {
    let host = options.string("host", "127.0.0.1")
    let port = options.int("port")
    let tokens = readTokens(options.string("tokens"))
    let subscribers = options.int("subscribers")
    let submissions = options.int("submissions", 20)
    let warmupSubmissions = options.int("warmup-submissions", 3)
    let intervalMs = options.int("interval-ms", 250)
    let game = options.string("game", "cod")
    let daemonPID = options.int("daemon-pid", 0)
    let settle = options.double("settle", 3)
    let timeLimit = options.double("time-limit", 240)
    let readerCount = options.int("readers", System.coreCount)
    let pause = UInt32(options.int("read-pause-us", 500))
    let deadline = nowNanoseconds() + UInt64(timeLimit * 1e9)
    guard tokens.count > subscribers else { fail("need more tokens than subscribers (one submits)") }

    // Only the submitting connection uses NIO.
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    defer { try? group.syncShutdownGracefully() }

    Thread.sleep(forTimeInterval: 1)
    let rssBefore = ProcessProbe.residentKiB(daemonPID)
    let connectStarted = nowNanoseconds()
    let opened = openSubscribers(
        count: subscribers, inFlight: 128, deadline: deadline, host: host, port: port, path: "/ws/v1/scores", tokens: Array(tokens.dropLast()))
    let readers = (0..<max(1, readerCount)).map { _ in SubscriberReader(pauseMicroseconds: pause) }
    for (index, socket) in opened.sockets.enumerated() { readers[index % readers.count].add(fd: socket.fd, leftover: socket.leftover) }
    let connected = opened.sockets.count
    let total = warmupSubmissions + submissions
    let watch = Array(#"{"game":"\#(game)","start":0,"end":9}"#.utf8)
    for reader in readers { reader.start(watch: watch, submissions: total) }
    let connectSeconds = Double(nowNanoseconds() - connectStarted) / 1e9
    log("fanout: \(connected) subscribers connected in \(String(format: "%.1f", connectSeconds)) s; settling \(settle) s")
    Thread.sleep(forTimeInterval: settle)
    let rssConnected = ProcessProbe.residentKiB(daemonPID)

    // Everyone watches the same page; wait until each has its first push.
    for reader in readers { reader.watchAll() }
    func watchingNow() -> Int { readers.reduce(0) { $0 + $1.watching.load(ordering: .acquiring) } }
    while watchingNow() < connected && nowNanoseconds() < deadline {
        Thread.sleep(forTimeInterval: 0.05)
    }
    let watching = watchingNow()
    log("fanout: \(watching) watching; submitting \(warmupSubmissions) + \(submissions), one every \(intervalMs) ms")

    let submitter = SubmitterHandler()
    let submitting = connect(group: group, host: host, port: port, path: "/ws/v1/add-score", token: tokens[tokens.count - 1]) { submitter }
    guard let submitChannel = try? submitting.wait() else { fail("the submitting connection failed") }

    let base = (readers.map { $0.firstTop.load(ordering: .relaxed) }.max() ?? 0) + 1
    for reader in readers { reader.base.store(base, ordering: .relaxed) }
    let cpuBefore = ProcessProbe.ownCPUSeconds()
    let daemonCPUBefore = ProcessProbe.cpuSeconds(daemonPID)
    let started = nowNanoseconds()
    var rssUnderLoad = 0
    // Score base + i was written at sentAt[i].
    var sentAt: [UInt64] = []
    for index in 0..<total where nowNanoseconds() < deadline {
        let due = started + UInt64(index * intervalMs) * 1_000_000
        while nowNanoseconds() < due {
            rssUnderLoad = max(rssUnderLoad, ProcessProbe.residentKiB(daemonPID) ?? 0)
            Thread.sleep(forTimeInterval: min(0.01, Double(due - min(due, nowNanoseconds())) / 1e9))
        }
        sentAt.append(nowNanoseconds())
        submitChannel.writeAndFlush(textFrame(#"{"game":"\#(game)","score":\#(base + index)}"#), promise: nil)
    }
    // Stragglers: until every subscriber has read the last one, or three seconds after it was sent.
    let waitUntil = min(deadline, nowNanoseconds() + 3_000_000_000)
    while nowNanoseconds() < waitUntil {
        rssUnderLoad = max(rssUnderLoad, ProcessProbe.residentKiB(daemonPID) ?? 0)
        if readers.reduce(0, { $0 + $1.received.load(ordering: .relaxed) }) >= watching * sentAt.count { break }
        Thread.sleep(forTimeInterval: 0.01)
    }
    Thread.sleep(forTimeInterval: 0.3)
    let seconds = Double(nowNanoseconds() - started) / 1e9
    let cpu = ProcessProbe.ownCPUSeconds() - cpuBefore
    let daemonCPU = ProcessProbe.cpuSeconds(daemonPID).flatMap { after in daemonCPUBefore.map { after - $0 } }
    let answers = submitter.answers.withLockedValue { $0 }
    // Each reader sends its close frames and ends its thread: what it recorded is visible here after.
    for reader in readers { reader.stop() }
    _ = try? submitChannel.writeAndFlush(
        WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer(bytes: [0x03, 0xE8]))
    ).flatMap { submitChannel.close() }.wait()

    var latencies: [UInt64] = []
    var counts = [Int](repeating: 0, count: sentAt.count)
    var lastAt = [UInt64](repeating: 0, count: sentAt.count)
    var firstAt = [UInt64](repeating: .max, count: sentAt.count)
    var errors: [String: Int] = [:]
    var closes: [String: Int] = [:]
    var repeats = 0
    for reader in readers {
        for subscriber in 0..<reader.count {
            for index in sentAt.indices {
                guard let at = reader.readAt(subscriber: subscriber, submission: index), at >= sentAt[index] else { continue }
                counts[index] += 1
                lastAt[index] = max(lastAt[index], at)
                firstAt[index] = min(firstAt[index], at)
                if index >= warmupSubmissions { latencies.append(at - sentAt[index]) }
            }
        }
        errors.merge(reader.errors, uniquingKeysWith: +)
        closes.merge(reader.closes, uniquingKeysWith: +)
        repeats += reader.repeats
    }
    let measured = Array(min(warmupSubmissions, sentAt.count)..<sentAt.count)
    let complete = measured.filter { counts[$0] >= watching }
    let receipts = measured.reduce(0) { $0 + counts[$1] }

    var perConnection: Double?
    if let rssBefore, let rssConnected, connected > 0 { perConnection = Double(rssConnected - rssBefore) / Double(connected) }
    emit(
        FanoutResult(
            subscribers: connected, connectFailures: opened.failures, connectSeconds: connectSeconds, daemonRSSBeforeKiB: rssBefore,
            daemonRSSConnectedKiB: rssConnected, rssPerConnectionKiB: perConnection, watching: watching,
            submissions: measured.count, warmupSubmissions: warmupSubmissions, intervalMs: intervalMs, submitterAnswers: answers.ok,
            submitterErrors: Array(answers.errors.prefix(5)), expectedReceipts: measured.count * watching, receipts: receipts,
            repeatedReceipts: repeats, latencyMs: Distribution(nanoseconds: latencies),
            firstReceiptMs: Distribution(nanoseconds: measured.filter { counts[$0] > 0 }.map { firstAt[$0] - sentAt[$0] }),
            lastReceiptMs: Distribution(nanoseconds: complete.map { lastAt[$0] - sentAt[$0] }), completeSubmissions: complete.count,
            lastReceiptEachMs: measured.map { counts[$0] >= watching ? Double(lastAt[$0] - sentAt[$0]) / 1e6 : nil },
            errors: errors, closes: closes, daemonRSSUnderLoadKiB: rssUnderLoad > 0 ? rssUnderLoad : nil,
            daemonCPUSeconds: daemonCPU, clientCPUSeconds: cpu, seconds: seconds))
}

/// Opens `count` subscriber sockets, `inFlight` handshakes at a time (blocking, one thread each).
func openSubscribers(
    count: Int, inFlight: Int, deadline: UInt64, host: String, port: Int, path: String, tokens: [String]
) -> (sockets: [(fd: Int32, leftover: [UInt8])], failures: [String: Int]) {
    let next = Atomic<Int>(0)
    let results = NIOLockedValueBox<(sockets: [(fd: Int32, leftover: [UInt8])], failures: [String: Int])>(([], [:]))
    let all = DispatchGroup()
    for _ in 0..<min(inFlight, count) {
        all.enter()
        Thread {
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < count else { break }
                if nowNanoseconds() > deadline {
                    results.withLockedValue { $0.failures["deadline", default: 0] += 1 }
                    continue
                }
                var leftover: [UInt8] = []
                do {
                    let fd = try openSubscriberSocket(host: host, port: port, path: path, token: tokens[index % tokens.count], leftover: &leftover)
                    results.withLockedValue { $0.sockets.append((fd, leftover)) }
                } catch {
                    results.withLockedValue { $0.failures[String(describing: error).prefix(80).description, default: 0] += 1 }
                }
                if (index + 1) % 2000 == 0 { log("\(index + 1) of \(count) connecting") }
            }
            all.leave()
        }.start()
    }
    all.wait()
    return results.withLockedValue { $0 }
}

#endif

// MARK: - main

let options = Options(CommandLine.arguments)
signal(SIGPIPE, SIG_IGN)
switch options.command {
case "submit": runSubmit(options)
case "fanout":
    #if os(Linux)
    runFanout(options)
    #else
    fail("fanout reads its subscribers with epoll: Linux only")
    #endif
default: Options.usage()
}
