import Foundation
import FuzzTargets
import Testing

/// Every input the fuzzers ever crashed on (Tests/fuzz/crashes/<target>/, named after the bug) and the
/// seed corpus (Tests/fuzz/corpus/<target>/) go through the fuzz targets again on every `make test`:
/// a crash that comes back fails here, in a plain build, without libFuzzer.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    static func inputs(_ target: String) -> [String] {
        ["crashes", "corpus"].flatMap { kind -> [String] in
            let directory = root.appendingPathComponent(kind).appendingPathComponent(target)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(kind)/\(target)/\($0)" }
        }
    }

    static func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(path)))
    }

    @Test(arguments: inputs("json"))
    func theJSONTargetSurvives(input: String) throws {
        FuzzTargets.json(try Self.bytes(input))
    }

    @Test(arguments: inputs("jwt"))
    func theJWTTargetSurvives(input: String) throws {
        FuzzTargets.jwt(try Self.bytes(input))
    }

    @Test func theSeedCorpusIsThere() {
        #expect(Self.inputs("json").count >= 5)
        #expect(Self.inputs("jwt").count >= 3)
    }
}
