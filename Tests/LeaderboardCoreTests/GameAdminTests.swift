import LeaderboardTesting
import Testing

@testable import LeaderboardCore

/// Game administration over the in-memory store: what a create or an update may set, what it refuses (each refusal on
/// its field), and the audit entry every change leaves.
@Suite struct GameAdminTests {
    let store = InMemoryGameAdminStore()
    var admin: GameAdmin { GameAdmin(store: store) }

    func fieldsOfError(_ body: () throws -> Game) -> [String]? {
        do {
            _ = try body()
            return nil
        } catch let error as ServiceError {
            return error.fieldErrors.map(\.field)
        } catch {
            return nil
        }
    }

    func settings(_ json: String) throws -> GameSettings {
        var fields = try JSONFields.parse(Array(json.utf8), maximumDepth: 4)
        let settings = GameSettings(fields: &fields)
        try fields.validate()
        return settings
    }

    @Test func aNewGameTakesTodaysBehaviourByDefaultAndComesAfterTheLast() throws {
        let game = try admin.create(slug: "kart", settings: GameSettings(label: "Kart"), actor: "user:1")

        #expect(game == Game(slug: "kart", label: "Kart", position: 3))
        #expect(try store.games().last == game)
        let entry = try #require(store.audit.last)
        #expect(entry.actor == "user:1" && entry.action == "game.create" && entry.target == "kart")
        #expect(entry.changes["label"] == AuditChange(before: .none, after: .text("Kart")))
        #expect(entry.changes["inGlobal"] == AuditChange(before: .none, after: .flag(true)))
        #expect(entry.changes.count == 12)
    }

    @Test func aNewGameAfterOneAtTheLastPositionTakesThatPositionToo() throws {
        _ = try admin.update(slug: "cod", settings: GameSettings(position: Int(Int32.max)), actor: "user:1")
        #expect(try admin.create(slug: "kart", settings: GameSettings(label: "Kart"), actor: "user:1").position == Int(Int32.max))
    }

    @Test func ascGivenAloneLeavesTheGlobalBoardAndWithInGlobalIsRefused() throws {
        let kart = try admin.create(slug: "kart", settings: GameSettings(label: "Kart", order: .asc), actor: "user:1")
        #expect(kart.order == .asc && !kart.inGlobal)

        let refused = fieldsOfError {
            try admin.create(slug: "kart2", settings: GameSettings(label: "Kart", order: .asc, inGlobal: true), actor: "user:1")
        }
        #expect(refused == ["inGlobal"])
        #expect(fieldsOfError { try admin.update(slug: "kart", settings: GameSettings(inGlobal: true), actor: "user:1") } == ["inGlobal"])
    }

    @Test(arguments: ["", "Kart", "all", "a b", "kart!", "kärt", String(repeating: "k", count: 33), "kart\n"])
    func aSlugOutsideTheRulesIsRefused(slug: String) {
        #expect(fieldsOfError { try admin.create(slug: slug, settings: GameSettings(label: "Kart"), actor: "user:1") } == ["slug"])
        #expect(store.audit.isEmpty)
    }

    @Test(arguments: ["k", "kart_2-x", String(repeating: "k", count: 32)])
    func aSlugWithinTheRulesIsTaken(slug: String) throws {
        #expect(try admin.create(slug: slug, settings: GameSettings(label: "Kart"), actor: "user:1").slug == slug)
    }

