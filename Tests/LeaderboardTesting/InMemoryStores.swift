import Foundation
import LeaderboardCore

/// In-memory stand-ins for the stores, for unit tests of the logic above them.
public final class InMemoryUserStore: UserStore {
    public init() {}

    private var credentialsByID: [Int: UserCredentials] = [:]
    private var roles: [Int: Role] = [:]
    /// What `setRole` recorded, oldest first.
    public private(set) var audit: [AuditEntry] = []

    public func createUser(name: String, email: String, passwordHash: String) throws -> User? {
        guard try credentials(email: email) == nil else { return nil }
        let user = User(id: credentialsByID.count + 1, name: name, email: email)
        credentialsByID[user.id] = UserCredentials(user: user, passwordHash: passwordHash)
        return user
    }

    public func credentials(email: String) throws -> UserCredentials? {
        credentialsByID.values.first { $0.user.email.lowercased() == email.lowercased() }
    }

    public func account(id: Int) throws -> Account? {
        credentialsByID[id].map { Account(user: $0.user, role: roles[id] ?? .player) }
    }

    public func setRole(_ role: Role, email: String, actor: String) throws -> Account? {
        guard let user = try credentials(email: email)?.user else { return nil }
        let before = roles[user.id] ?? .player
        if before != role {
            roles[user.id] = role
            audit.append(
                AuditEntry(
                    actor: actor, action: "user.role", target: "user:\(user.id)", reason: nil,
                    changes: ["role": AuditChange(before: .text(before.rawValue), after: .text(role.rawValue))]))
        }
        return Account(user: user, role: role)
    }

    /// Players whose login `recordToken` refuses.
    public var banned: Set<Int> = []
    /// What `recordToken` recorded: token key -> user id.
    public private(set) var issuedTokens: [String: Int] = [:]

    public func recordToken(_ tokenKey: String, userId: Int, expiresAt: Int) throws -> Bool {
        guard !banned.contains(userId) else { return false }
        issuedTokens[tokenKey] = userId
        return true
    }
}

/// Games kept in memory, with the audit entries of their changes; `scoredGames` stands for the scores table.
public final class InMemoryGameAdminStore: GameAdminStore {
    public private(set) var list: [Game]
    public private(set) var audit: [AuditEntry] = []
    public var scoredGames: Set<String> = []

    public init(_ list: [Game] = FixedGameCatalog().list) {
        self.list = list
    }

    public func games() throws -> [Game] { list.sorted { ($0.position, $0.slug) < ($1.position, $1.slug) } }
    public func game(_ slug: String) throws -> Game? { list.first { $0.slug == slug } }

    public func insert(_ game: Game, audit entry: AuditEntry) throws -> Bool {
        guard try self.game(game.slug) == nil else { return false }
        list.append(game)
        audit.append(entry)
        return true
    }

    public func update(_ slug: String, _ change: (Game, () throws -> Bool) throws -> (Game, AuditEntry)?) throws -> Game? {
        guard let index = list.firstIndex(where: { $0.slug == slug }) else { return nil }
        guard let (changed, entry) = try change(list[index], { self.scoredGames.contains(slug) }) else { return list[index] }
        list[index] = changed
        audit.append(entry)
        return changed
    }
}

/// API keys kept in memory, by hash, with the audit entries of their changes; `players` stands for the users table.
public final class InMemoryApiKeyStore: ApiKeyStore {
    public private(set) var hashes: [Int: String] = [:]
    public private(set) var list: [ApiKey] = []
    public private(set) var audit: [AuditEntry] = []
    public var players: [Int: (name: String, isBanned: Bool)] = [:]

    public init() {}

    public func insert(name: String, prefix: String, hash: String, games: [String]?, createdBy: String, audit: (Int) -> AuditEntry) throws
        -> ApiKey
    {
        let key = ApiKey(
            id: list.count + 1, name: name, prefix: prefix, games: games, createdAt: "2026-01-01T00:00:00.000Z", createdBy: createdBy,
            lastUsedAt: nil, revoked: false)
        list.append(key)
        hashes[key.id] = hash
        self.audit.append(audit(key.id))
        return key
    }

