/// What a report's answer is as of a read: the index generation, the names' version and the version of every board
/// it depends on (see `ReportCache`). Two reads with equal complete stamps read the same report.
public struct ReportStamp: Sendable, Hashable {
    public let generation: String
    public let names: String?
    /// In the order of the query's boards; nil for a board without a version yet.
    public let boards: [String?]

    public init(generation: String, names: String?, boards: [String?]) {
        self.generation = generation
        self.names = names
        self.boards = boards
    }

    /// Every board has a version: a board without one may change and still have none (its version expired a second
    /// before the board), so only a complete stamp names one content.
    public var isComplete: Bool { !boards.contains(nil) }
}

/// The boards a report depends on (see `ReportCache`), with their version keys, made once for a report's plan: a
/// warm report's read is little more than their `MGET`.
public struct ReportDependencies: Sendable {
    public let boards: [BoardOfPeriod]
    let versionKeys: [String]

    public init(boards: [BoardOfPeriod]) {
        self.boards = boards
        versionKeys = boards.map { RedisKeys.boardVersion(game: $0.game, period: $0.period.key) }
    }
}

/// A report's stamp to read, and the reader's token to check in the same `MGET` (as `BoardIndex.StampQuery` does).
public struct ReportStampQuery: Sendable {
    public let dependencies: ReportDependencies
    public let tokenKey: String?

    public init(dependencies: ReportDependencies, tokenKey: String?) {
        self.dependencies = dependencies
        self.tokenKey = tokenKey
    }

    /// The `MGET`'s keys: generation, names version, the token's cached revocation with the mark of a complete cache,
    /// then the boards' versions.
    var keys: [String] {
        var keys = [RedisKeys.generation, RedisKeys.namesVersion]
        if let tokenKey { keys += [RedisKeys.revokedToken(tokenKey), RedisKeys.revocationsCached] }
        return keys + dependencies.versionKeys
    }
}

/// One board: a game's (or `all`'s) for one period.
public struct BoardOfPeriod: Sendable, Hashable {
    public let game: String
    public let period: BoardPeriod

    public init(game: String, period: BoardPeriod) {
        self.game = game
        self.period = period
    }
}

extension BoardIndex {
    /// The reports' stamps as they are now, a plain `MGET` each, pipelined in one round trip; one outcome per query.
    /// nil when no index is built; `.tokenRevoked` when the query's token is revoked, `.revocationsNotCached` when the
    /// cache cannot vouch for it, as for pages.
    public func reportStamps(_ queries: [ReportStampQuery]) throws(IndexError) -> [Result<ReportStamp?, IndexError>] {
        let keyLists = queries.map(\.keys)
        let replies = try pipelinedMGET(keyLists)
        return zip(zip(queries, keyLists), replies).map { queryAndKeys, reply in
            let (query, keys) = queryAndKeys
            guard let values = reply.array, values.count == keys.count else { return .failure(.unexpected("report stamp: \(reply)")) }
            guard let generation = values[0].string else { return .success(nil) }
            var versions = values.dropFirst(2)
            if query.tokenKey != nil {
                if values[3].isNull { return .failure(.revocationsNotCached) }
                if !values[2].isNull { return .failure(.tokenRevoked) }
                versions = versions.dropFirst(2)
            }
            return .success(ReportStamp(generation: generation, names: values[1].string, boards: versions.map(\.string)))
        }
    }

    /// The boards' stamp, with a version set on each board that had none, in one atomic step; `.notBuilt` without an index.
    public func completeReportStamp(of dependencies: ReportDependencies) throws(IndexError) -> ReportStamp {
        let arguments = zip(dependencies.versionKeys, dependencies.boards).flatMap { key, board in
            [key, board.period.expiresAt.map(String.init) ?? ""]
        }
        let reply = try run(BoardScripts.reportStamp, arguments)
        guard let values = reply.array, values.count == dependencies.boards.count + 2, let generation = values[0].string else {
            throw .unexpected("report stamp: \(reply)")
        }
        let versions = values.dropFirst(2).map(\.string)
        guard !versions.contains(nil) else { throw .unexpected("report stamp: \(reply)") }
        return ReportStamp(generation: generation, names: values[1].string, boards: versions)
    }

    /// Per player, how many of `games` they have an entry for on any of `periods`' boards: see `BoardScripts.gamesPlayed`.
    public func gamesPlayed(userIds: [Int], games: [String], periods: [BoardPeriod]) throws(IndexError) -> [Int: Int] {
        guard !userIds.isEmpty else { return [:] }
        let reply = try run(
            BoardScripts.gamesPlayed, [String(userIds.count)] + userIds.map(String.init) + [String(periods.count)] + periods.map(\.key) + games)
        guard let counts = reply.array?.compactMap(\.int), counts.count == userIds.count else { throw .unexpected("games played: \(reply)") }
        return Dictionary(uniqueKeysWithValues: zip(userIds, counts))
    }
}
