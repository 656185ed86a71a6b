import Foundation
import LeaderboardCore
import Logging
import Metrics
import NIOCore

/// What the daemon tells a session to do.
enum SessionCommand: Sendable {
    case goingAway
    case revoked
}

/// The fan-out point of one daemon: which sessions watch which view, what each view showed last, and
/// which views events made stale. Events are applied as they arrive (at most every `applyInterval`); a
/// view they make stale is recomputed on the store workers at once, and once more however many events
/// arrive while it is computed. Its watchers get the result only when the content changed: one task per
/// event loop, which writes the same frame to each of its sessions.
///
/// A session that starts watching a view (or asks for it again) is answered by a computation that starts after it
/// asked, never from what the hub showed before: a score whose 200 was sent before the request is in the answer,
/// even when its event has not reached this daemon yet. Sessions that ask while a computation runs share the next one.
///
/// `@unchecked Sendable`: every stored property is touched only on `loop`; the public entry points hop there.
final class Hub: @unchecked Sendable {
    enum View: Hashable, Sendable {
        case board(BoardView)
        /// The player's row on the global all-time board, for `/my-score`.
        case standing(userId: Int)
    }

    /// Computes a view's JSON (and for a standing view the player's total) off the loop; the future
    /// completes on the hub's loop.
    typealias Renderer = @Sendable (View, UTCDay) -> EventLoopFuture<(text: [UInt8], total: Int?)>

    /// How often the hub looks for a new day (views of the current period show another board then) and
    /// for failed views due for another try; events are handled as they arrive.
    static let tick = TimeAmount.milliseconds(250)
    /// Events are applied as they arrive, but at most this often: under a stream of them, each pass over
    /// the watched views takes in all that came meanwhile, and a view changes at most this often, so a
    /// client that reads a little slower than that does not fall seconds behind in its socket's buffers.
    static let applyInterval = TimeAmount.milliseconds(50)
    static let revocationSweep = TimeAmount.seconds(15)
    static let retryDelay = TimeAmount.seconds(1)

    let loop: any EventLoop
    private let workers: StoreWorkers
    private let render: Renderer
    private let logger: Logger
    /// The sessions a view was shown to, which get its changes.
    private var watchers: [View: Audience] = [:]
    /// Sessions that asked for a view and wait for a computation that starts after they asked.
    private var newcomers: [View: Audience] = [:]
    /// The newcomers the running computation of a view answers; watchers once it has.
    private var answering: [View: Audience] = [:]
    private var viewOfChannel: [ObjectIdentifier: View] = [:]
    private var content: [View: ViewUpdate] = [:]
    /// Each watched player's last known global total, to tell whose rank an event moved.
    private var standingTotal: [Int: Int] = [:]
    private var pendingEvents: [BoardEvent] = []
    /// Whether a task that applies `pendingEvents` is queued on `loop`: a burst of events shares one.
    private var isApplyQueued = false
    private var lastApply = NIODeadline.distantPast
    private var stale: Set<View> = []
    /// When the oldest event not yet shown in a stale view arrived, for the push-latency histogram.
    private var staleSince: [View: NIODeadline] = [:]
    private var computing: Set<View> = []
    private var retryAt: [View: NIODeadline] = [:]
    private var tokens: [ObjectIdentifier: (channel: any Channel, tokenKey: String)] = [:]
    private var lastDay = UTCDay.today
    private var repeatedTasks: [RepeatedTask] = []

    /// `render` stands in for the stores in tests; by default a view is rendered on the store workers.
    init(loop: any EventLoop, workers: StoreWorkers, logger: Logger, render: Renderer? = nil) {
        self.loop = loop
        self.workers = workers
        self.render =
            render ?? { view, today in
                workers.run(on: loop) { context in try ViewRenderer.render(view, context: context, today: today) }
            }
        self.logger = logger
    }

    func start() {
        loop.execute {
            self.repeatedTasks = [
                self.loop.scheduleRepeatedTask(initialDelay: Self.tick, delay: Self.tick) { _ in self.runTick() },
                self.loop.scheduleRepeatedTask(initialDelay: Self.revocationSweep, delay: Self.revocationSweep) { _ in self.sweepRevocations() },
            ]
        }
    }

    /// Cancels the tick and the revocation sweep; the future completes once neither runs again.
    func stop() -> EventLoopFuture<Void> {
        loop.flatSubmit {
            let cancelled = self.repeatedTasks.map { task in
                let promise = self.loop.makePromise(of: Void.self)
                task.cancel(promise: promise)
                return promise.futureResult
            }
            self.repeatedTasks = []
            return .andAllSucceed(cancelled, on: self.loop)
        }
    }