    public func keys() throws -> [ApiKey] { list.reversed() }

    public func revoke(id: Int, audit entry: AuditEntry) throws -> ApiKey? {
        guard let index = list.firstIndex(where: { $0.id == id }) else { return nil }
        let key = list[index]
        guard !key.revoked else { return key }
        list[index] = ApiKey(
            id: key.id, name: key.name, prefix: key.prefix, games: key.games, createdAt: key.createdAt, createdBy: key.createdBy,
            lastUsedAt: key.lastUsedAt, revoked: true)
        audit.append(entry)
        return list[index]
    }

    public func key(hash: String) throws -> ApiKey? { list.first { hashes[$0.id] == hash } }

    public func player(id: Int) throws -> (name: String, isBanned: Bool)? { players[id] }
}

public struct FixedGameCatalog: GameCatalog {
    public var list: [Game]

    public init(_ list: [Game] = [Game(slug: "cod", label: "Call of Duty", position: 1), Game(slug: "valrnt", label: "Valorant", position: 2)]) {
        self.list = list
    }

    public func games() throws -> [Game] { list }
    public func game(_ slug: String) throws -> Game? { list.first { $0.slug == slug } }
}

public final class InMemoryEphemeralStore: EphemeralStore {
    public init() {}

    private var counters: [String: Int] = [:]
    private var values: [String: String] = [:]

    public func increment(_ keys: [String], windowSeconds: Int) throws -> [Int] {
        keys.map { key in
            counters[key, default: 0] += 1
            return counters[key]!
        }
    }

    public func counter(_ key: String) throws -> (value: Int, secondsLeft: Int) { (counters[key] ?? 0, counters[key] == nil ? 0 : 60) }
    public func remove(_ key: String) throws { counters[key] = nil }
    public func remember(_ values: [String: String], seconds: Int) throws { self.values.merge(values) { _, new in new } }
    public func recall(_ key: String) throws -> String? { values[key] }
}

public struct FixedHealthProbe: HealthProbe {
    public var postgres = true
    public var redis = true

    public init(postgres: Bool = true, redis: Bool = true) {
        self.postgres = postgres
        self.redis = redis
    }

    public func isPostgresUp() -> Bool { postgres }
    public func redisHealth() -> RedisHealth { redis ? .ok : .down }
}

/// Stores that fail as if the server were gone.
public struct UnreachableUserStore: UserStore {
    public init() {}

    public func createUser(name: String, email: String, passwordHash: String) throws -> User? {
        throw PostgresError.connectionFailed(message: "connection refused")
    }
    public func credentials(email: String) throws -> UserCredentials? { throw PostgresError.connectionFailed(message: "connection refused") }
    public func account(id: Int) throws -> Account? { throw PostgresError.connectionFailed(message: "connection refused") }
    public func setRole(_ role: Role, email: String, actor: String) throws -> Account? {
        throw PostgresError.connectionFailed(message: "connection refused")
    }
    public func recordToken(_ tokenKey: String, userId: Int, expiresAt: Int) throws -> Bool {
        throw PostgresError.connectionFailed(message: "connection refused")
    }
}

public final class InMemoryRevocations: TokenRevocations {
    public init() {}

    private var revoked: Set<String> = []
    public func revoke(_ tokenKey: String, until expiresAt: Int) throws { revoked.insert(tokenKey) }
    public func isRevoked(_ tokenKey: String) throws -> Bool { revoked.contains(tokenKey) }
    public func revoked(among tokenKeys: [String]) throws -> Set<String> { revoked.intersection(tokenKeys) }
}

/// Scores kept in an array; `now` is the time a submission is stored at. Refuses as PostgreSQL's statement
/// does: a game's bounds and archiving, and a player's own submissions past the rate (revocations are not its to know).
public final class InMemoryScoreStore: ScoreStore {
    public var games: [Game]

