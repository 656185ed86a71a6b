/// Checks UTF-8 a piece at a time, as the pieces arrive: a sequence may be split between two pieces (the
/// fragments of one text message). Accepts exactly the well-formed sequences of Unicode's table 3-7: no
/// overlong forms, no surrogates, nothing past U+10FFFF.
struct UTF8Validator {
    /// Continuation bytes the current sequence still needs.
    private var pending = 0
    /// The range the next continuation byte must fall in; narrower than 0x80...0xBF only right after
    /// the lead bytes E0, ED, F0 and F4.
    private var next: ClosedRange<UInt8> = 0x80...0xBF

    /// Whether everything so far ends on a whole character, as a complete message must.
    var isComplete: Bool { pending == 0 }

    /// Takes the next bytes; false as soon as one cannot continue well-formed UTF-8.
    mutating func accept(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes {
            guard accept(byte) else { return false }
        }
        return true
    }

    private mutating func accept(_ byte: UInt8) -> Bool {
        if pending > 0 {
            guard next.contains(byte) else { return false }
            pending -= 1
            next = 0x80...0xBF
            return true
        }
        switch byte {
        case 0x00...0x7F: return true
        case 0xC2...0xDF: pending = 1
        case 0xE0: (pending, next) = (2, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: pending = 2
        case 0xED: (pending, next) = (2, 0x80...0x9F)
        case 0xF0: (pending, next) = (3, 0x90...0xBF)
        case 0xF1...0xF3: pending = 3
        case 0xF4: (pending, next) = (3, 0x80...0x8F)
        default: return false
        }
        return true
    }
}
