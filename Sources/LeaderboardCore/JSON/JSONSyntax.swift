/// A strict RFC 8259 syntax check, run before Foundation's parser, which is lenient (it takes trailing
/// commas). It also bounds nesting, so a hostile body cannot recurse deeply into any parser.
enum JSONSyntax {
    enum Problem: Error, Equatable {
        case malformed
        case tooDeep
        /// A number a double cannot hold: `1e400` would read as infinity, `1e-400` as zero.
        case numberOutOfRange
        /// A `\u` escape of half a UTF-16 surrogate pair: RFC 8259's grammar allows it (section 8.2), but
        /// the text is no Unicode string, as surely as the same code unit sent as UTF-8 bytes is not UTF-8.
        case loneSurrogate
    }

    static func validate(_ bytes: [UInt8], maximumDepth: Int) throws(Problem) {
        var parser = Parser(bytes: bytes, maximumDepth: maximumDepth)
        parser.skipWhitespace()
        try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw .malformed }
    }

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

        mutating func value(depth: Int) throws(Problem) {
            switch current {
            case UInt8(ascii: "{"): try container(depth: depth, close: UInt8(ascii: "}"), isObject: true)
            case UInt8(ascii: "["): try container(depth: depth, close: UInt8(ascii: "]"), isObject: false)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: try number()
            }
        }

        mutating func container(depth: Int, close: UInt8, isObject: Bool) throws(Problem) {
            guard depth < maximumDepth else { throw .tooDeep }
            position += 1
            skipWhitespace()
            if current == close {
                position += 1
                return
            }
            while true {
                if isObject {
                    try string()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                    skipWhitespace()
                }
                try value(depth: depth + 1)
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

        mutating func string() throws(Problem) {
            try expect(UInt8(ascii: "\""))
            while let byte = current {
                position += 1
                switch byte {
                case UInt8(ascii: "\""): return
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { throw .malformed }
                    position += 1
                    if escaped == UInt8(ascii: "u") {
                        let unit = try codeUnit()
                        if (0xDC00...0xDFFF).contains(unit) { throw .loneSurrogate }
                        if (0xD800...0xDBFF).contains(unit) {
                            guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
                                throw .loneSurrogate
                            }
                            position += 2
                            guard (0xDC00...0xDFFF).contains(try codeUnit()) else { throw .loneSurrogate }
                        }
                    } else if !Array("\"\\/bfnrt".utf8).contains(escaped) {
                        throw .malformed
                    }
                case 0..<0x20: throw .malformed
                default: break
                }
            }
            throw .malformed
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

        mutating func literal(_ word: String) throws(Problem) {
            for byte in word.utf8 { try expect(byte) }
        }

        mutating func number() throws(Problem) {
            let start = position
            if current == UInt8(ascii: "-") { position += 1 }
            if current == UInt8(ascii: "0") {
                position += 1
            } else {
                try digits()
            }
            if current == UInt8(ascii: ".") {
                position += 1
                try digits()
            }
            let mantissaEnd = position
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                try digits()
            }
            try checkRange(start..<position, mantissaEnd: mantissaEnd)
        }

        /// Refuses a number a double cannot hold, rather than let the parser read it as infinity or as 0.
        func checkRange(_ token: Range<Int>, mantissaEnd: Int) throws(Problem) {
            guard let value = Double(String(decoding: bytes[token], as: UTF8.self)), value.isFinite else { throw .numberOutOfRange }
            if value == 0, bytes[token.lowerBound..<mantissaEnd].contains(where: { (UInt8(ascii: "1")...UInt8(ascii: "9")).contains($0) }) {
                throw .numberOutOfRange
            }
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
