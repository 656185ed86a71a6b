/// A strict RFC 8259 parser (no trailing commas, no leading zeros, no control characters in strings), bounded in
/// nesting so a hostile document cannot recurse deeply. It reads request bodies, WebSocket messages, tokens and the
/// board events: one pass over bytes, where Foundation's parsers took a syntax check before them and cost ~80-100 µs
/// for a message of ten events.
public enum JSONParser {
    public enum Problem: Error, Equatable {
        case malformed
        case notUTF8
        case tooDeep
        /// A number a double cannot hold: `1e400` would read as infinity, `1e-400` as zero.
        case numberOutOfRange
        /// A `\u` escape of half a UTF-16 surrogate pair: RFC 8259's grammar allows it (section 8.2), but
        /// the text is no Unicode string, as surely as the same code unit sent as UTF-8 bytes is not UTF-8.
        case loneSurrogate
    }

    /// The document in `bytes`, with containers nested at most `maximumDepth` deep.
    public static func parse(_ bytes: [UInt8], maximumDepth: Int) throws(Problem) -> JSONValue {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw .notUTF8 }
        var parser = Parser(bytes: bytes, maximumDepth: maximumDepth)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw .malformed }
        return value
    }

    /// Reads valid UTF-8 (`parse` checks it first), so text between quotes is taken as it is.
    private struct Parser {
        let bytes: [UInt8]
        let maximumDepth: Int
        var position = 0

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(Problem) {
            guard current == byte else { throw .malformed }
            position += 1
        }

        mutating func value(depth: Int) throws(Problem) -> JSONValue {
            switch current {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            default: return .number(try number())
            }
        }

        mutating func object(depth: Int) throws(Problem) -> JSONValue {
            var members: [String: JSONValue] = [:]
            try elements(depth: depth, close: UInt8(ascii: "}")) { parser throws(Problem) in
                let name = try parser.string()
                parser.skipWhitespace()
                try parser.expect(UInt8(ascii: ":"))
                parser.skipWhitespace()
                members[name] = try parser.value(depth: depth + 1)
            }
            return .object(members)
        }

        mutating func array(depth: Int) throws(Problem) -> JSONValue {
            var values: [JSONValue] = []
            try elements(depth: depth, close: UInt8(ascii: "]")) { parser throws(Problem) in
                values.append(try parser.value(depth: depth + 1))
            }
            return .array(values)
        }

        /// A container's elements, separated by commas, from its opening byte to `close`.
        mutating func elements(depth: Int, close: UInt8, element: (inout Parser) throws(Problem) -> Void) throws(Problem) {
            guard depth < maximumDepth else { throw .tooDeep }
            position += 1
            skipWhitespace()
            if current == close {
                position += 1
                return
            }
            while true {
                try element(&self)
                skipWhitespace()
                if current == UInt8(ascii: ",") {
                    position += 1
                    skipWhitespace()
                    continue
                }
                try expect(close)
                return
            }
        }

        mutating func string() throws(Problem) -> String {
            try expect(UInt8(ascii: "\""))
            let start = position
            // Most strings have no escapes: their bytes are the text.
            while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                guard byte >= 0x20 else { throw .malformed }
                position += 1
            }
            guard let stop = current else { throw .malformed }
            if stop == UInt8(ascii: "\"") {
                position += 1
                return String(decoding: bytes[start..<position - 1], as: UTF8.self)
            }
            var text = Array(bytes[start..<position])
            while let byte = current {
                position += 1
                switch byte {
                case UInt8(ascii: "\""): return String(decoding: text, as: UTF8.self)
                case UInt8(ascii: "\\"): try escape(into: &text)
                case 0..<0x20: throw .malformed
                default: text.append(byte)
                }
            }
            throw .malformed
        }

        /// The character of the escape after a backslash, appended as UTF-8.
        mutating func escape(into text: inout [UInt8]) throws(Problem) {
            guard let escaped = current else { throw .malformed }
            position += 1
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escaped)
            case UInt8(ascii: "b"): text.append(0x08)
            case UInt8(ascii: "f"): text.append(0x0C)
            case UInt8(ascii: "n"): text.append(0x0A)
            case UInt8(ascii: "r"): text.append(0x0D)
            case UInt8(ascii: "t"): text.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try codeUnit()
                if (0xDC00...0xDFFF).contains(scalar) { throw .loneSurrogate }
                if (0xD800...0xDBFF).contains(scalar) {
                    guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
                        throw .loneSurrogate
                    }
                    position += 2
                    let low = try codeUnit()
                    guard (0xDC00...0xDFFF).contains(low) else { throw .loneSurrogate }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                // Every value left is a Unicode scalar: surrogates were refused or paired above.
                text.append(contentsOf: String(Character(Unicode.Scalar(UInt32(scalar))!)).utf8)
            default: throw .malformed
            }
        }

        /// The four hex digits of a `\u` escape, as a UTF-16 code unit.
        mutating func codeUnit() throws(Problem) -> Int {
            var unit = 0
            for _ in 0..<4 {
                guard let hex = current, let digit = Self.hexValue(hex) else { throw .malformed }
                unit = unit * 16 + digit
                position += 1
            }
            return unit
        }

        mutating func literal(_ word: StaticString) throws(Problem) {
            let utf8 = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            for byte in utf8 { try expect(byte) }
        }

        mutating func number() throws(Problem) -> JSONNumber {
            let start = position
            if current == UInt8(ascii: "-") { position += 1 }
            if current == UInt8(ascii: "0") {
                position += 1
            } else {
                try digits()
            }
            var isInteger = true
            if current == UInt8(ascii: ".") {
                isInteger = false
                position += 1
                try digits()
            }
            let mantissaEnd = position
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                isInteger = false
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                try digits()
            }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            if isInteger, let integer = Int(text) { return JSONNumber(integer: integer) }
            // Refuses a number a double cannot hold, rather than read it as infinity or as 0.
            guard let double = Double(text), double.isFinite else { throw .numberOutOfRange }
            if double == 0, bytes[start..<mantissaEnd].contains(where: { (UInt8(ascii: "1")...UInt8(ascii: "9")).contains($0) }) {
                throw .numberOutOfRange
            }
            return JSONNumber(double: double, isIntegerLiteral: isInteger)
        }

        mutating func digits() throws(Problem) {
            let start = position
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
            guard position > start else { throw .malformed }
        }

        static func hexValue(_ byte: UInt8) -> Int? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
            default: nil
            }
        }
    }
}