    /// Makes the session of `channel` watch `view` (and only it), sending what the view shows now.
    func watch(_ view: View, session: NIOLoopBound<Session>, channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let channelLoop = channel.eventLoop
        loop.execute {
            self.removeWatcher(id, loop: channelLoop)
            self.newcomers[view, default: Audience()].insert(session, channel: id, loop: channelLoop)
            self.viewOfChannel[id] = view
            self.stale.insert(view)
            self.refreshDueViews()
        }
    }

    /// Every view a session watches or is being answered (the newcomers' views are stale already).
    private var shownViews: Set<View> { Set(watchers.keys).union(answering.keys) }

    /// Remembers an authenticated session's token, so a revocation closes it.
    func track(channel: any Channel, tokenKey: String) {
        loop.execute { self.tokens[ObjectIdentifier(channel)] = (channel, tokenKey) }
    }

    func forget(channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let channelLoop = channel.eventLoop
        loop.execute {
            self.removeWatcher(id, loop: channelLoop)
            self.tokens[id] = nil
        }
    }

    /// Records how late an event arrived after Redis published it.
    static func recordLag(of event: BoardEvent) {
        guard let at = event.at else { return }
        let lagMilliseconds = max(0, Int64(Date().timeIntervalSince1970 * 1000) - Int64(at))
        Timer(label: "leaderboard_pubsub_lag_seconds").recordMilliseconds(lagMilliseconds)
    }

    func publish(_ events: [BoardEvent]) {
        loop.execute {
            self.pendingEvents.append(contentsOf: events)
            guard !self.isApplyQueued else { return }
            self.isApplyQueued = true
            let wait = self.lastApply + Self.applyInterval - .now()
            if wait > .zero {
                self.loop.scheduleTask(in: wait) { self.applyPendingEvents() }
            } else {
                // Queued behind the events already on their way to the loop, which it applies too.
                self.loop.execute { self.applyPendingEvents() }
            }
        }
    }

    /// After a gap in the event stream nothing can be trusted: every view is recomputed. The open sockets' tokens
    /// are checked too, not at the next sweep: an admin's ban or sign-out publishes such an event once the revocations
    /// are in Redis's cache, so the player's sockets close at once.
    func refreshAll() {
        loop.execute {
            self.stale.formUnion(self.shownViews)
            self.refreshDueViews()
            self.sweepRevocations()
        }
    }

    var watcherCount: EventLoopFuture<Int> {
        loop.submit { self.viewOfChannel.count }
    }

    private func removeWatcher(_ id: ObjectIdentifier, loop channelLoop: any EventLoop) {
        guard let view = viewOfChannel.removeValue(forKey: id) else { return }
        for audiences in [\Hub.watchers, \Hub.newcomers, \Hub.answering] {
            self[keyPath: audiences][view]?.remove(channel: id, loop: channelLoop)
            if self[keyPath: audiences][view]?.isEmpty == true { self[keyPath: audiences][view] = nil }
        }
        if watchers[view] == nil && newcomers[view] == nil && answering[view] == nil {
            content[view] = nil
            stale.remove(view)
            staleSince[view] = nil
            retryAt[view] = nil
            if case .standing(let user) = view { standingTotal[user] = nil }
        }
    }

    private func applyPendingEvents() {
        isApplyQueued = false
        lastApply = .now()
        markStale(by: pendingEvents, today: .today, now: .now())
        pendingEvents.removeAll(keepingCapacity: true)
        refreshDueViews()
    }

    private func runTick() {
        let today = UTCDay.today
        if today != lastDay {
            // A new day, week or month: views of the current period now show another board.
            lastDay = today
            stale.formUnion(shownViews)
        }
        refreshDueViews()
    }

    /// Starts computing each stale view that is not being computed already nor waiting to be retried.
    private func refreshDueViews() {
        guard !stale.isEmpty else { return }
        let now = NIODeadline.now()
        let today = UTCDay.today
        let due = stale.filter { view in !computing.contains(view) && (retryAt[view].map { $0 <= now } ?? true) }
        for view in due { refresh(view, today: today) }
    }

    // Loop bodies live in functions of their own (not inlined): the optimizer's loop passes slowed a
    // release build of this module to many minutes when they saw the whole future chain inside a loop.
    @inline(never)
    private func refresh(_ view: View, today: UTCDay) {
        stale.remove(view)
        computing.insert(view)
        if let asked = newcomers.removeValue(forKey: view) { answering[view, default: Audience()].formUnion(asked) }
        render(view, today).whenComplete { result in self.finish(view, result) }
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
        for view in shownViews where !stale.contains(view) {
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
            // Someone whose total passed this player's moved them a rank: up past it (down a rank) or, on a `latest` or
            // `sum` game, down past it (up a rank).
            guard let mine = standingTotal[user] else { return false }
            return crossings.contains { min($0.from, $0.to) <= mine && mine < max($0.from, $0.to) }
        }
    }

