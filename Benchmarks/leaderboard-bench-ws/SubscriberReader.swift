// The subscribers of `fanout` without a SwiftNIO pipeline each: plain sockets, read by a couple of
// threads on epoll. The generator shares the two cores with the daemon, so what it spends per receipt
// is taken from the daemon; here a receipt costs one read() and a scan of the frame for its top score,
// with no allocation. What is measured is the same: each subscriber reads every push whole and checks
// the score it shows, and the time is taken when that read returns.
#if os(Linux)
import CEpoll
import Foundation
import Synchronization

/// Opens a WebSocket connection with a blocking handshake and returns its socket, non-blocking, once
/// the daemon answered 101; whatever followed the answer's head goes to `leftover`.
func openSubscriberSocket(host: String, port: Int, path: String, token: String, leftover: inout [UInt8]) throws(BenchError) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw .refused("socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
        close(fd)
        throw .refused("not an IPv4 address: \(host)")
    }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        let reason = String(cString: strerror(errno))
        close(fd)
        throw .refused("connect: \(reason)")
    }
    var key: [UInt8] = []
    for _ in 0..<16 { key.append(UInt8.random(in: 0...255)) }
    let request = Array(
        ("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(Data(key).base64EncodedString())\r\nSec-WebSocket-Version: 13\r\n"
            + "Authorization: Bearer \(token)\r\n\r\n").utf8)
    guard writeAll(fd, request) else {
        close(fd)
        throw .closed
    }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    let end = Array("\r\n\r\n".utf8)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else {
            close(fd)
            throw .closed
        }
        received.append(contentsOf: chunk[0..<count])
        if let head = received.firstRange(of: end) {
            let status = String(decoding: received[..<head.lowerBound], as: UTF8.self)
            guard status.hasPrefix("HTTP/1.1 101") else {
                close(fd)
                throw .refused(String(status.prefix { $0 != "\r" }))
            }
            leftover = Array(received[head.upperBound...])
            break
        }
    }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    return fd
}

/// Writes all of `bytes` to a blocking socket (or one with room for them).
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return false }
        offset += count
    }
    return true
}

/// A masked frame from a client (RFC 6455 §5.3), for the daemon to read.
func maskedFrame(opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
    precondition(payload.count <= 125, "control frames and the bench's messages are short")
    let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
    var frame: [UInt8] = [0x80 | opcode, 0x80 | UInt8(payload.count)] + mask
    for (index, byte) in payload.enumerated() { frame.append(byte ^ mask[index % 4]) }
    return frame
}

