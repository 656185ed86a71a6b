import Foundation

/// Submissions and board reads, for the REST API and the WebSocket daemon alike.
public final class LeaderboardService {
    public enum Submission: Sendable {
        /// Stored and on the boards.
        case applied(SubmissionResult)
        /// Stored in PostgreSQL; the index was unavailable, so the reconciler will apply it.
        case queued(QueuedSubmission)
    }

    /// A validated submission waiting for its batch.
    public struct PendingScore: Sendable {
        let score: NewScore
        let name: String
        let today: UTCDay
    }

    /// What became of a submission in its batch.
    public enum Landed: Sendable {
        case applied(StoredScore, BoardIndex.Applied)
        /// Stored; the index was unavailable, so the reconciler will apply it.
        case queued(StoredScore)
        /// Refused (a revoked token, an archived or authoritative game, a score out of bounds). Nothing was stored.
        case refused(ServiceError)
    }

    /// Group commit for a process's submissions: one PostgreSQL statement (one commit) for those that arrive while the
    /// previous batch is stored, then one Redis round trip for the batch, which overlaps the next batch's statement, and
    /// the answers. Share one between the services of a process's workers, and start its stages (`SharedWork`).
    public typealias SubmissionBatches = GroupCommit<PendingScore, Insertion, Submission>

    /// A process's group commit, with what it answers a submission past `GroupCommit.maximumWaiting` (503).
    public static func submissionBatches() -> SubmissionBatches {
        SubmissionBatches(refusal: "too many scores are waiting to be stored; retry shortly")
    }

    public static let maximumPageRows = 100
    public static let maximumAround = 50
    static let maximumReportDays = 3660
    static let idempotencyAnswerSeconds = 86_400
    /// The default of `SCORE_RATE_PER_MINUTE`.
    public static let defaultSubmissionsPerMinute = 120

    let scores: any ScoreStore
    let index: any RankingIndex
    let games: any GameCatalog
    let ephemeral: any EphemeralStore
    /// Asked whether a submission's token is revoked when its statement could not say (it failed); nil: not asked.
    let revocations: (any TokenRevocations)?
    /// Nil: each submission is stored and applied alone, on the caller's thread (unit tests).
    let batches: SubmissionBatches?
    let pages: PageCache?
    let reports: ReportCache?
    let postgresReports: WorkSlots
    /// How many submissions a player may send to one game within a minute (API keys are not limited).
    let submissionsPerMinute: Int

    /// Reports a process makes from PostgreSQL at once (see `postgresReports`).
    public static let postgresReportsAtOnce = 2

    /// `batches`, `pages`, `reports` and `postgresReports`: one each for all the workers of the process; with no `pages`,
    /// every page is read with the page script, with no `reports` every report is made anew. A report made from
    /// PostgreSQL (a range older than the boards kept, a `latest` or `sum` game) reads every score of its range and is
    /// never kept, and anyone may ask for one: at most `postgresReports` are made at once, the others refused (503).
    public init(
        scores: any ScoreStore, index: any RankingIndex, games: any GameCatalog, ephemeral: any EphemeralStore,
        revocations: (any TokenRevocations)? = nil, batches: SubmissionBatches? = nil, pages: PageCache? = nil, reports: ReportCache? = nil,
        postgresReports: WorkSlots = LeaderboardService.postgresReportSlots(), submissionsPerMinute: Int = defaultSubmissionsPerMinute
    ) {
        self.scores = scores
        self.index = index
        self.games = games
        self.ephemeral = ephemeral
        self.revocations = revocations
        self.batches = batches
        self.pages = pages
        self.reports = reports
        self.postgresReports = postgresReports
        self.submissionsPerMinute = submissionsPerMinute
    }

    /// A process's slots for reports made from PostgreSQL.
    public static func postgresReportSlots(_ count: Int = postgresReportsAtOnce) -> WorkSlots {
        WorkSlots(count, refusal: "too many reports are being made from the score history right now; retry shortly")
    }

