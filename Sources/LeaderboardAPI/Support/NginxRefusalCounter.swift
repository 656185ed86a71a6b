import FastCGIPool
import Foundation
import LeaderboardCore
import Metrics

/// Counts the requests nginx refused by a limit, as `leaderboard_nginx_refused_total{limit}`.
///
/// nginx has no counter of its own for them, and a log line per refusal let one client fill a disk. So
/// the sites send one syslog datagram per refusal over loopback UDP instead (`access_log syslog:server=`
/// in the error location), whose message is the limit's name: `limit_req` or `limit_conn`. A datagram
/// costs nginx one `send` and this thread one `recv`, and is not stored. UDP rather than a unix socket:
/// a full receive queue drops a datagram without failing nginx's `send` (which would log a line), and
/// its queue is the socket's buffer, not `net.unix.max_dgram_qlen` datagrams (10 without systemd).
public final class NginxRefusalCounter: Sendable {
    /// The limits a site names; anything else counts as `other`, so a sender cannot make new series.
    static let limits = ["limit_req", "limit_conn"]

    private let socket: Int32
    /// Each limit's datagram ending (`: limit_req`) and its counter: matched on bytes, as a datagram comes
    /// per refusal.
    private let counters: [(ending: [UInt8], counter: Counter)]
    private let other: Counter

    /// Takes the datagram socket systemd passed after the FastCGI one (`ListenDatagram=` in
    /// leaderboard-api.socket), else binds one at `address`; nil without either.
    public static func open(address: (host: String, port: Int)?) throws(NginxRefusalCounterError) -> NginxRefusalCounter? {
        if let inherited = systemdSocket() { return NginxRefusalCounter(socket: inherited) }
        guard let address else { return nil }
        return NginxRefusalCounter(socket: try bind(host: address.host, port: address.port))
    }

    init(socket: Int32) {
        self.socket = socket
        counters = Self.limits.map { (Array(": \($0)".utf8), Self.counter($0)) }
        other = Self.counter("other")
    }

    /// Counts datagrams until the socket fails; run it on a thread of its own.
    ///
    /// Waits for a datagram, takes every one queued behind it, then pauses for `batchInterval`: during a
    /// flood the thread wakes up 100 times a second, not once per refusal, which made it cost as much
    /// CPU as nginx's own answer. The socket's buffer holds what comes meanwhile.
    public func run() {
        var buffer = [UInt8](repeating: 0, count: 512)
        func receive(flags: Int32) -> Int { buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, flags) } }
        while true {
            var count = receive(flags: 0)
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            while count >= 0 {
                counter(for: buffer[..<count]).increment()
                count = receive(flags: Int32(MSG_DONTWAIT))
            }
            usleep(Self.batchInterval)
        }
    }

    static let batchInterval: useconds_t = 10_000

    /// nginx's datagram is `<PRI>Mmm dd hh:mm:ss TAG: MESSAGE`; the message is the limit's name.
    func counter(for datagram: ArraySlice<UInt8>) -> Counter {
        counters.first { datagram.count >= $0.ending.count && datagram.suffix($0.ending.count).elementsEqual($0.ending) }?.counter ?? other
    }

    private static func counter(_ limit: String) -> Counter {
        Counter(label: "leaderboard_nginx_refused_total", dimensions: [("limit", limit)])
    }

    /// The second socket of `LISTEN_FDS` (fd 4), when systemd passed it to this process.
    private static func systemdSocket() -> Int32? {
        let environment = ProcessInfo.processInfo.environment
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
            let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 2
        else { return nil }
        return 4
    }

    private static func bind(host: String, port: Int) throws(NginxRefusalCounterError) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        let socket = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw .cannotBind(address: "\(host):\(port)", errno: errno) }
        // Room for a flood's datagrams between two batches; the kernel caps it at net.core.rmem_max.
        var bufferBytes: Int32 = 4 << 20
        setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &bufferBytes, socklen_t(MemoryLayout<Int32>.size))
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            let code = errno
            close(socket)
            throw .cannotBind(address: "\(host):\(port)", errno: code)
        }
        return socket
    }
}

public enum NginxRefusalCounterError: Error, CustomStringConvertible {
    case cannotBind(address: String, errno: Int32)

    public var description: String {
        switch self {
        case .cannotBind(let address, let code): "nginx refusals: cannot bind UDP \(address): \(String(cString: strerror(code)))"
        }
    }
}
