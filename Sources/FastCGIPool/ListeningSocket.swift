import Foundation

/// The pool's listening socket, opened here rather than by libfcgi's `FCGX_OpenSocket`, which calls `exit()` itself
/// on a host it cannot resolve or a bind that fails: the pool throws instead, and its executable says which setting
/// is wrong.
enum ListeningSocket {
    static func open(_ address: FastCGIServer.Address, backlog: Int32) throws(FastCGIError) -> Int32 {
        switch address {
        case .unix(let path):
            guard var socketAddress = unixAddress(path) else { throw .cannotListen(address: address.description, errno: ENAMETOOLONG) }
            return try withUnsafePointer(to: &socketAddress) { pointer throws(FastCGIError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer throws(FastCGIError) in
                    try listen(family: AF_UNIX, on: pointer, length: socklen_t(MemoryLayout<sockaddr_un>.size), backlog: backlog, address)
                }
            }
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_flags = AI_PASSIVE
            // IPv4, as libfcgi listened (and as FCGI_WEB_SERVER_ADDRS names nginx): `localhost` must not become ::1 alone.
            hints.ai_family = AF_INET
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var found: UnsafeMutablePointer<addrinfo>?
            // "*" is libfcgi's spelling of every address.
            let status = getaddrinfo(host == "*" ? nil : host, String(port), &hints, &found)
            guard status == 0, let first = found else {
                throw .cannotResolve(address: address.description, reason: String(cString: gai_strerror(status)))
            }
            defer { freeaddrinfo(first) }
            var failure = EADDRNOTAVAIL
            for candidate in sequence(first: first, next: { $0.pointee.ai_next }) {
                do {
                    return try listen(
                        family: candidate.pointee.ai_family, on: candidate.pointee.ai_addr, length: candidate.pointee.ai_addrlen, backlog: backlog,
                        address)
                } catch .cannotListen(_, let code) {
                    failure = code
                } catch {
                    throw error
                }
            }
            throw .cannotListen(address: address.description, errno: failure)
        }
    }

    /// `path` as a unix socket address; nil when it is too long for one.
    static func unixAddress(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return address
    }

    private static func listen(
        family: Int32, on socketAddress: UnsafePointer<sockaddr>, length: socklen_t, backlog: Int32, _ address: FastCGIServer.Address
    ) throws(FastCGIError) -> Int32 {
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .cannotListen(address: address.description, errno: errno) }
        var on: Int32 = 1
        if family != AF_UNIX { _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) }
        guard bind(descriptor, socketAddress, length) == 0, Glibc.listen(descriptor, backlog) == 0 else {
            let code = errno
            close(descriptor)
            throw .cannotListen(address: address.description, errno: code)
        }
        return descriptor
    }
}