    /// Validates, stores in PostgreSQL, then applies to the index, in a batch with the submissions other
    /// workers make meanwhile; `completion` gets the outcome, on the group commit's thread (see `GroupCommit`). A retry
    /// with the same idempotency key gets the first answer and stores nothing twice; the same key with another game or
    /// score is a validation error. With `tokenKey`, a revoked token is refused (unauthorized) by the statement that
    /// stores the score. A player's own submissions (not `isTrusted`, a game server's) are limited to
    /// `submissionsPerMinute` per game, and refused (forbidden) on an authoritative game. Throws, calling no
    /// completion, what is wrong with the submission itself (an unknown game, a bad key), or when too many wait.
    public func submit(
        userId: Int, name: String, game: String, score: Int, idempotencyKey: String?, unlessRevoked tokenKey: String? = nil,
        isTrusted: Bool = false, now: Date = Date(), completion: @escaping @Sendable (Result<Submission, any Error>) -> Void
    ) throws {
        // Bounds, archiving and `authoritative` are checked by the statement that stores the score, against the game as it is then.
        guard try games.game(game) != nil else {
            let active = try games.games().filter { !$0.archived }.map(\.slug)
            throw ServiceError.validation(field: "game", "unknown game '\(game)'; one of: \(active.joined(separator: ", "))")
        }
        if let key = idempotencyKey, key.isEmpty || key.utf8.count > 200 {
            throw ServiceError.validation(field: "Idempotency-Key", "must be 1 to 200 bytes")
        }
        let pending = PendingScore(
            score: NewScore(userId: userId, game: game, score: score, idempotencyKey: idempotencyKey, tokenKey: tokenKey, isTrusted: isTrusted),
            name: name,
            today: UTCDay(epochSeconds: Int(now.timeIntervalSince1970)))
        if let batches {
            try batches.submit(pending, completion: completion)
        } else {
            completion(finish([pending], stored: store([pending]))[0])
        }
    }