    private func finish(_ view: View, _ result: Result<(text: [UInt8], total: Int?), any Error>) {
        computing.remove(view)
        // Events that arrived while it was computed: once more, at once.
        defer { if stale.contains(view) && retryAt[view] == nil { refresh(view, today: .today) } }
        let asked = answering.removeValue(forKey: view) ?? Audience()
        guard watchers[view] != nil || !asked.isEmpty else { return }
        switch result {
        case .success(let rendered):
            retryAt[view] = nil
            if case .standing(let user) = view { standingTotal[user] = rendered.total }
            let update = ViewUpdate(view: view, text: rendered.text)
            let since = staleSince.removeValue(forKey: view)
            if content[view]?.frame != update.frame, let audience = watchers[view] {
                Self.deliver(update, to: audience)
                Counter(label: "leaderboard_ws_pushes_total").increment(by: audience.count)
                if let since {
                    Timer(label: "leaderboard_ws_push_latency_seconds").recordNanoseconds((NIODeadline.now() - since).nanoseconds)
                }
            }
            content[view] = update
            if !asked.isEmpty {
                Self.deliver(update, to: asked)
                watchers[view, default: Audience()].formUnion(asked)
            }
        case .failure(let error):
            switch (SocketFailure(error), error) {
            case (.refused(let reason), _):
                drop(view, along: asked, telling: ViewFailed(view: view, message: reason.text))
            case (_, let error as IndexError) where !error.isUnavailable:
                // Not an outage: asking again would fail the same way, each second, and the watchers would hear nothing.
                logger.error("view cannot be computed", metadata: ["error": "\(error)"])
                drop(view, along: asked, telling: ViewFailed(view: view, message: "this view cannot be shown"))
            default:
                Observability.storeError("redis")
                logger.warning("view refresh failed; retrying", metadata: ["error": "\(error)"])
                retryAt[view] = .now() + Self.retryDelay
                stale.insert(view)
                // The retry answers them.
                newcomers[view, default: Audience()].formUnion(asked)
            }
        }
    }

    /// Stops the watching of a view that can never be shown, and tells its watchers, those who asked for it (`asked`
    /// among them) too.
    private func drop(_ view: View, along asked: Audience, telling failure: ViewFailed) {
        var audience = asked
        for audiences in [\Hub.watchers, \Hub.newcomers] {
            if let more = self[keyPath: audiences].removeValue(forKey: view) { audience.formUnion(more) }
        }
        stale.remove(view)
        staleSince[view] = nil
        for channel in audience.channels { viewOfChannel[channel] = nil }
        Self.deliver(to: audience) { { $0.receive(failure) } }
    }

    /// A view's frame to each session of `audience`, from a buffer of each loop's own.
    private static func deliver(_ update: ViewUpdate, to audience: Audience) {
        deliver(to: audience) {
            let local = update.copied()
            return { $0.receive(local) }
        }
    }

    /// One task per event loop, which hands each of that loop's sessions to the body `bodyForLoop` makes for
    /// that loop (once per loop, so the body can hold what the loop's sessions share, such as a frame).
    @inline(never)
    private static func deliver(to audience: Audience, _ bodyForLoop: () -> @Sendable (Session) -> Void) {
        for group in audience.groups.values {
            let sessions = group.sessions
            let body = bodyForLoop()
            group.loop.execute { Self.hand(sessions, to: body) }
        }
    }

    @inline(never)
    private static func hand(_ sessions: [ObjectIdentifier: NIOLoopBound<Session>], to body: (Session) -> Void) {
        for session in sessions.values { body(session.value) }
    }

    /// Sends `event` through the pipeline of each channel, from any thread.
    @inline(never)
    static func deliver(_ event: some Sendable, to channels: some Sequence<any Channel>) {
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(event) }
    }

    func checkRevocations() {
        loop.execute { self.sweepRevocations() }
    }

    private func sweepRevocations() {
        let keys = Set(tokens.values.map(\.tokenKey))
        guard !keys.isEmpty else { return }
        workers.run(on: loop) { context in try context.stores.revocations.revoked(among: Array(keys)) }
            .whenSuccess { revoked in
                Self.deliver(SessionCommand.revoked, to: self.tokens.values.filter { revoked.contains($0.tokenKey) }.map(\.channel))
            }
    }
}
