import NIOCore

/// The sessions watching one view, grouped by event loop: a push costs one task per loop, not one per session.
struct Audience {
    struct Group {
        let loop: any EventLoop
        var sessions: [ObjectIdentifier: NIOLoopBound<Session>] = [:]
    }

    private(set) var groups: [ObjectIdentifier: Group] = [:]
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// The channels of the sessions.
    var channels: [ObjectIdentifier] { groups.values.flatMap { $0.sessions.keys } }

    mutating func insert(_ session: NIOLoopBound<Session>, channel: ObjectIdentifier, loop: any EventLoop) {
        if groups[ObjectIdentifier(loop), default: Group(loop: loop)].sessions.updateValue(session, forKey: channel) == nil {
            count += 1
        }
    }

    mutating func formUnion(_ other: Audience) {
        for group in other.groups.values {
            for (channel, session) in group.sessions { insert(session, channel: channel, loop: group.loop) }
        }
    }

    mutating func remove(channel: ObjectIdentifier, loop: any EventLoop) {
        let key = ObjectIdentifier(loop)
        guard groups[key]?.sessions.removeValue(forKey: channel) != nil else { return }
        count -= 1
        if groups[key]?.sessions.isEmpty == true { groups[key] = nil }
    }
}
