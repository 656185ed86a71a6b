import Foundation
import LeaderboardCore
import Logging
import Metrics
import NIOCore

/// A submission as the apply script announced it on `lb:events`.
struct BoardEvent: Decodable, Sendable, Equatable {
    let game: String
    let userId: Int
    let score: Int
    let periods: [String]
    /// The player's global all-time total before and after (-1: not on the board), when it changed.
    let totalBefore: Int?
    let totalAfter: Int?
    /// When Redis published it, in milliseconds since the epoch.
    let at: Int?
}

/// New content of the view a session watches; delivered through the session's pipeline.
struct ViewUpdate: Sendable {
    let view: Hub.View
    let text: ByteBuffer
}

/// The view a session watched can never be shown (an unknown game, say).
struct ViewFailed: Sendable {
    let view: Hub.View
    let message: String
}

/// What the daemon tells a session to do.
enum SessionCommand: Sendable {
    case goingAway
    case revoked
}

/// The fan-out point of one daemon: which sessions watch which view, what each view showed last, and
/// which views a burst of events made stale. Per short tick it recomputes each stale view once, on the
/// store workers, and sends the result to the view's watchers only when the content changed.
///
/// `@unchecked Sendable`: every stored property is touched only on `loop`; the public entry points hop there.
final class Hub: @unchecked Sendable {
    enum View: Hashable, Sendable {
        case board(BoardView)
        /// The player's row on the global all-time board, for `/my-score`.
        case standing(userId: Int)
    }

    static let tick = TimeAmount.milliseconds(50)
    static let revocationSweep = TimeAmount.seconds(15)
    static let retryDelay = TimeAmount.seconds(1)

    let loop: any EventLoop
    private let workers: StoreWorkers
    private let logger: Logger
    private var watchers: [View: [ObjectIdentifier: any Channel]] = [:]
    private var viewOfChannel: [ObjectIdentifier: View] = [:]
    private var content: [View: ByteBuffer] = [:]
    /// Each watched player's last known global total, to tell whose rank an event moved.
    private var standingTotal: [Int: Int] = [:]
    private var pendingEvents: [BoardEvent] = []
    private var stale: Set<View> = []
    /// When the oldest event not yet shown in a stale view arrived, for the push-latency histogram.
    private var staleSince: [View: NIODeadline] = [:]
    private var computing: Set<View> = []
    private var retryAt: [View: NIODeadline] = [:]
    private var tokens: [ObjectIdentifier: (channel: any Channel, tokenKey: String)] = [:]
    private var lastDay = UTCDay.today

    init(loop: any EventLoop, workers: StoreWorkers, logger: Logger) {
        self.loop = loop
        self.workers = workers
        self.logger = logger
    }

    func start() {
        loop.scheduleRepeatedTask(initialDelay: Self.tick, delay: Self.tick) { _ in self.runTick() }
        loop.scheduleRepeatedTask(initialDelay: Self.revocationSweep, delay: Self.revocationSweep) { _ in self.sweepRevocations() }
    }

    /// Makes `channel` watch `view` (and only it), sending what the view shows now.
    func watch(_ view: View, channel: any Channel) {
        loop.execute {
            self.removeWatcher(ObjectIdentifier(channel))
            self.watchers[view, default: [:]][ObjectIdentifier(channel)] = channel
            self.viewOfChannel[ObjectIdentifier(channel)] = view
            if let current = self.content[view] {
                channel.pipeline.fireUserInboundEventTriggered(ViewUpdate(view: view, text: current))
            } else {
                self.stale.insert(view)
            }
        }
    }

    /// Remembers an authenticated session's token, so a revocation closes it.
    func track(channel: any Channel, tokenKey: String) {
        loop.execute { self.tokens[ObjectIdentifier(channel)] = (channel, tokenKey) }
    }

    func forget(channel: any Channel) {
        loop.execute {
            self.removeWatcher(ObjectIdentifier(channel))
            self.tokens[ObjectIdentifier(channel)] = nil
        }
    }

    /// Records how late an event arrived after Redis published it.
    static func recordLag(of event: BoardEvent) {
        guard let at = event.at else { return }
        let lagMilliseconds = max(0, Int64(Date().timeIntervalSince1970 * 1000) - Int64(at))
        Timer(label: "leaderboard_pubsub_lag_seconds").recordMilliseconds(lagMilliseconds)
    }

    func publish(_ event: BoardEvent) {
        loop.execute { self.pendingEvents.append(event) }
    }

    /// After a gap in the event stream nothing can be trusted: every view is recomputed.
    func refreshAll() {
        loop.execute { self.stale.formUnion(self.watchers.keys) }
    }

    var watcherCount: EventLoopFuture<Int> {
        loop.submit { self.viewOfChannel.count }
    }

    private func removeWatcher(_ id: ObjectIdentifier) {
        guard let view = viewOfChannel.removeValue(forKey: id) else { return }
        watchers[view]?[id] = nil
        if watchers[view]?.isEmpty == true {
            watchers[view] = nil
            content[view] = nil
            stale.remove(view)
            retryAt[view] = nil
            if case .standing(let user) = view { standingTotal[user] = nil }
        }
    }

    private func runTick() {
        let today = UTCDay.today
        if today != lastDay {
            // A new day, week or month: views of the current period now show another board.
            lastDay = today
            stale.formUnion(watchers.keys)
        }
        markStale(by: pendingEvents, today: today, now: .now())
        pendingEvents.removeAll(keepingCapacity: true)
        let now = NIODeadline.now()
        let due = stale.filter { view in !computing.contains(view) && (retryAt[view].map { $0 <= now } ?? true) }
        for view in due { refresh(view, today: today) }
    }