    /// `submit`, waiting for the outcome.
    public func submit(
        userId: Int, name: String, game: String, score: Int, idempotencyKey: String?, unlessRevoked tokenKey: String? = nil,
        isTrusted: Bool = false, now: Date = Date()
    ) throws -> Submission {
        let outcome = Locked<Result<Submission, any Error>?>(nil)
        let answered = DispatchSemaphore(value: 0)
        try submit(
            userId: userId, name: name, game: game, score: score, idempotencyKey: idempotencyKey, unlessRevoked: tokenKey,
            isTrusted: isTrusted, now: now
        ) { result in
            outcome.withLock { $0 = result }
            answered.signal()
        }
        answered.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// Applies a stored batch (`apply`) and makes each submission's answer: the group commit's finish stage.
    func finish(_ batch: [PendingScore], stored: [Result<Insertion, any Error>]) -> [Result<Submission, any Error>] {
        let landed = apply(batch, stored: stored)
        let revoked = revokedAmongUnchecked(batch, landed)
        var answersToRemember: [String: String] = [:]
        let answers = zip(batch, landed).map { pending, landed in
            Result { try answer(pending, landed, revoked: revoked, remembering: &answersToRemember) }
        }
        // The batch's answers to remember (`Idempotency-Key`), in one round trip: the stage finishes one batch at a time.
        try? ephemeral.remember(answersToRemember, seconds: Self.idempotencyAnswerSeconds)
        return answers
    }

    /// The tokens revoked among those whose statement did not run (it failed: PostgreSQL unavailable), so that such a
    /// token is still told it is revoked, as a read's is (`AuthService.whileNotRevoked`): one question for the batch, which
    /// the revocations' cache in Redis answers while PostgreSQL is away. Its error, when they cannot say.
    private func revokedAmongUnchecked(_ batch: [PendingScore], _ landed: [Result<Landed, any Error>]) -> Result<Set<String>, any Error> {
        let unchecked = zip(batch, landed).compactMap { pending, landed -> String? in
            guard case .failure(let error) = landed, Self.isUnchecked(error) else { return nil }
            return pending.score.tokenKey
        }
        guard let revocations, !unchecked.isEmpty else { return .success([]) }
        return Result { try revocations.revoked(among: unchecked) }
    }

    /// Whether a submission failed without its statement having checked its token: not one of the service's own refusals,
    /// nor a deleted account's (23503, the statement ran).
    private static func isUnchecked(_ error: any Error) -> Bool {
        !(error is ServiceError) && (error as? PostgresError)?.sqlState != "23503"
    }

    /// `answersToRemember`: the answers of this batch to remember, by key, where a retry in the same batch finds its first's.
    private func answer(
        _ pending: PendingScore, _ landed: Result<Landed, any Error>, revoked: Result<Set<String>, any Error>,
        remembering answersToRemember: inout [String: String]
    ) throws -> Submission {
        let (userId, game, score, idempotencyKey) = (pending.score.userId, pending.score.game, pending.score.score, pending.score.idempotencyKey)
        let (stored, applied): (StoredScore, BoardIndex.Applied?)
        do {
            switch try landed.get() {
            case .refused(let error): throw error
            case .queued(let queued): (stored, applied) = (queued, nil)
            case .applied(let done, let outcome): (stored, applied) = (done, outcome)
            }
        } catch let error as PostgresError where error.sqlState == "23503" {
            throw ServiceError.unauthorized("account no longer exists")
        } catch let error where Self.isUnchecked(error) {
            if let tokenKey = pending.score.tokenKey, try revoked.get().contains(tokenKey) {
                throw ServiceError.unauthorized("token revoked")
            }
            throw error
        }
        // A key names one request: reused with another body, it is a client's mistake, not a retry (as the
        // IETF Idempotency-Key draft answers it).
        if stored.isReplay, let idempotencyKey, stored.game != game || stored.score != score {
            throw ServiceError.validation(field: "Idempotency-Key", "'\(idempotencyKey)' was already used for another submission")
        }
        let answerKey = idempotencyKey.map { RedisKeys.idempotentAnswer(userId: userId, keyHash: Crypto.hex(Crypto.sha256(Array($0.utf8)))) }
        if stored.isReplay, let answerKey, let remembered = answersToRemember[answerKey] ?? (try? ephemeral.recall(answerKey)),
            let result = try? JSONDecoder().decode(SubmissionResult.self, from: Data(remembered.utf8))
        {
            return .applied(result)
        }
        guard let applied else { return .queued(QueuedSubmission(game: stored.game, score: stored.score, queued: true)) }
        let result = SubmissionResult(
            game: stored.game, score: stored.score, best: applied.best, improved: applied.improved && !stored.isReplay,
            rank: applied.rank, globalRank: applied.globalRank)
        if let answerKey, let encoded = try? JSONCoding.encode(result) {
            answersToRemember[answerKey] = String(decoding: encoded, as: UTF8.self)
        }
        return .applied(result)
    }

    /// A batch in one statement; when it fails for a reason of one submission's (a deleted account, a
    /// deadlock with another batch over idempotency keys), each alone, so only that one fails.
    func store(_ batch: [PendingScore]) -> [Result<Insertion, any Error>] {
        Observability.submissionBatchFormed(size: batch.count, stillWaiting: batches?.waitingCount ?? 0)
        return Observability.submissionBatchStage(.store) {
            do {
                return try scores.insert(batch.map(\.score), perMinute: submissionsPerMinute).map { .success($0) }
            } catch let error as PostgresError where batch.count > 1 && !error.isUnavailable {
                return batch.map { pending in Result { try scores.insert([pending.score], perMinute: submissionsPerMinute)[0] } }
            } catch {
                return batch.map { _ in .failure(error) }
            }
        }
    }

    /// Applies what `store` stored, in one round trip per day in the batch (almost always one). A replay
    /// is applied again (which changes nothing: the index knows it), so its answer can be rebuilt when the
    /// remembered one is gone.
    func apply(_ batch: [PendingScore], stored: [Result<Insertion, any Error>]) -> [Result<Landed, any Error>] {
        // Failures and refusals as they are; each stored row's outcome is set below.
        var outcomes: [Result<Landed, any Error>] = zip(batch, stored).map { pending, result in
            result.map { Self.refusal($0, of: pending.score) }
        }
        let rows = batch.indices.compactMap { position -> (position: Int, row: StoredScore)? in
            guard case .success(.stored(let row)) = stored[position] else { return nil }
            return (position, row)
        }
        for (today, group) in Dictionary(grouping: rows, by: { batch[$0.position].today }) {
            let scores = group.map { position, row in
                BoardIndex.Score(
                    id: row.id, userId: batch[position].score.userId, name: batch[position].name, game: row.game, score: row.score,
                    epochSeconds: row.epochSeconds, ranking: row.ranking)
            }
            let applied: [Result<BoardIndex.Applied, IndexError>] = Observability.submissionBatchStage(.apply) {
                do throws(IndexError) {
                    return try index.apply(scores, today: today)
                } catch {
                    return group.map { _ in .failure(error) }
                }
            }
            for ((position, row), outcome) in zip(group, applied) {
                outcomes[position] =
                    switch outcome {
                    case .success(let done): .success(.applied(row, done))
                    // Safe in PostgreSQL: the reconciler applies it once the index is back.
                    case .failure(let error) where error.isUnavailable: .success(.queued(row))
                    case .failure(let error): .failure(error)
                    }
            }
        }
        return outcomes
    }

    /// What a submission that stored nothing answers (a stored one's outcome is set once it is applied).
    private static func refusal(_ insertion: Insertion, of score: NewScore) -> Landed {
        switch insertion {
        case .revoked:
            return .refused(.unauthorized("token revoked"))
        case .banned:
            Observability.submissionRejected(.banned)
            return .refused(score.isTrusted ? .forbidden("user \(score.userId) is banned") : .unauthorized("this account is banned"))
        case .archived:
            Observability.submissionRejected(.archived)
            return .refused(.conflict("this game is archived: it takes no more scores"))
        case .authoritative:
            Observability.submissionRejected(.forbidden)
            return .refused(.forbidden("this game takes scores only from its game servers (API keys), not from players"))
        case .outOfBounds(let min, let max):
            Observability.submissionRejected(.bounds)
            return .refused(.validation(field: "score", "must be between \(min) and \(max)"))
        case .rateLimited(let seconds):
            Observability.submissionRejected(.rate)
            return .refused(.rateLimited(retryAfterSeconds: seconds))
        // Replaced by the outcome of applying it.
        case .stored:
            return .refused(.unavailable("not applied yet"))
        }
    }

    /// Rows `start...end` (inclusive, 0-based) of a board; `tokenKey`: see `BoardIndex.page`.
    public func page(game: String, period: PeriodKind, date: UTCDay, start: Int, end: Int, unlessRevoked tokenKey: String? = nil) throws
        -> BoardPage
    {
        let board = try boardToRead(game: game, period: period, date: date, start: start, end: end)
        let (rows, total, _) = try index.page(game: game, period: board, start: start, stop: end, unlessRevoked: tokenKey)
        return BoardPage(result: rows, totalCount: total, period: period, game: game)
    }

    /// `page` with its JSON, for responses. With `pages`, a page kept there is served when the board's stamp (one
    /// `MGET`, which also carries the revocation check, in a round trip shared with the process's other readers)
    /// is the one it was read at; otherwise the page script reads it, and the page is kept with the stamp the
    /// script read along with the rows.
    public func renderedPage(game: String, period: PeriodKind, date: UTCDay, start: Int, end: Int, unlessRevoked tokenKey: String? = nil)
        throws -> RenderedPage
    {
        let board = try boardToRead(game: game, period: period, date: date, start: start, end: end)
        let key = PageCache.Key(game: game, period: board.key, start: start, stop: end)
        func read(unlessRevoked tokenKey: String?) throws -> (RenderedPage, PageStamp) {
            let (rows, total, stamp) = try index.page(game: game, period: board, start: start, stop: end, unlessRevoked: tokenKey)
            return (RenderedPage(BoardPage(result: rows, totalCount: total, period: period, game: game)), stamp)
        }
        guard let pages,
            let stamp = try pages.stampReads.submit(
                BoardIndex.StampQuery(game: game, period: board, tokenKey: tokenKey), run: readStamps, then: { _, stamps in stamps })
        else {
            return try read(unlessRevoked: tokenKey).0
        }
        if let kept = pages.page(for: key, at: stamp) { return kept }
        // The stamp's read checked the token, so the page read after it is every reader's at that stamp.
        return try pages.page(for: key, missedAt: stamp) { try read(unlessRevoked: nil) }
    }

    /// A batch of readers' stamps, read on this worker's connection (it leads the batch).
    private func readStamps(_ queries: [BoardIndex.StampQuery]) -> [Result<PageStamp?, any Error>] {
        do {
            return try index.stamps(queries).map { $0.mapError { $0 } }
        } catch {
            return queries.map { _ in .failure(error) }
        }
    }

    /// The board a page request reads, once its parameters are checked.
    private func boardToRead(game: String, period: PeriodKind, date: UTCDay, start: Int, end: Int) throws -> BoardPeriod {
        try requireBoard(game)
        guard start >= 0, end >= start else { throw ServiceError.validation(field: "end", "must be at least start, and start at least 0") }
        guard end - start < Self.maximumPageRows else {
            throw ServiceError.validation(field: "end", "a page holds at most \(Self.maximumPageRows) rows")
        }
        return try retainedPeriod(period, date: date)
    }

    /// The player's rank on a board and the `around` rows either side; not found when not on it. `tokenKey`: see `BoardIndex.page`.
    public func position(userId: Int, game: String, period: PeriodKind, date: UTCDay, around: Int, unlessRevoked tokenKey: String? = nil) throws
        -> PlayerPosition
    {
        try requireBoard(game)
        guard (0...Self.maximumAround).contains(around) else {
            throw ServiceError.validation(field: "around", "must be between 0 and \(Self.maximumAround)")
        }
        guard
            let position = try index.around(
                userId: userId, game: game, period: retainedPeriod(period, date: date), radius: around, unlessRevoked: tokenKey)
        else {
            throw ServiceError.notFound("you are not ranked on this board yet")
        }
        return position
    }

    /// The player's rank and score on every board of the period they are on, global first.
    public func standing(userId: Int, period: PeriodKind, date: UTCDay) throws -> Standing {
        try index.standing(
            userId: userId, period: retainedPeriod(period, date: date), games: [BoardIndex.globalGame] + games.games().map(\.slug))
    }

    public func history(userId: Int, game: String?, before: Int?, limit: Int) throws -> CursorPage<ScoreEntry> {
        if let game { try requireBoard(game, allowGlobal: false) }
        guard (1...100).contains(limit) else { throw ServiceError.validation(field: "limit", "must be between 1 and 100") }
        return CursorPage(try scores.history(userId: userId, game: game, before: before, limit: limit + 1), limit: limit, id: \.id)
    }

    /// The top players by best single score (in the game's order) over whole UTC days `from...to`.
    public func report(from: UTCDay, to: UTCDay, game: String, limit: Int, today: UTCDay) throws -> [ReportRow] {
        try reportRows(try reportPlan(from: from, to: to, game: game, limit: limit, today: today))
    }

    /// `report` with its JSON, for responses. With `reports`, a report of the index kept there is served when its
    /// stamp (one `MGET`, which also carries the revocation check, in a round trip shared with the process's other
    /// readers) and the game list are the ones it was read at; see `ReportCache`. `tokenKey`: see `BoardIndex.page`.
    public func renderedReport(from: UTCDay, to: UTCDay, game: String, limit: Int, today: UTCDay, unlessRevoked tokenKey: String? = nil)
        throws -> RenderedReport
    {
        let plan = try reportPlan(from: from, to: to, game: game, limit: limit, today: today)
        let cache = plan.readsIndex ? reports : nil
        guard cache != nil || tokenKey != nil else { return RenderedReport(try reportRows(plan)) }
        // Read even when nothing is kept: it checks the token.
        let query = ReportStampQuery(dependencies: cache == nil ? ReportDependencies(boards: []) : plan.dependencies, tokenKey: tokenKey)
        let read: ReportStamp?
        do {
            read =
                if let cache {
                    try cache.stampReads.submit(query, run: readReportStamps, then: { _, stamps in stamps })
                } else {
                    try index.reportStamps([query])[0].get()
                }
        } catch let error as IndexError where error.isUnavailable && !plan.readsIndex {
            // A report from PostgreSQL needs no Redis: PostgreSQL vouches for the token instead.
            throw IndexError.revocationsNotCached
        }
        // Without an index the revocation cache cannot vouch either.
        if tokenKey != nil && read == nil { throw IndexError.revocationsNotCached }
        guard let cache, let read else { return RenderedReport(try reportRows(plan)) }
        if let kept = cache.report(for: plan.key, at: read, games: plan.catalog) { return kept }
        // Read before the report, so the report is at least as new as the stamp it is kept under.
        let stamp = read.isComplete ? read : try index.completeReportStamp(of: plan.dependencies)
        return try cache.report(for: plan.key, at: stamp, games: plan.catalog) { RenderedReport(try reportRows(plan)) }
    }

    /// A batch of readers' report stamps, read on this worker's connection (it leads the batch).
    private func readReportStamps(_ queries: [ReportStampQuery]) -> [Result<ReportStamp?, any Error>] {
        do {
            return try index.reportStamps(queries).map { $0.mapError { $0 } }
        } catch {
            return queries.map { _ in .failure(error) }
        }
    }

    /// What a report reads, once its parameters are checked.
    struct ReportPlan: Sendable {
        let key: ReportCache.Key
        /// The game list as the report is made with it: labels, and the games `all` covers.
        let catalog: [Game]
        let games: [Game]
        /// The fewest boards' periods that cover the range up to today; empty when it starts after today.
        let covering: [BoardPeriod]
        /// From the index's boards (every period kept, every game's boards holding best scores), or from PostgreSQL.
        let readsIndex: Bool
        /// For a report of the index, the boards it depends on: every game's (its rows, and the games its players
        /// played) for every period of the covering (see `ReportCache`).
        let dependencies: ReportDependencies

        init(key: ReportCache.Key, catalog: [Game], games: [Game], covering: [BoardPeriod], readsIndex: Bool) {
            (self.key, self.catalog, self.games, self.covering, self.readsIndex) = (key, catalog, games, covering, readsIndex)
            let boards = readsIndex ? catalog.flatMap { game in covering.map { BoardOfPeriod(game: game.slug, period: $0) } } : []
            dependencies = ReportDependencies(boards: boards)
        }
    }

    func reportPlan(from: UTCDay, to: UTCDay, game: String, limit: Int, today: UTCDay) throws -> ReportPlan {
        try requireBoard(game)
        guard to >= from else { throw ServiceError.validation(field: "end", "must not be before start") }
        guard to.daysSinceEpoch - from.daysSinceEpoch < Self.maximumReportDays else {
            throw ServiceError.validation(field: "end", "a report spans at most \(Self.maximumReportDays) days")
        }
        guard (1...100).contains(limit) else { throw ServiceError.validation(field: "limit", "must be between 1 and 100") }
        let catalog = try games.games()
        let lastDay = min(to, today)
        let key = ReportCache.Key(game: game, from: from, to: lastDay, limit: limit)
        let planKey = ReportCache.PlanKey(report: key, today: today)
        if let kept = reports?.plan(for: planKey, catalog: catalog) { return kept }
        // `all` covers the games of the global board, all of them `desc`; one game ranks in its own order.
        let reportGames = game == BoardIndex.globalGame ? catalog.filter(\.inGlobal) : catalog.filter { $0.slug == game }
        let covering = from <= lastDay ? Self.covering(from: from, to: lastDay) : []
        let plan = ReportPlan(
            key: key, catalog: catalog, games: reportGames, covering: covering,
            // Period boards hold each player's best single score only for `best` games.
            readsIndex: !covering.isEmpty && covering.allSatisfy({ $0.isRetained(on: today) }) && reportGames.allSatisfy({ $0.rule == .best }))
        reports?.insert(plan, for: planKey)
        return plan
    }

    private func reportRows(_ plan: ReportPlan) throws -> [ReportRow] {
        guard !plan.covering.isEmpty else { return [] }
        let (from, to) = (plan.key.from.epochSeconds, plan.key.to.adding(days: 1).epochSeconds)
        let top: [TopScore]
        let played: [Int: Int]
        if plan.readsIndex,
            let fromIndex = try index.top(limit: plan.key.limit, of: plan.covering.flatMap { period in plan.games.map { ($0.slug, period) } })
        {
            top = fromIndex
            played = try index.gamesPlayed(userIds: top.map(\.userId), games: plan.catalog.map(\.slug), periods: plan.covering)
        } else {
            (top, played) = try postgresReports.withSlot {
                let top = try scores.topPlayers(
                    from: from, to: to, games: plan.games.map(\.slug), ascending: plan.games.first?.order == .asc, limit: plan.key.limit)
                return (top, try scores.gamesPlayed(userIds: top.map(\.userId), from: from, to: to))
            }
        }
        var rows: [ReportRow] = []
        for (position, entry) in top.enumerated() {
            let rank = position > 0 && entry.score == rows[position - 1].score ? rows[position - 1].rank : position + 1
            rows.append(
                ReportRow(
                    rank: rank, userId: entry.userId, name: entry.name, score: entry.score, game: entry.game,
                    gameLabel: plan.catalog.first { $0.slug == entry.game }?.label ?? entry.game,
                    date: UTCDay(epochSeconds: entry.epochSeconds).description, games: played[entry.userId] ?? 0))
        }
        return rows
    }

    /// The fewest period boards that exactly cover `from...to`: whole months, then whole weeks, then days.
    static func covering(from: UTCDay, to: UTCDay) -> [BoardPeriod] {
        var periods: [BoardPeriod] = []
        var day = from
        while day <= to {
            let month = BoardPeriod(.monthly, containing: day)
            let week = BoardPeriod(.weekly, containing: day)
            if let days = month.days, days.lowerBound == day, days.upperBound <= to {
                periods.append(month)
                day = days.upperBound.adding(days: 1)
            } else if let days = week.days, days.lowerBound == day, days.upperBound <= to {
                periods.append(week)
                day = days.upperBound.adding(days: 1)
            } else {
                periods.append(BoardPeriod(.daily, containing: day))
                day = day.adding(days: 1)
            }
        }
        return periods
    }

    private func requireBoard(_ game: String, allowGlobal: Bool = true) throws {
        if allowGlobal && game == BoardIndex.globalGame { return }
        guard try games.game(game) != nil else { throw ServiceError.notFound("unknown game '\(game)'") }
    }

    private func retainedPeriod(_ kind: PeriodKind, date: UTCDay) throws -> BoardPeriod {
        let period = BoardPeriod(kind, containing: date)
        guard period.isRetained(on: UTCDay.today) else {
            throw ServiceError.validation(field: "date", "boards are kept for \(BoardPeriod.retentionDays) days; use /reports/top for older ranges")
        }
        return period
    }
}
