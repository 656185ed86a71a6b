/// JSON written by hand, byte for byte as `JSONCoding.encoder` writes it (keys sorted, slashes not escaped,
/// the same string escapes), for the responses of the busiest routes: Foundation's encoder cost more than
/// the rest of such a request. Types that have it conform to `JSONWritable`; every other `Encodable` keeps
/// using the encoder.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var isFirstMember = true

    public init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    /// An object; `body` writes its members, in sorted order of their names.
    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        let outer = isFirstMember
        isFirstMember = true
        body(&self)
        isFirstMember = outer
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func member(_ name: StaticString, _ value: some JSONWritable) {
        writeName(name)
        value.write(to: &self)
    }

    public mutating func member(_ name: StaticString, _ value: (some JSONWritable)?) {
        writeName(name)
        if let value { value.write(to: &self) } else { bytes.append(contentsOf: "null".utf8) }
    }

    public mutating func member(_ name: StaticString, _ values: [some JSONWritable]) {
        writeName(name)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            value.write(to: &self)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Member names are ASCII without anything to escape.
    private mutating func writeName(_ name: StaticString) {
        if !isFirstMember { bytes.append(UInt8(ascii: ",")) }
        isFirstMember = false
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: "\":".utf8)
    }

    /// A value written before by another `JSONWriter` (see `RenderedPage`), copied as it is.
    public mutating func append(written json: [UInt8]) {
        bytes.append(contentsOf: json)
    }

    public mutating func write(_ value: Int) {
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func write(_ value: Bool) {
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// Escapes `"`, `\` and the control characters below U+0020, as the encoder does; the rest is copied as UTF-8.
    public mutating func write(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case 0x08: bytes.append(contentsOf: #"\b"#.utf8)
            case 0x0C: bytes.append(contentsOf: #"\f"#.utf8)
            case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): bytes.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): bytes.append(contentsOf: #"\t"#.utf8)
            case 0x00..<0x20:
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// A value `JSONWriter` can write, as the encoder would encode it.
public protocol JSONWritable {
    func write(to json: inout JSONWriter)
}

extension Int: JSONWritable {
    public func write(to json: inout JSONWriter) { json.write(self) }
}

extension Bool: JSONWritable {
    public func write(to json: inout JSONWriter) { json.write(self) }
}

extension String: JSONWritable {
    public func write(to json: inout JSONWriter) { json.write(self) }
}

extension BoardRow: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.member("date", date)
            json.member("game", game)
            json.member("player", player)
            json.member("rank", rank)
            json.member("score", score)
            json.member("userId", userId)
        }
    }
}

extension BoardPage: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.member("game", game)
            json.member("period", period.rawValue)
            json.member("result", result)
            json.member("totalCount", totalCount)
        }
    }
}

extension ReportRow: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.member("date", date)
            json.member("game", game)
            json.member("gameLabel", gameLabel)
            json.member("games", games)
            json.member("name", name)
            json.member("rank", rank)
            json.member("score", score)
            json.member("userId", userId)
        }
    }
}

extension PlayerPosition: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.member("around", around)
            json.member("date", date)
            json.member("rank", rank)
            json.member("score", score)
        }
    }
}

extension SubmissionResult: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.member("best", best)
            json.member("game", game)
            json.member("globalRank", globalRank)
            json.member("improved", improved)
            json.member("rank", rank)
            json.member("score", score)
        }
    }
}

extension QueuedSubmission: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.member("game", game)
            json.member("queued", queued)
            json.member("score", score)
        }
    }
}

extension FieldError: JSONWritable {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.member("field", field)
            json.member("message", message)
        }
    }
}
