/// One player's entries on every board they have ever had a score for, as the rebuild computes them (its own SQL,
/// restricted to the player): what an admin's ban, unban, deletion or restore sets in the index
/// (`BoardIndex.replaceEntries`). A board the player has a score for that no longer counts (deleted, or the player
/// banned) gets no entry: the player comes off it.
struct PlayerEntries {
    let database: PostgresConnection

    func entries(userId: Int, today: UTCDay = UTCDay.today) throws -> [BoardIndex.ReplacedEntry] {
        let rankings = try Dictionary(
            uniqueKeysWithValues: database.query("SELECT \(PostgresGameCatalog.columns) FROM games").map { row in
                let game = try PostgresGameCatalog.game(row)
                return (game.slug, game.ranking)
            })
        var entries: [BoardIndex.ReplacedEntry] = []
        for kind in PeriodKind.allCases {
            // Every board any of the player's scores is on, counted or not; the global board of each of those periods.
            var boards: [String: Set<Int>] = [:]
            for row in try database.query(
                """
                SELECT DISTINCT s.game, extract(epoch FROM \(IndexRebuilder.periodStart(kind)))::bigint AS period_start
                FROM scores s WHERE s.user_id = $1 AND \(IndexRebuilder.recentScores(kind))
                """, [userId])
            {
                let start = try row.requiredInt("period_start")
                boards[try row.requiredString("game"), default: []].insert(start)
                boards[BoardIndex.globalGame, default: []].insert(start)
            }
            var computed: [String: (score: Int, entryId: Int?, epochSeconds: Int)] = [:]
            for sql in [IndexRebuilder.entriesPerGame(kind, onePlayer: true), IndexRebuilder.sumPerPlayer(kind, onePlayer: true)] {
                for row in try database.query(sql, [userId]) {
                    computed["\(try row.requiredString("game")) \(try row.requiredInt("period_start"))"] = (
                        try row.requiredInt("score"), try row.int("entry_id"), try row.requiredInt("epoch")
                    )
                }
            }
            for (game, starts) in boards.sorted(by: { $0.key < $1.key }) {
                for start in starts.sorted() {
                    let period = BoardPeriod(kind, containing: UTCDay(epochSeconds: start))
                    guard period.isRetained(on: today) else { continue }
                    entries.append(
                        BoardIndex.ReplacedEntry(
                            game: game, ranking: game == BoardIndex.globalGame ? .standard : rankings[game] ?? .standard, period: period,
                            entry: computed["\(game) \(start)"]))
                }
            }
        }
        return entries
    }
}
