import FastCGIPool
import Testing

@testable import LeaderboardAPI
@testable import LeaderboardCore

@Suite struct RouterTests {
    let router: Router<Void> = {
        var router = Router<Void>()
        router.add("GET", "/api/v1/games") { _, _, _ in HTTPResponse(status: 200, body: Array("games".utf8)) }
        router.add("GET", "/api/v1/leaderboards/{game}") { _, parameters, _ in
            HTTPResponse(status: 200, body: Array((parameters["game"] ?? "").utf8))
        }
        router.add("POST", "/api/v1/scores") { _, _, _ in HTTPResponse(status: 201) }
        return router
    }()

    func body(_ match: Router<Void>.Match, _ request: HTTPRequest) throws -> String? {
        guard case .found(.now(let handler), let parameters, _) = match else { return nil }
        return String(decoding: try handler(request, parameters, ()).body, as: UTF8.self)
    }

    @Test(arguments: ["/api/v1/games", "/api/v1/games/", "/api/v1//games"])
    func matchesWithOrWithoutATrailingSlash(path: String) throws {
        #expect(try body(router.match(method: "GET", path: path), HTTPRequest(method: "GET", path: path)) == "games")
    }

    @Test func bindsPathParameters() throws {
        let match = router.match(method: "GET", path: "/api/v1/leaderboards/cod")
        #expect(try body(match, HTTPRequest(method: "GET", path: "/")) == "cod")
    }

    @Test func reportsTheAllowedMethodsForAKnownPath() {
        guard case .methodNotAllowed(let allowed) = router.match(method: "DELETE", path: "/api/v1/scores") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowed == ["POST"])
    }

    @Test func servesHeadWhereverGetIsServed() throws {
        #expect(try body(router.match(method: "HEAD", path: "/api/v1/games"), HTTPRequest(method: "HEAD", path: "/")) == "games")
    }

    @Test(arguments: ["/api/v1/nope", "/api/v1/leaderboards/cod/extra/more", "/", ""])
    func unknownPathsAreNotFound(path: String) {
        guard case .notFound = router.match(method: "GET", path: path) else {
            Issue.record("expected 404 for \(path)")
            return
        }
    }

    @Test func parsesQueryStrings() {
        let query = HTTPRequest.parseQuery("a=1&b=two+words&c=%C3%A9t%C3%A9&d&a=2&e=%zz")
        #expect(query["a"] == "1")
        #expect(query["b"] == "two words")
        #expect(query["c"] == "été")
        #expect(query["d"] == "")
        #expect(query["e"] == "")
    }

    @Test func readsTheTokenFromBearerBeforeTheCookie() {
        let both = HTTPRequest(method: "GET", path: "/", headers: ["Authorization": "Bearer abc", "Cookie": "x=1; ath=def"])
        #expect(both.accessToken == "abc")
        let cookie = HTTPRequest(method: "GET", path: "/", headers: ["Cookie": "x=1; ath=def"])
        #expect(cookie.accessToken == "def")
        #expect(HTTPRequest(method: "GET", path: "/", headers: ["Authorization": "Basic abc"]).accessToken == nil)
    }
}

@Suite struct JSONBodyTests {
    func request(_ body: String, contentType: String? = "application/json") -> HTTPRequest {
        HTTPRequest(method: "POST", path: "/", headers: contentType.map { ["Content-Type": $0] } ?? [:], body: Array(body.utf8))
    }

    /// Reads `{game, score}` as the score route does; the status a client would get, and the fields named.
    func outcome(_ request: HTTPRequest) -> (status: Int, fields: [String]) {
        do {
            var fields = try request.jsonFields()
            _ = (fields.string("game", "gameChannel"), fields.integer("score"))
            try fields.validate()
            return (200, [])
        } catch let error as APIError {
            return (error.status, error.fieldErrors.map(\.field))
        } catch {
            let answer = APIError(error as! ServiceError)
            return (answer.status, answer.fieldErrors.map(\.field))
        }
    }