    public init(games: [Game] = FixedGameCatalog().list) {
        self.games = games
    }

    public private(set) var rows: [(id: Int, score: NewScore, epochSeconds: Int)] = []
    public var now = UTCDay.nowSeconds

    public func insert(_ submissions: [NewScore], perMinute: Int) throws -> [Insertion] {
        submissions.map { submission in
            if let key = submission.idempotencyKey,
                let earlier = rows.first(where: { $0.score.userId == submission.userId && $0.score.idempotencyKey == key })
            {
                return .stored(
                    StoredScore(
                        id: earlier.id, game: earlier.score.game, score: earlier.score.score, epochSeconds: earlier.epochSeconds,
                        isReplay: true))
            }
            let game = games.first { $0.slug == submission.game }!
            if game.archived { return .archived }
            if game.authoritative && !submission.isTrusted { return .authoritative }
            guard (game.minScore...game.maxScore).contains(submission.score) else { return .outOfBounds(min: game.minScore, max: game.maxScore) }
            if !submission.isTrusted {
                let lastMinute = rows.filter {
                    $0.score.userId == submission.userId && $0.score.game == submission.game && !$0.score.isTrusted && $0.epochSeconds > now - 60
                }
                if lastMinute.count >= perMinute {
                    let oldestCounted = lastMinute.suffix(perMinute).map(\.epochSeconds).min()!
                    return .rateLimited(retryAfterSeconds: max(1, oldestCounted + 60 - now))
                }
            }
            rows.append((rows.count + 1, submission, now))
            return .stored(
                StoredScore(
                    id: rows.count, game: submission.game, score: submission.score, epochSeconds: now, isReplay: false, ranking: game.ranking))
        }
    }

    public func history(userId: Int, game: String?, before: Int?, limit: Int) throws -> [ScoreEntry] { [] }
    public func gamesPlayed(userIds: [Int], from: Int, to: Int) throws -> [Int: Int] {
        var games: [Int: Set<String>] = [:]
        for row in rows where userIds.contains(row.score.userId) && (from..<to).contains(row.epochSeconds) {
            games[row.score.userId, default: []].insert(row.score.game)
        }
        return games.mapValues(\.count)
    }
    public func topPlayers(from: Int, to: Int, games: [String], ascending: Bool, limit: Int) throws -> [TopScore] { [] }
    public func pending(after id: Int, limit: Int) throws -> [(id: Int, isRipe: Bool)] { [] }
    public func scores(ids: [Int]) throws -> [BoardIndex.Score] { [] }
}

/// The index's rules kept in dictionaries: per game each player's best, on `all` the sum of their per-game bests,
/// for every retained period; competition ranks; ties in a stable order (user id, highest first).
/// `isBuilt` false answers as an index being rebuilt does.
public final class InMemoryRankingIndex: RankingIndex {
    public init() {}

    public var isBuilt = true
    public var revokedTokenKeys: Set<String> = []
    /// Called as `top` starts, on the reading thread: lets a test hold a report while it is being made.
    public var whileReadingTop: (() -> Void)?
    /// Called as `page` starts, on the reading thread: lets a test hold a page while it is being read.
    public var whileReadingPage: (() -> Void)?
    /// `<game>:<period key>` -> user id -> (entry, epoch seconds it was reached).
    private var boards: [String: [Int: (score: Int, epochSeconds: Int)]] = [:]
    private var names: [Int: String] = [:]
    private var versions: [String: Int] = [:]