/// The top row's score in a board push, `{..."result":[{... "score":N ...}, ...], ...}` (keys sorted).
func topScore(_ bytes: UnsafeRawBufferPointer) -> Int? {
    let marker: StaticString = #""score":"#
    let markerCount = marker.utf8CodeUnitCount
    let markerBytes = marker.utf8Start
    guard bytes.count >= markerCount else { return nil }
    var index = 0
    let last = bytes.count - markerCount
    search: while index <= last {
        for offset in 0..<markerCount where bytes[index + offset] != markerBytes[offset] {
            index += 1
            continue search
        }
        var value = 0
        var digits = 0
        var cursor = index + markerCount
        while cursor < bytes.count, bytes[cursor] >= 48, bytes[cursor] <= 57 {
            value = value * 10 + Int(bytes[cursor] - 48)
            cursor += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }
    return nil
}

/// One thread's share of the subscribers: reads their sockets on its own epoll instance, answers the
/// daemon's pings, and keeps, for each subscriber and submission, when the subscriber read the push
/// that first showed it.
///
/// `@unchecked Sendable`: after `start()`, everything but the atomics is touched only by the reader's
/// thread, and the main thread reads the rest only after `stop()` returned (the thread has ended).
final class SubscriberReader: @unchecked Sendable {
    enum Command: Int {
        case run, watch, stop
    }

    private struct Subscriber {
        let fd: Int32
        /// The start of a frame that the last read did not complete (rare: pushes are small).
        var partial: [UInt8]
        var isOpen = true
        var seenFirst = false
    }

    private static let bufferSize = 256 * 1024
    private static let eventCapacity = 1024

    private let epoll: Int32
    private var subscribers: [Subscriber] = []
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
    private let command = Atomic<Int>(Command.run.rawValue)
    private let finished = Atomic<Bool>(false)
    private var watchMessage: [UInt8] = []
    /// After a read of ready sockets, the thread sleeps this long before it asks for more (0: not at all).
    private let pauseMicroseconds: UInt32

    /// Subscribers that have read their first push (the view as it was), and the top score they saw.
    let watching = Atomic<Int>(0)
    let firstTop = Atomic<Int>(0)
    /// Scores at or above `base` are submissions; 0 until the first is sent.
    let base = Atomic<Int>(0)
    /// Receipts of submissions so far.
    let received = Atomic<Int>(0)

    /// Per subscriber, `submissions` slots: when the push showing `base + slot` was read (0: never).
    private(set) var readAt: [UInt64] = []
    private var submissions = 0
    /// Pushes that showed a submission already received (counted, not timed again).
    private(set) var repeats = 0
    private(set) var errors: [String: Int] = [:]
    private(set) var closes: [String: Int] = [:]

    /// `pauseMicroseconds`: during a push, the sockets that became readable meanwhile are read in one
    /// batch after the pause, instead of each write waking the thread (a wake-up the daemon's write pays
    /// on loopback). A receipt is timed when its read returns, so a pause can only add to the latencies.
    init(pauseMicroseconds: UInt32) {
        self.pauseMicroseconds = pauseMicroseconds
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed")
    }

    deinit {
        buffer.deallocate()
        close(epoll)
    }

    var count: Int { subscribers.count }

    /// Before `start()`: takes the socket of an upgraded connection and what was read after the 101.
    func add(fd: Int32, leftover: [UInt8]) {
        var event = epoll_event(events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, data: epoll_data_t(u64: UInt64(subscribers.count)))
        precondition(epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0, "epoll_ctl failed")
        subscribers.append(Subscriber(fd: fd, partial: leftover))
    }

    /// Starts the thread; `submissions` is how many scores will be submitted, warm-up ones included.
    func start(watch: [UInt8], submissions: Int) {
        watchMessage = watch
        self.submissions = submissions
        readAt = [UInt64](repeating: 0, count: subscribers.count * submissions)
        let thread = Thread { self.run() }
        thread.name = "subscribers"
        thread.start()
    }

    /// Makes every subscriber send the watch message.
    func watchAll() {
        command.store(Command.watch.rawValue, ordering: .releasing)
    }

    /// Sends each subscriber's close frame, closes the sockets, and returns once the thread has ended.
    func stop() {
        command.store(Command.stop.rawValue, ordering: .releasing)
        while !finished.load(ordering: .acquiring) { usleep(1000) }
    }

    private func run() {
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Self.eventCapacity)
        defer { events.deallocate() }
        // Frames that came with the 101.
        for index in subscribers.indices where !subscribers[index].partial.isEmpty {
            let pending = subscribers[index].partial
            subscribers[index].partial = []
            pending.withUnsafeBytes { consume(index, $0, at: nowNanoseconds()) }
        }
        var watchSent = false
        while true {
            let ready = epoll_wait(epoll, events, Int32(Self.eventCapacity), 10)
            if ready > 0 {
                for slot in 0..<Int(ready) { readSocket(Int(events[slot].data.u64)) }
                if pauseMicroseconds > 0 { usleep(pauseMicroseconds) }
            }
            switch Command(rawValue: command.load(ordering: .acquiring)) {
            case .watch where !watchSent:
                watchSent = true
                for index in subscribers.indices where subscribers[index].isOpen {
                    writeAll(subscribers[index].fd, maskedFrame(opcode: 0x1, watchMessage))
                }
            case .stop:
                closeAll()
                finished.store(true, ordering: .releasing)
                return
            default:
                break
            }
        }
    }

    private func readSocket(_ index: Int) {
        guard subscribers[index].isOpen else { return }
        let fd = subscribers[index].fd
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count > 0 {
                let at = nowNanoseconds()
                if subscribers[index].partial.isEmpty {
                    consume(index, UnsafeRawBufferPointer(rebasing: buffer[0..<count]), at: at)
                } else {
                    var pending = subscribers[index].partial
                    subscribers[index].partial = []
                    pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    pending.withUnsafeBytes { consume(index, $0, at: at) }
                }
                // A full buffer may have left more to read; otherwise the socket is drained.
                if count < buffer.count || !subscribers[index].isOpen { return }
            } else if count < 0 && errno == EINTR {
                continue
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return
            } else {
                closes[count == 0 ? "eof" : "error", default: 0] += 1
                drop(index)
                return
            }
        }
    }

    /// Handles every whole frame in `bytes` (server frames are never masked) and keeps the rest.
    private func consume(_ index: Int, _ bytes: UnsafeRawBufferPointer, at: UInt64) {
        var offset = 0
        while subscribers[index].isOpen {
            let available = bytes.count - offset
            guard available >= 2 else { break }
            let opcode = bytes[offset] & 0x0F
            var length = Int(bytes[offset + 1] & 0x7F)
            var header = 2
            if length == 126 {
                guard available >= 4 else { break }
                length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
                header = 4
            } else if length == 127 {
                guard available >= 10 else { break }
                length = 0
                for byte in 0..<8 { length = length << 8 | Int(bytes[offset + 2 + byte]) }
                header = 10
            }
            guard bytes[offset + 1] & 0x80 == 0 else {
                closes["masked frame from the server", default: 0] += 1
                drop(index)
                return
            }
            guard available >= header + length else { break }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[(offset + header)..<(offset + header + length)])
            offset += header + length
            switch opcode {
            case 0x1:
                text(index, payload, at: at)
            case 0x9:
                writeAll(subscribers[index].fd, maskedFrame(opcode: 0xA, Array(payload)))
            case 0x8:
                closes[payload.count >= 2 ? String(UInt16(payload[0]) << 8 | UInt16(payload[1])) : "none", default: 0] += 1
                drop(index)
            default:
                break
            }
        }
        if offset < bytes.count && subscribers[index].isOpen {
            subscribers[index].partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        }
    }

    private func text(_ index: Int, _ payload: UnsafeRawBufferPointer, at: UInt64) {
        let score = topScore(payload)
        if !subscribers[index].seenFirst {
            subscribers[index].seenFirst = true
            if let score {
                var top = firstTop.load(ordering: .relaxed)
                while top < score {
                    let (exchanged, original) = firstTop.compareExchange(expected: top, desired: score, ordering: .relaxed)
                    if exchanged { break }
                    top = original
                }
            }
            watching.add(1, ordering: .releasing)
        }
        guard let score else {
            if payload.starts(with: #"{"error""#.utf8) {
                errors[String(decoding: payload.prefix(100), as: UTF8.self), default: 0] += 1
            }
            return
        }
        let base = base.load(ordering: .relaxed)
        guard base > 0, score >= base, score - base < submissions else { return }
        let slot = index * submissions + (score - base)
        if readAt[slot] == 0 {
            readAt[slot] = at
            received.store(received.load(ordering: .relaxed) + 1, ordering: .relaxed)
        } else {
            repeats += 1
        }
    }

    /// When subscriber `index` read the push showing submission `submission` (nil: never).
    func readAt(subscriber index: Int, submission: Int) -> UInt64? {
        let at = readAt[index * submissions + submission]
        return at == 0 ? nil : at
    }

    private func drop(_ index: Int) {
        subscribers[index].isOpen = false
        subscribers[index].partial = []
        epoll_ctl(epoll, EPOLL_CTL_DEL, subscribers[index].fd, nil)
        close(subscribers[index].fd)
    }

    private func closeAll() {
        let goodbye = maskedFrame(opcode: 0x8, [0x03, 0xE8])
        for index in subscribers.indices where subscribers[index].isOpen {
            writeAll(subscribers[index].fd, goodbye)
            subscribers[index].isOpen = false
            close(subscribers[index].fd)
        }
    }
}
#endif