    @Test func readsAValidBodyIgnoringUnknownFields() throws {
        var fields = try request(#"{"gameChannel":"cod","score":5.0,"extra":true}"#, contentType: "application/json; charset=utf-8").jsonFields()
        #expect(fields.string("game", "gameChannel") == "cod")
        #expect(fields.integer("score") == 5)
        #expect(fields.errors.isEmpty)
    }

    @Test(arguments: [nil, "text/plain", "application/x-www-form-urlencoded"])
    func refusesOtherContentTypes(contentType: String?) {
        #expect(outcome(request(#"{"game":"cod","score":5}"#, contentType: contentType)).status == 415)
    }

    @Test(arguments: ["", "{", "{\"game\":}", "nul", "{'game':'cod'}", #"{"game":"cod","score":1e400}"#])
    func malformedJSONIsABadRequest(body: String) {
        #expect(outcome(request(body)).status == 400)
    }

    @Test(arguments: ["1e400", "-1e400", "1e-400", "-0.5e-400", "0.\(String(repeating: "0", count: 400))1", "1\(String(repeating: "0", count: 400))"])
    func aNumberNoDoubleHoldsIsABadRequestNotInfinityOrZero(number: String) {
        do {
            _ = try request(#"{"game":"cod","score":"# + number + "}").jsonFields()
            Issue.record("\(number) was read")
        } catch {
            #expect(error.status == 400)
            #expect(error.message == "a number is out of range")
        }
    }

    @Test(arguments: [("0e-400", 0), ("0.0e999", 0), ("-0", 0), ("1e2", 100), ("12.50e1", 125)])
    func zeroesAndIntegralNumbersInAnyNotationAreWholeNumbers(number: String, value: Int) throws {
        var fields = try request(#"{"score":"# + number + "}").jsonFields()
        #expect(fields.integer("score") == value)
    }

    /// RFC 8259's grammar lets a `\u` escape be half a surrogate pair (section 8.2), but such text is no
    /// Unicode string: refused as that code unit sent as UTF-8 bytes is, in a value or a key alike.
    @Test(arguments: [#"\ud800"#, #"\uDBFF"#, #"\udc00"#, #"\uDFFF"#, #"\udc00\ud800"#, #"\ud800x"#, #"\ud800\u0041"#, #"\ud800\ud800"#])
    func aLoneSurrogateEscapeIsABadRequestSayingSo(escape: String) {
        for body in [#"{"game":"cod\#(escape)","score":1}"#, #"{"game":"cod","score":1,"x\#(escape)":0}"#] {
            do {
                _ = try request(body).jsonFields()
                Issue.record("\(body) was read")
            } catch {
                #expect(error.status == 400)
                #expect(error.message == #"not Unicode: a \u escape is half a UTF-16 surrogate pair"#)
            }
        }
    }

    @Test func aSurrogatePairEscapeIsOneCharacter() throws {
        var fields = try request(#"{"game":"\ud83d\ude00\uD83D\uDE00","score":1}"#).jsonFields()
        #expect(fields.string("game") == "😀😀")
    }

    @Test func nonUTF8IsABadRequest() {
        let invalid = HTTPRequest(method: "POST", path: "/", headers: ["Content-Type": "application/json"], body: [0x7B, 0xFF, 0xFE, 0x7D])
        #expect(outcome(invalid).status == 400)
    }

    @Test func deepNestingIsRefusedBeforeParsing() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(outcome(request(deep)).status == 400)
        #expect(outcome(request(#"{"game":"[[[[{{{{","score":1}"#)).status == 200, "brackets inside strings do not nest")
    }

    @Test(arguments: [
        #"{"a":1,}"#, "[1,]", "{,}", #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":-}"#, #"{"a":NaN}"#, #"{"a":"x\q"}"#,
        #"{"a":"\u12"}"#, "{\"a\":\"tab\there\"}", #"{"a" 1}"#, #"{"a":1}{}"#, #"{"a":tru}"#, "{\"a\":\"\u{0001}\"}",
    ])
    func strictJSONRefusesWhatLenientParsersAccept(body: String) {
        #expect(outcome(request(body)).status == 400)
    }

    @Test(arguments: [#"{"a":-0.5e+10,"b":[true,false,null],"c":"\u00e9\n"}"#, " {\"a\" : { } } ", #"{"a":"é😀"}"#])
    func strictJSONAcceptsValidDocuments(body: String) throws {
        #expect(throws: Never.self) { try JSONParser.parse(Array(body.utf8), maximumDepth: 16) }
    }

    @Test func stringsWithNULAreRefused() {
        #expect(outcome(request(#"{"game":"cod\u0000x","score":1}"#)) == (422, ["game"]))
    }

    @Test(arguments: [
        (#"{"game":"cod"}"#, ["score"]), (#"{"game":"cod","score":"5"}"#, ["score"]), (#"{"game":"cod","score":5.5}"#, ["score"]),
        (#"{"game":7,"score":5}"#, ["game"]), (#"{"game":null,"score":5}"#, ["game"]), (#"{"game":"cod","score":true}"#, ["score"]),
        (#"{"game":"cod","score":99999999999999999999}"#, ["score"]), (#"{}"#, ["game", "score"]),
        (#"{"game":"cod","score":[1]}"#, ["score"]),
    ])
    func wrongOrMissingFieldsAreValidationErrorsNamingEveryField(body: String, fields: [String]) {
        let result = outcome(request(body))
        #expect(result.status == 422)
        #expect(result.fields == fields)
    }

    @Test(arguments: ["[1,2]", "5", "\"text\"", "null"])
    func aNonObjectBodyIsAValidationError(body: String) {
        #expect(outcome(request(body)).status == 422)
    }

    @Test func acceptsSignedSixtyFourBitNumbersAndIntegralFloats() throws {
        var fields = try request(#"{"a":9223372036854775807,"b":-42,"c":1e3}"#).jsonFields()
        #expect(fields.integer("a") == Int.max)
        #expect(fields.integer("b") == -42)
        #expect(fields.integer("c") == 1000)
    }
}