    public func apply(_ scores: [BoardIndex.Score], today: UTCDay) throws(IndexError) -> [Result<BoardIndex.Applied, IndexError>] {
        guard isBuilt else { return scores.map { _ in .failure(.notBuilt) } }
        return scores.map { score in
            names[score.userId] = score.name
            var improved = false
            for period in BoardPeriod.all(containing: UTCDay(epochSeconds: score.epochSeconds)) where period.isRetained(on: today) {
                let board = Self.board(score.game, period)
                let global = Self.board(BoardIndex.globalGame, period)
                let old = boards[board]?[score.userId]?.score
                guard old == nil || score.score > old! else { continue }
                boards[board, default: [:]][score.userId] = (score.score, score.epochSeconds)
                let total = (boards[global]?[score.userId]?.score ?? 0) + score.score - (old ?? 0)
                boards[global, default: [:]][score.userId] = (total, score.epochSeconds)
                versions[board, default: 0] += 1
                versions[global, default: 0] += 1
                if period == .allTime { improved = true }
            }
            let best = boards[Self.board(score.game, .allTime)]![score.userId]!.score
            let total = boards[Self.board(BoardIndex.globalGame, .allTime)]![score.userId]!.score
            return .success(
                BoardIndex.Applied(
                    best: best, rank: rank(of: best, on: Self.board(score.game, .allTime)),
                    globalRank: rank(of: total, on: Self.board(BoardIndex.globalGame, .allTime)), improved: improved))
        }
    }

    public func page(game: String, period: BoardPeriod, start: Int, stop: Int, unlessRevoked tokenKey: String?) throws(IndexError) -> (
        rows: [BoardRow], total: Int, stamp: PageStamp
    ) {
        whileReadingPage?()
        let stamp = try check(game: game, period: period, tokenKey: tokenKey)
        let board = Self.board(game, period)
        let rows = self.rows(of: board, game: game)
        return (Array(rows.dropFirst(start).prefix(max(0, stop - start + 1))), rows.count, stamp)
    }

    public func stamps(_ queries: [BoardIndex.StampQuery]) throws(IndexError) -> [Result<PageStamp?, IndexError>] {
        queries.map { query in
            guard isBuilt else { return .success(nil) }
            return Result { () throws(IndexError) in try check(game: query.game, period: query.period, tokenKey: query.tokenKey) }
        }
    }

    public func around(userId: Int, game: String, period: BoardPeriod, radius: Int, unlessRevoked tokenKey: String?) throws(IndexError)
        -> PlayerPosition?
    {
        _ = try check(game: game, period: period, tokenKey: tokenKey)
        let rows = rows(of: Self.board(game, period), game: game)
        guard let index = rows.firstIndex(where: { $0.userId == userId }) else { return nil }
        let own = rows[index]
        return PlayerPosition(
            rank: own.rank, score: own.score, date: own.date, around: Array(rows[max(0, index - radius)...min(rows.count - 1, index + radius)]))
    }

    public func standing(userId: Int, period: BoardPeriod, games: [String]) throws(IndexError) -> Standing {
        guard isBuilt else { throw .notBuilt }
        let entries = games.compactMap { game -> Standing.Entry? in
            guard let own = rows(of: Self.board(game, period), game: game).first(where: { $0.userId == userId }) else { return nil }
            return Standing.Entry(game: game, rank: own.rank, score: own.score, date: own.date)
        }
        return Standing(userId: userId, player: names[userId] ?? "", boards: entries)
    }

    public func top(limit: Int, of boards: [(game: String, period: BoardPeriod)]) throws(IndexError) -> [TopScore]? {
        guard isBuilt else { throw .notBuilt }
        whileReadingTop?()
        var best: [Int: TopScore] = [:]
        for (game, period) in boards {
            for (user, entry) in self.boards[Self.board(game, period)] ?? [:] where entry.score > best[user]?.score ?? Int.min {
                best[user] = TopScore(userId: user, name: names[user] ?? "", score: entry.score, game: game, epochSeconds: entry.epochSeconds)
            }
        }
        return Array(best.values.sorted { ($0.score, $1.userId) > ($1.score, $0.userId) }.prefix(limit))
    }

    public func reportStamps(_ queries: [ReportStampQuery]) throws(IndexError) -> [Result<ReportStamp?, IndexError>] {
        queries.map { query in
            guard isBuilt else { return .success(nil) }
            if let tokenKey = query.tokenKey, revokedTokenKeys.contains(tokenKey) { return .failure(.tokenRevoked) }
            return .success(
                ReportStamp(
                    generation: "1", names: nil, boards: query.dependencies.boards.map { versions[Self.board($0.game, $0.period)].map(String.init) }))
        }
    }

