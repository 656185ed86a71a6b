import CEpoll
import Foundation

/// The epoll instance every worker of the pool waits on: the listening socket and each connection that waits
/// for its next request. Each is armed for one wake-up at a time (`EPOLLONESHOT`), so exactly one worker takes
/// it, and re-armed by that worker when it is done with it. Idle kept connections cost a registration here,
/// not a thread.
///
/// `@unchecked Sendable`: the two descriptors are set once in `init`, and epoll's calls are thread-safe.
final class ReadinessPoller: @unchecked Sendable {
    enum Event: Equatable {
        case listener
        case connection(Int32)
        case stop
    }

    private let epoll: Int32
    /// Readable once `signalStop` was called, and never read: level-triggered, so it wakes every worker in turn.
    private let stopEvent: Int32

    private static let listenerTag = UInt64.max - 1
    private static let stopTag = UInt64.max

    init() throws(FastCGIError) {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw .cannotPoll(errno: errno) }
        stopEvent = eventfd(0, Int32(EFD_CLOEXEC))
        guard stopEvent >= 0 else {
            let code = errno
            Glibc.close(epoll)
            throw .cannotPoll(errno: code)
        }
        var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: Self.stopTag))
        epoll_ctl(epoll, EPOLL_CTL_ADD, stopEvent, &event)
    }

    deinit {
        Glibc.close(stopEvent)
        Glibc.close(epoll)
    }

    func watchListener(_ socket: Int32) {
        control(EPOLL_CTL_ADD, socket, tag: Self.listenerTag)
    }

    func rearmListener(_ socket: Int32) {
        control(EPOLL_CTL_MOD, socket, tag: Self.listenerTag)
    }

    func watch(connection: Int32) {
        control(EPOLL_CTL_ADD, connection, tag: UInt64(connection))
    }

    func rearm(connection: Int32) {
        control(EPOLL_CTL_MOD, connection, tag: UInt64(connection))
    }

    func forget(_ descriptor: Int32) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
    }

    /// Blocks until the listener or a connection is readable (or closed), or the pool stops.
    func wait() -> Event {
        var event = epoll_event()
        while true {
            let count = epoll_wait(epoll, &event, 1, -1)
            if count == 1 { break }
            precondition(count == 0 || errno == EINTR, "epoll_wait failed: \(String(cString: strerror(errno)))")
        }
        switch event.data.u64 {
        case Self.stopTag: return .stop
        case Self.listenerTag: return .listener
        case let tag: return .connection(Int32(tag))
        }
    }

    /// Wakes every worker, now and in every later `wait`.
    func signalStop() {
        var one: UInt64 = 1
        _ = write(stopEvent, &one, MemoryLayout<UInt64>.size)
    }

    private func control(_ operation: Int32, _ descriptor: Int32, tag: UInt64) {
        // EPOLLRDHUP: a connection nginx closed wakes a worker, which finds the end and closes our side.
        var event = epoll_event(events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue, data: epoll_data_t(u64: tag))
        epoll_ctl(epoll, operation, descriptor, &event)
    }
}
