import FastCGIPool
import Foundation
import Testing

@testable import LeaderboardAPI
@testable import LeaderboardCore

/// The hand-written JSON of the busiest responses against Foundation's encoder, which wrote them before:
/// the bytes must be the same.
@Suite struct JSONWriterTests {
    static let trickyStrings: [String] = [
        "", "Ann", #"quote " and backslash \ and slash /"#, "tab\tnew line\ncarriage\rback\u{8}feed\u{C}",
        String((0..<0x20).map { Character(Unicode.Scalar($0)) }), "\u{7F} DEL", "é ü ß 東京 🏆 👩‍👩‍👧", "e\u{301} combining",
        "\u{2028} line and paragraph \u{2029} separators", "\u{FEFF} byte order mark", "\u{FFFD} replacement", "</script>",
    ]

    @Test(arguments: trickyStrings)
    func aBoardPageIsWrittenAsTheEncoderWroteIt(name: String) throws {
        let rows = [
            BoardRow(rank: 1, userId: 42, player: name, game: "all", score: 1_000_000_000, date: "2026-01-31"),
            BoardRow(rank: 1, userId: 7, player: name + name, game: "all", score: 0, date: ""),
        ]
        let page = BoardPage(result: rows, totalCount: 99_943, period: .allTime, game: "all")
        let response = HTTPResponse.envelope(message: name, data: page)
        #expect(response.body == (try JSONCoding.encode(Envelope(success: true, statusCode: 200, message: name, data: page, errors: nil))))
    }

    /// A kept page's JSON, copied into the envelope, gives the bytes the page itself would.
    @Test(arguments: trickyStrings)
    func aRenderedPageIsWrittenAsThePageItself(name: String) throws {
        let page = BoardPage(
            result: [BoardRow(rank: 1, userId: 3, player: name, game: "cod", score: 5, date: "2026-11-29")], totalCount: 1, period: .daily,
            game: "cod")
        let rendered = RenderedPage(page)
        #expect(HTTPResponse.envelope(data: rendered).body == HTTPResponse.envelope(data: page).body)
        #expect(try JSONCoding.encode(rendered) == (try JSONCoding.encode(page)))
    }

    /// A kept report's JSON, copied into the envelope, gives the bytes the encoder writes for its rows.
    @Test(arguments: trickyStrings)
    func aRenderedReportIsWrittenAsTheEncoderWroteIt(name: String) throws {
        struct Report: Encodable { let result: [ReportRow] }
        let rows = [
            ReportRow(rank: 1, userId: 3, name: name, score: 1_000_000_000, game: "cod", gameLabel: name + "!", date: "2026-11-29", games: 2),
            ReportRow(rank: 1, userId: 9, name: "Bo", score: -5, game: "kart", gameLabel: "Kart", date: "2026-11-30", games: 1),
        ]
        for result in [rows, []] {
            let rendered = RenderedReport(result)
            #expect(
                HTTPResponse.envelope(data: rendered).body
                    == (try JSONCoding.encode(Envelope(success: true, statusCode: 200, message: "done", data: Report(result: result), errors: nil))))
            #expect(try JSONCoding.encode(rendered) == (try JSONCoding.encode(Report(result: result))))
        }
    }

    @Test func anEmptyPageAndAPositionAreWrittenAsTheEncoderWroteThem() throws {
        let empty = BoardPage(result: [], totalCount: 0, period: .weekly, game: "cod")
        #expect(
            HTTPResponse.envelope(data: empty).body
                == (try JSONCoding.encode(Envelope(success: true, statusCode: 200, message: "done", data: empty, errors: nil))))
        let row = BoardRow(rank: 3, userId: 9, player: "Zoë \"Z\"", game: "cod", score: 12, date: "2026-11-29")
        let position = PlayerPosition(rank: 3, score: 12, date: "2026-11-29", around: [row, row])
        #expect(
            HTTPResponse.envelope(data: position).body
                == (try JSONCoding.encode(Envelope(success: true, statusCode: 200, message: "done", data: position, errors: nil))))
    }

    @Test(arguments: [false, true])
    func submissionsAreWrittenAsTheEncoderWroteThem(improved: Bool) throws {
        let result = SubmissionResult(game: "valrnt", score: -1, best: Int.max, improved: improved, rank: Int.min, globalRank: 0)
        #expect(
            HTTPResponse.envelope(status: 200, message: "new personal best", data: result).body
                == (try JSONCoding.encode(Envelope(success: true, statusCode: 200, message: "new personal best", data: result, errors: nil))))
        let queued = QueuedSubmission(game: "cod", score: 5, queued: true)
        #expect(
            HTTPResponse.envelope(status: 202, message: "stored", data: queued).body
                == (try JSONCoding.encode(Envelope(success: true, statusCode: 202, message: "stored", data: queued, errors: nil))))
    }

    @Test(arguments: trickyStrings)
    func failuresAreWrittenAsTheEncoderWroteThem(message: String) throws {
        for error in [
            APIError(.unauthorized(message)), APIError(.notFound(message)),
            APIError(.validation([FieldError(field: "game", message: message), FieldError(field: message, message: "must be a string")])),
        ] {
            let expected = try JSONCoding.encode(
                Envelope<Never?>(
                    success: false, statusCode: error.status, message: error.message, data: nil,
                    errors: error.fieldErrors.isEmpty ? nil : error.fieldErrors))
            #expect(HTTPResponse.failure(error).body == expected)
        }
    }
}