    // Loop bodies live in functions of their own (not inlined): the optimizer's loop passes slowed a
    // release build of this module to many minutes when they saw the whole future chain inside a loop.
    @inline(never)
    private func refresh(_ view: View, today: UTCDay) {
        stale.remove(view)
        computing.insert(view)
        workers.run(on: loop) { context in try Self.render(view, context: context, today: today) }
            .whenComplete { result in self.finish(view, result) }
    }

    /// Board views of a touched game (or of the global board) and period; standing views of players
    /// the submitter passed, or of the submitter.
    private func markStale(by events: [BoardEvent], today: UTCDay, now: NIODeadline) {
        guard !events.isEmpty else { return }
        var touched: Set<String> = []
        var submitters: Set<Int> = []
        var crossings: [(from: Int, to: Int)] = []
        for event in events {
            for period in event.periods {
                touched.insert(event.game + " " + period)
                touched.insert(BoardIndex.globalGame + " " + period)
            }
            submitters.insert(event.userId)
            if let before = event.totalBefore, let after = event.totalAfter { crossings.append((before, after)) }
        }
        for view in watchers.keys where !stale.contains(view) {
            if isTouched(view, boards: touched, submitters: submitters, crossings: crossings, today: today) {
                stale.insert(view)
                if staleSince[view] == nil { staleSince[view] = now }
            }
        }
    }

    @inline(never)
    private func isTouched(_ view: View, boards: Set<String>, submitters: Set<Int>, crossings: [(from: Int, to: Int)], today: UTCDay) -> Bool {
        switch view {
        case .board(let board):
            return boards.contains(board.game + " " + board.boardPeriod(today: today).key)
        case .standing(let user):
            if submitters.contains(user) { return true }
            // Someone who went from at or below this player's total to above it moved them down a rank.
            guard let mine = standingTotal[user] else { return false }
            return crossings.contains { $0.from <= mine && mine < $0.to }
        }
    }

    private func finish(_ view: View, _ result: Result<(text: [UInt8], total: Int?), any Error>) {
        computing.remove(view)
        guard let watching = watchers[view] else { return }
        switch result {
        case .success(let rendered):
            retryAt[view] = nil
            if case .standing(let user) = view { standingTotal[user] = rendered.total }
            let text = ByteBuffer(bytes: rendered.text)
            let since = staleSince.removeValue(forKey: view)
            guard content[view] != text else { return }
            content[view] = text
            Self.deliver(ViewUpdate(view: view, text: text), to: watching.values)
            Counter(label: "leaderboard_ws_pushes_total").increment(by: watching.count)
            if let since {
                Timer(label: "leaderboard_ws_push_latency_seconds").recordNanoseconds((NIODeadline.now() - since).nanoseconds)
            }
        case .failure(let error as APIError) where error.status < 500 && error.status != 401:
            for (id, channel) in watching {
                viewOfChannel[id] = nil
                channel.pipeline.fireUserInboundEventTriggered(ViewFailed(view: view, message: MessageError(error).text))
            }
            watchers[view] = nil
        case .failure(let error as IndexError) where !error.isUnavailable:
            // Not an outage: asking again would fail the same way, each second, and the watchers would hear nothing.
            logger.error("view cannot be computed", metadata: ["error": "\(error)"])
            for (id, channel) in watching {
                viewOfChannel[id] = nil
                channel.pipeline.fireUserInboundEventTriggered(ViewFailed(view: view, message: "this view cannot be shown"))
            }
            watchers[view] = nil
        case .failure(let error):
            Observability.storeError("redis")
            logger.warning("view refresh failed; retrying", metadata: ["error": "\(error)"])
            retryAt[view] = .now() + Self.retryDelay
            stale.insert(view)
        }
    }

    @inline(never)
    static func deliver(_ event: some Sendable, to channels: some Sequence<any Channel>) {
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(event) }
    }

    private func sweepRevocations() {
        let keys = Set(tokens.values.map(\.tokenKey))
        guard !keys.isEmpty else { return }
        workers.run(on: loop) { context in try Set(keys.filter { try context.revocations.isRevoked($0) }) }
            .whenSuccess { revoked in
                Self.deliver(SessionCommand.revoked, to: self.tokens.values.filter { revoked.contains($0.tokenKey) }.map(\.channel))
            }
    }

    /// A view's JSON as clients receive it, and for a standing view the player's total.
    static func render(_ view: View, context: StoreContext, today: UTCDay) throws -> (text: [UInt8], total: Int?) {
        switch view {
        case .board(let board):
            let page = try context.leaderboard.page(
                game: board.game, period: board.period, date: board.date ?? today, start: board.start, end: board.end)
            let push = BoardPush(
                result: page.result, totalCount: page.totalCount, game: board.game, period: board.period, start: board.start, end: board.end)
            return (try Wire.encode(push), nil)
        case .standing(let user):
            let row = try context.index.around(userId: user, game: BoardIndex.globalGame, period: .allTime, radius: 0)?.around.first
            return (try Wire.encode(StandingPush(result: row)), row?.score)
        }
    }
}

/// A page of a watched board; the view's own fields come along, so a client that just switched views
/// can tell a late push for the old one from the new.
struct BoardPush: Encodable {
    let result: [BoardRow]
    let totalCount: Int
    let game: String
    let period: PeriodKind
    let start: Int
    let end: Int
}

struct StandingPush: Encodable {
    let result: BoardRow?

    enum CodingKeys: String, CodingKey { case result }

    /// `result` is written as null for a player not on the board yet.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(result, forKey: .result)
    }
}

/// JSON for the wire: sorted keys, so equal content is equal bytes and "changed" is a byte compare.
enum Wire {
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}

