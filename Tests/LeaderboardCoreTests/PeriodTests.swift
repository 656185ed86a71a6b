import Testing

@testable import LeaderboardCore

@Suite struct PeriodTests {
    @Test(arguments: [
        ("2026-11-29", "2026-W48"), ("2021-01-03", "2020-W53"), ("2021-01-04", "2021-W01"), ("2024-12-30", "2025-W01"),
        ("2020-12-31", "2020-W53"), ("1970-01-01", "1970-W01"), ("2026-01-01", "2026-W01"), ("2027-01-01", "2026-W53"),
    ])
    func isoWeeksFollowTheThursdayRule(date: String, week: String) throws {
        #expect(try #require(UTCDay(iso: date)).isoWeekLabel == week)
    }

    @Test func daysRoundTripThroughTheirISOText() throws {
        for days in stride(from: -1000, to: 30_000, by: 37) {
            let day = UTCDay(daysSinceEpoch: days)
            if day.civil.year >= 1970 { #expect(UTCDay(iso: day.description) == day) }
        }
        #expect(UTCDay(iso: "2024-02-29")?.description == "2024-02-29")
        #expect(UTCDay(iso: "2025-03-01T23:59:59Z")?.description == "2025-03-01")
    }

    @Test(arguments: ["2023-02-29", "2025-13-01", "2025-1-01", "25-01-01", "2025-01-01x", "", "tomorrow", "2025-00-10"])
    func rejectsInvalidDates(text: String) {
        #expect(UTCDay(iso: text) == nil)
    }

    @Test func periodsNameTheirKeysAndSpans() throws {
        let day = try #require(UTCDay(iso: "2026-11-29"))  // a Sunday
        #expect(day.isoWeekday == 7)
        #expect(BoardPeriod(.daily, containing: day).key == "d:2026-11-29")
        let week = BoardPeriod(.weekly, containing: day)
        #expect(week.key == "w:2026-W48")
        #expect(week.days.map { "\($0.lowerBound)...\($0.upperBound)" } == "2026-11-23...2026-11-29")
        let month = BoardPeriod(.monthly, containing: day)
        #expect(month.key == "m:2026-11")
        #expect(month.days.map { "\($0.lowerBound)...\($0.upperBound)" } == "2026-11-01...2026-11-30")
        #expect(BoardPeriod(.allTime, containing: day).key == "all")
        #expect(UTCDay(epochSeconds: -1).description == "1969-12-31")
    }

    @Test func boardsAreKeptFourHundredDaysAfterTheirPeriod() throws {
        let day = try #require(UTCDay(iso: "2025-01-15"))
        let daily = BoardPeriod(.daily, containing: day)
        #expect(daily.isRetained(on: day.adding(days: 400)))
        #expect(!daily.isRetained(on: day.adding(days: 401)))
        #expect(BoardPeriod(.monthly, containing: day).isRetained(on: day.adding(days: 416)))
        #expect(BoardPeriod.allTime.isRetained(on: day.adding(days: 100_000)))
    }

    @Test func aRangeIsCoveredByWholeMonthsThenWeeksThenDays() throws {
        let year = LeaderboardService.covering(from: try #require(UTCDay(iso: "2025-01-01")), to: try #require(UTCDay(iso: "2025-12-31")))
        #expect(year.map(\.key) == (1...12).map { "m:2025-" + ($0 < 10 ? "0\($0)" : "\($0)") })
        let span = LeaderboardService.covering(from: try #require(UTCDay(iso: "2026-10-29")), to: try #require(UTCDay(iso: "2026-11-29")))
        // November is not whole (it ends on the 30th), so its Monday-started weeks cover it.
        #expect(
            span.map(\.key) == [
                "d:2026-10-29", "d:2026-10-30", "d:2026-10-31", "d:2026-11-01", "w:2026-W45", "w:2026-W46", "w:2026-W47", "w:2026-W48",
            ])
        let weeks = LeaderboardService.covering(from: try #require(UTCDay(iso: "2026-11-02")), to: try #require(UTCDay(iso: "2026-11-17")))
        #expect(weeks.map(\.key) == ["w:2026-W45", "w:2026-W46", "d:2026-11-16", "d:2026-11-17"])
        // Every day of the range is covered exactly once.
        let days = span.flatMap { period in
            period.days.map { Array(stride(from: $0.lowerBound.daysSinceEpoch, through: $0.upperBound.daysSinceEpoch, by: 1)) } ?? []
        }
        #expect(days == Array(try #require(UTCDay(iso: "2026-10-29")).daysSinceEpoch...(try #require(UTCDay(iso: "2026-11-29")).daysSinceEpoch)))
    }

    /// The page script's reply for rows 2...4 (0-based) of a board whose last two rows tie; with shared ranks the first
    /// row ties the one above it (rank 2), with unique ones ranks are positions.
    static func pageReply(uniqueRanks: Bool) -> RedisReply {
        .array([
            .integer(9), .integer(uniqueRanks ? 3 : 2), .integer(2),
            .array([
                .bulkString(Array("7".utf8)), .bulkString(Array("90".utf8)), .bulkString(Array("8".utf8)), .bulkString(Array("80".utf8)),
                .bulkString(Array("9".utf8)), .bulkString(Array("80".utf8)),
            ]),
            .array([.bulkString(Array("Gi".utf8)), .null, .bulkString(Array("Ivo".utf8))]),
            .array([.bulkString(Array("1764374400".utf8)), .null, .bulkString(Array("0".utf8))]),
            .bulkString(Array("4".utf8)), .bulkString(Array("1764374400000001-7".utf8)), .null, .integer(uniqueRanks ? 1 : 0),
        ])
    }

    @Test func pageRanksAreCompetitionRanksFromTheFirstRowsRank() throws {
        let (rows, total, stamp) = try #require(try BoardIndex.rows(from: Self.pageReply(uniqueRanks: false), game: "cod"))
        #expect(stamp == PageStamp(generation: "4", board: "1764374400000001-7", names: nil))
        #expect(total == 9)
        #expect(rows.map(\.rank) == [2, 4, 4])
        #expect(rows.map(\.player) == ["Gi", "", "Ivo"])
        #expect(rows.first?.date == "2025-11-29")
    }

    @Test func pageRanksOfAnEarliestBoardArePositions() throws {
        let (rows, _, _) = try #require(try BoardIndex.rows(from: Self.pageReply(uniqueRanks: true), game: "cod"))
        #expect(rows.map(\.rank) == [3, 4, 5])
    }
}