    @Test func aTakenSlugIsAConflict() throws {
        #expect(throws: ServiceError.conflict("a game with the slug 'cod' already exists")) {
            try admin.create(slug: "cod", settings: GameSettings(label: "Again"), actor: "user:1")
        }
        #expect(store.audit.isEmpty)
    }

    @Test(arguments: [nil, "", "   ", String(repeating: "é", count: 101), "tab\there"])
    func aLabelThatIsMissingEmptyTooLongOrControlledIsRefused(label: String?) {
        #expect(fieldsOfError { try admin.create(slug: "kart", settings: GameSettings(label: label), actor: "user:1") } == ["label"])
    }

    @Test func aLabelOfAHundredCharactersIsTaken() throws {
        let label = String(repeating: "é", count: 100)
        #expect(try admin.create(slug: "kart", settings: GameSettings(label: label), actor: "user:1").label == label)
    }

    @Test func boundsMustBeOrderedAndExactInADouble() throws {
        let largest = Game.largestBound
        let kart = try admin.create(slug: "kart", settings: GameSettings(label: "K", minScore: -largest, maxScore: largest), actor: "user:1")
        #expect(kart.minScore == -largest && kart.maxScore == largest)

        #expect(fieldsOfError { try admin.update(slug: "kart", settings: GameSettings(minScore: 5, maxScore: 4), actor: "user:1") } == ["minScore"])
        #expect(fieldsOfError { try admin.update(slug: "cod", settings: GameSettings(maxScore: -1), actor: "user:1") } == ["maxScore"])
        #expect(
            fieldsOfError { try admin.update(slug: "kart", settings: GameSettings(minScore: -largest - 1, maxScore: largest + 1), actor: "user:1") }
                == ["minScore", "maxScore"])
        #expect(fieldsOfError { try admin.update(slug: "kart", settings: GameSettings(position: -1), actor: "user:1") } == ["position"])
    }

    @Test func orderAndRuleChangeOnlyWhileTheGameHasNoScore() throws {
        let changed = try admin.update(slug: "cod", settings: GameSettings(order: .asc, rule: .latest), actor: "user:1")
        #expect(changed.order == .asc && changed.rule == .latest && !changed.inGlobal)

        store.scoredGames = ["valrnt"]
        for settings in [GameSettings(order: .asc), GameSettings(rule: .sum)] {
            let error = #expect(throws: ServiceError.self) { try admin.update(slug: "valrnt", settings: settings, actor: "user:1") }
            #expect(error?.message.hasPrefix("'valrnt' has scores") == true)
        }
        let relabelled = try admin.update(
            slug: "valrnt", settings: GameSettings(label: "Valorant 2", order: .desc, rule: .best, tieBreak: .earliest), actor: "user:1")
        #expect(relabelled.label == "Valorant 2" && relabelled.tieBreak == .earliest)
    }

    @Test func anUpdateRecordsOnlyWhatChangedAndNothingWhenNothingDid() throws {
        _ = try admin.update(slug: "cod", settings: GameSettings(label: "Call of Duty", archived: true), actor: "leaderboardctl", reason: "retired")
        let entry = try #require(store.audit.last)
        #expect(entry.action == "game.update" && entry.actor == "leaderboardctl" && entry.target == "cod" && entry.reason == "retired")
        #expect(entry.changes == ["archived": AuditChange(before: .flag(false), after: .flag(true))])
        #expect(entry.detailsJSON == #"{"archived":{"after":true,"before":false}}"#)

        _ = try admin.update(slug: "cod", settings: GameSettings(archived: true), actor: "user:1")
        #expect(store.audit.count == 1)
    }

    @Test func anUnknownGameIsNotFound() {
        #expect(throws: ServiceError.notFound("unknown game 'nope'")) { try admin.update(slug: "nope", settings: GameSettings(), actor: "user:1") }
        #expect(throws: ServiceError.notFound("unknown game 'nope'")) { try admin.game("nope") }
    }

    @Test(arguments: ["", String(repeating: "r", count: 501)])
    func aReasonMustBeOneToFiveHundredCharacters(reason: String) {
        #expect(fieldsOfError { try admin.update(slug: "cod", settings: GameSettings(), actor: "user:1", reason: reason) } == ["reason"])
    }

    @Test func settingsAreReadFromJSONWithTheirTypesChecked() throws {
        let read = try settings(
            #"{"label": "Kart", "position": 4.0, "order": "asc", "rule": "sum", "minScore": -5, "maxScore": 9007199254740991, "tieBreak": "earliest", "inGlobal": false, "format": "time_ms", "authoritative": true, "archived": false}"#
        )
        #expect(
            read
                == GameSettings(
                    label: "Kart", position: 4, order: .asc, rule: .sum, minScore: -5, maxScore: 9_007_199_254_740_991, tieBreak: .earliest,
                    inGlobal: false, format: .timeMs, authoritative: true, archived: false))
        #expect(try settings("{}") == GameSettings())
    }

    @Test(arguments: [
        (#"{"inGlobal": 1}"#, "inGlobal"), (#"{"archived": "true"}"#, "archived"), (#"{"authoritative": null}"#, "authoritative"),
        (#"{"order": "ASC"}"#, "order"), (#"{"rule": 1}"#, "rule"), (#"{"format": "time"}"#, "format"), (#"{"tieBreak": true}"#, "tieBreak"),
        (#"{"minScore": 1.5}"#, "minScore"), (#"{"maxScore": "9"}"#, "maxScore"), (#"{"position": false}"#, "position"),
        (#"{"label": 5}"#, "label"), (#"{"maxScore": 1e300}"#, "maxScore"),
    ])
    func aWrongTypeOrValueIsAnErrorOnItsField(json: String, field: String) throws {
        let error = #expect(throws: ServiceError.self) { try settings(json) }
        #expect(error?.fieldErrors.map(\.field) == [field])
    }

    @Test func unknownFieldsAreEachNamed() throws {
        var fields = try JSONFields.parse(Array(#"{"label": "K", "lable": "K", "": 1, "inglobal": true}"#.utf8), maximumDepth: 4)
        fields.refuseUnknown(GameSettings.fieldNames)
        #expect(fields.errors.map(\.field) == ["body", "inglobal", "lable"])
    }
}
