import FastCGIPool
import Foundation
import Testing

/// What the pool sets on a connection it accepts, read back from real sockets.
@Suite struct AcceptedSocketTests {
    func option(_ descriptor: Int32, _ level: Int32, _ name: Int32) -> Int32 {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, level, name, &value, &length) == 0 ? value : -1
    }

    @Test func aTCPConnectionSendsWithoutNagleDelayAndClosesOnExec() throws {
        let (client, accepted) = try LoopbackSockets.connection()
        defer { for end in [client, accepted] { close(end) } }
        #expect(option(accepted, Int32(IPPROTO_TCP), TCP_NODELAY) == 0, "a fresh connection waits for ACKs (Nagle)")
        AcceptedSocket.prepare(accepted)
        #expect(option(accepted, Int32(IPPROTO_TCP), TCP_NODELAY) != 0)
        #expect(fcntl(accepted, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func aUnixConnectionClosesOnExec() throws {
        let pair = try LoopbackSockets.unixPair()
        defer { for end in pair { close(end) } }
        AcceptedSocket.prepare(pair[1])
        #expect(fcntl(pair[1], F_GETFD) & FD_CLOEXEC != 0)
    }
}