    public func completeReportStamp(of dependencies: ReportDependencies) throws(IndexError) -> ReportStamp {
        guard isBuilt else { throw .notBuilt }
        // 0: a version no change gives (changes count from 1).
        for board in dependencies.boards where versions[Self.board(board.game, board.period)] == nil {
            versions[Self.board(board.game, board.period)] = 0
        }
        return try reportStamps([ReportStampQuery(dependencies: dependencies, tokenKey: nil)])[0].get()!
    }

    public func gamesPlayed(userIds: [Int], games: [String], periods: [BoardPeriod]) throws(IndexError) -> [Int: Int] {
        guard isBuilt else { throw .notBuilt }
        return Dictionary(
            uniqueKeysWithValues: userIds.map { user in
                (user, games.filter { game in periods.contains { boards[Self.board(game, $0)]?[user] != nil } }.count)
            })
    }

    private static func board(_ game: String, _ period: BoardPeriod) -> String { game + ":" + period.key }

    private func check(game: String, period: BoardPeriod, tokenKey: String?) throws(IndexError) -> PageStamp {
        guard isBuilt else { throw .notBuilt }
        if let tokenKey, revokedTokenKeys.contains(tokenKey) { throw .tokenRevoked }
        return PageStamp(generation: "1", board: versions[Self.board(game, period)].map(String.init), names: nil)
    }

    private func rank(of score: Int, on board: String) -> Int {
        (boards[board] ?? [:]).values.filter { $0.score > score }.count + 1
    }

    /// Best first, ties by user id highest first; standard competition ranks.
    private func rows(of board: String, game: String) -> [BoardRow] {
        (boards[board] ?? [:]).sorted { ($0.value.score, $0.key) > ($1.value.score, $1.key) }.map { user, entry in
            BoardRow(
                rank: rank(of: entry.score, on: board), userId: user, player: names[user] ?? "", game: game, score: entry.score,
                date: UTCDay(epochSeconds: entry.epochSeconds).description)
        }
    }
}

/// Refresh token families in memory, with the rules of `PostgresRefreshTokenStore`; `now` is the clock expiries are read by.
public final class InMemoryRefreshTokenStore: RefreshTokenStore {
    public init(users: any UserStore) {
        self.users = users
    }

    private let users: any UserStore
    public var now: () -> Int = { Int(Date().timeIntervalSince1970) }
    /// Family -> (user id, why it was revoked).
    public private(set) var families: [String: (userId: Int, revoked: String?)] = [:]
    private var tokens: [String: (family: String, expiresAt: Int, spent: Bool)] = [:]

    public func startFamily(_ family: String, userId: Int, tokenHash: String, expiresAt: Int) throws -> Bool {
        if let users = users as? InMemoryUserStore, users.banned.contains(userId) { return false }
        families[family] = (userId, nil)
        tokens[tokenHash] = (family, expiresAt, false)
        return true
    }

    public func rotate(tokenHash: String, successorHash: String, expiresAt: Int) throws -> RefreshRotation {
        guard let token = tokens[tokenHash], let family = families[token.family], let user = try users.account(id: family.userId)?.user
        else { return .unknown }
        if family.revoked != nil { return .revoked }
        if token.spent {
            try revokeFamily(token.family, reason: "reuse")
            return .reused
        }
        if token.expiresAt <= now() { return .expired }
        tokens[tokenHash]?.spent = true
        tokens[successorHash] = (token.family, expiresAt, false)
        return .rotated(user, family: token.family)
    }

    public func revokeFamily(_ family: String, reason: String) throws {
        if families[family]?.revoked == nil { families[family]?.revoked = reason }
    }

    /// Makes every token of the store expire, as time passing would.
    public func expireAll() {
        for hash in tokens.keys { tokens[hash]?.expiresAt = now() }
    }
}
