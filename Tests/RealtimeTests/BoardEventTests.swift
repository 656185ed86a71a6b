import Testing

@testable import LeaderboardRealtime

@Suite struct BoardEventTests {
    static func parse(_ message: String) throws(BoardEvent.Unreadable) -> [BoardEvent] { try BoardEvent.parse(Array(message.utf8)) }

    /// As the apply script's cjson writes them: totals as strings (exact past 14 digits), absent when unchanged.
    @Test func readsTheEventsOfAMessage() throws {
        let message = #"""
            [{"game":"cod","userId":7,"periods":["all","d:2026-12-06"],"totalBefore":"9007199254740993","totalAfter":"9007199254740995","at":1765000000123},
             {"at":1765000000123,"periods":["w:2026-12-07"],"userId":8,"game":"lol"}]
            """#
        #expect(
            try Self.parse(message) == [
                BoardEvent(
                    game: "cod", userId: 7, periods: ["all", "d:2026-12-06"], totalBefore: 9_007_199_254_740_993, totalAfter: 9_007_199_254_740_995,
                    at: 1_765_000_000_123),
                BoardEvent(game: "lol", userId: 8, periods: ["w:2026-12-07"], totalBefore: nil, totalAfter: nil, at: 1_765_000_000_123),
            ])
    }

    @Test func aRebuildsMessageHasNoEvents() throws {
        #expect(try Self.parse("[]").isEmpty)
    }

    @Test(arguments: [
        "{}", "[1]", #"[{"game":"cod","periods":["all"]}]"#, #"[{"game":"cod","userId":7,"periods":"all"}]"#,
        #"[{"game":"cod","userId":7,"periods":["all"],"totalBefore":12}]"#, #"[{"game":"cod","userId":7.5,"periods":["all"]}]"#, "[",
    ])
    func refusesAMessageThatIsNotEvents(message: String) {
        #expect(throws: BoardEvent.Unreadable.self) { try Self.parse(message) }
    }
}
