import Foundation

/// JSON as the service writes it, in REST answers and WebSocket pushes alike: sorted keys, so equal
/// content is equal bytes (the ws daemon's "changed" is a byte compare).
public enum JSONCoding {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public static func encode(_ value: some Encodable) throws -> [UInt8] { Array(try encoder.encode(value)) }
}
