import Foundation
import Testing

@testable import LeaderboardCore

@Suite struct JSONParserTests {
    static func parse(_ text: String, maximumDepth: Int = 16) throws(JSONParser.Problem) -> JSONValue {
        try JSONParser.parse(Array(text.utf8), maximumDepth: maximumDepth)
    }

    @Test func readsEveryKindOfValue() throws {
        let document = try Self.parse(#" {"a" : -0.5e+10, "b":[true,false,null], "c":"\u00e9\n\"\\\/\t", "d":{}, "e":[], "f":"é😀"} "#)
        #expect(
            document
                == .object([
                    "a": .number(JSONNumber(double: -5e9)), "b": .array([.bool(true), .bool(false), .null]),
                    "c": .string("é\n\"\\/\t"), "d": .object([:]), "e": .array([]), "f": .string("é😀"),
                ]))
    }

    @Test func aSurrogatePairIsOneCharacter() throws {
        #expect(try Self.parse(#""\ud83d\ude00x\uD83D\uDE00""#) == .string("😀x😀"))
    }

    @Test(arguments: [("5", 5), ("5.0", 5), ("5e2", 500), ("-0", 0), ("9007199254740993", 9_007_199_254_740_993), ("-9223372036854775808", Int.min)])
    func wholeNumbersAreExact(text: String, expected: Int) throws {
        #expect(try Self.parse(text).wholeNumber == expected)
    }

    @Test(arguments: ["5.5", "9223372036854775808", "-9223372036854775809", "1e19", "123456789012345678901234567890", "\"5\"", "true", "null"])
    func otherValuesAreNoWholeNumbers(text: String) throws {
        #expect(try Self.parse(text).wholeNumber == nil)
    }

    @Test func theLastOfANameGivenTwiceCounts() throws {
        #expect(try Self.parse(#"{"a":1,"a":2}"#) == .object(["a": .number(JSONNumber(integer: 2))]))
    }

    @Test(arguments: [
        (#"{"a":1,}"#, JSONParser.Problem.malformed), ("[1,]", .malformed), (#"{"a":01}"#, .malformed), (#"{"a":.5}"#, .malformed),
        (#""x\q""#, .malformed), ("\"tab\there\"", .malformed), (#"{"a":1}{}"#, .malformed), ("", .malformed),
        ("1e400", .numberOutOfRange), ("1e-400", .numberOutOfRange), (#""\udc00""#, .loneSurrogate), (#""\ud83dx""#, .loneSurrogate),
        ("[[[[1]]]]", .tooDeep),
    ])
    func refusesWhatIsNotStrictJSON(text: String, problem: JSONParser.Problem) {
        #expect(throws: problem) { try Self.parse(text, maximumDepth: 3) }
    }

    @Test func refusesBytesThatAreNotUTF8() {
        #expect(throws: JSONParser.Problem.notUTF8) { try JSONParser.parse([0x22, 0xFF, 0x22], maximumDepth: 1) }
    }

    /// Documents of every shape, read by Foundation's parser and ours: the same values.
    @Test func readsWhatFoundationReads() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let document = Self.randomValue(depth: 0, using: &generator)
            let bytes = try JSONSerialization.data(withJSONObject: document, options: [.fragmentsAllowed])
            let ours = try JSONParser.parse(Array(bytes), maximumDepth: 8)
            let foundation = try JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed])
            #expect(Self.same(ours, foundation), "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    static func randomValue(depth: Int, using generator: inout SystemRandomNumberGenerator) -> Any {
        switch Int.random(in: depth < 4 ? 0...7 : 2...7, using: &generator) {
        case 0: return (0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(depth: depth + 1, using: &generator) }
        case 1:
            return Dictionary(
                (0..<Int.random(in: 0...4, using: &generator)).map { _ in
                    (randomText(using: &generator), randomValue(depth: depth + 1, using: &generator))
                },
                uniquingKeysWith: { first, _ in first })
        case 2: return randomText(using: &generator)
        case 3: return Int.random(in: Int.min...Int.max, using: &generator)
        case 4: return Double.random(in: -1e12...1e12, using: &generator)
        case 5: return Bool.random(using: &generator)
        case 6: return NSNull()
        default: return Int.random(in: -1000...1000, using: &generator)
        }
    }

    static func randomText(using generator: inout SystemRandomNumberGenerator) -> String {
        let alphabet = Array("abc \"\\/\n\t\u{01}é😀€")
        return String((0..<Int.random(in: 0...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
    }

    static func same(_ ours: JSONValue, _ foundation: Any) -> Bool {
        switch ours {
        case .object(let members):
            guard let other = foundation as? [String: Any], other.count == members.count else { return false }
            return members.allSatisfy { name, value in other[name].map { same(value, $0) } ?? false }
        case .array(let values):
            guard let other = foundation as? [Any], other.count == values.count else { return false }
            return zip(values, other).allSatisfy { same($0, $1) }
        case .string(let text): return foundation as? String == text
        case .number(let number):
            guard let other = foundation as? NSNumber, type(of: other) == NSNumber.self || other is NSDecimalNumber else { return false }
            if number.wholeNumber.map({ other.int64Value != Int64($0) }) ?? false { return false }
            // Foundation gives 19-digit integers and long fractions as NSDecimalNumber, whose double may be an ulp off
            // (ours is the nearest, as Swift's `Double(String)` reads it).
            return other is NSDecimalNumber
                ? abs(other.doubleValue - number.double) <= abs(number.double) * 1e-15 : other.doubleValue == number.double
        case .bool(let flag):
            guard let other = foundation as? NSNumber, type(of: other) != NSNumber.self, !(other is NSDecimalNumber) else { return false }
            return other.boolValue == flag
        case .null: return foundation is NSNull
        }
    }
}
