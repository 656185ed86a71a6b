import Foundation

/// What the pool sets on each connection it accepts, as libfcgi's own accept did.
public enum AcceptedSocket {
    /// Close-on-exec, and on TCP no Nagle delay: a response longer than libfcgi's 8 KiB stream buffer leaves in two
    /// writes, and Nagle held the second until the peer acknowledged the first, which nginx may delay for up to 40 ms
    /// (delayed ACK): a 100-row page on a kept TCP connection took 44 ms (README, "Configuration", `API_LISTEN`). A unix socket
    /// refuses `TCP_NODELAY`, which is harmless.
    public static func prepare(_ descriptor: Int32) {
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        var on: Int32 = 1
        _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
    }
}
