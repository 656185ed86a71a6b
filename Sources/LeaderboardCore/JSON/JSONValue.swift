/// A JSON document, as `JSONParser` reads it.
public enum JSONValue: Equatable, Sendable {
    /// An object; of a name given twice, the last value.
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(JSONNumber)
    case bool(Bool)
    case null

    public var string: String? {
        if case .string(let text) = self { text } else { nil }
    }

    /// An array whose every element is a string, nil for anything else.
    public var strings: [String]? {
        guard case .array(let elements) = self else { return nil }
        let texts = elements.compactMap(\.string)
        return texts.count == elements.count ? texts : nil
    }

    /// The value as a whole number (`5`, `5.0`, `5e2`), nil for anything else: a fraction, a number beyond 64 bits, a
    /// string, a Boolean.
    public var wholeNumber: Int? {
        if case .number(let number) = self { number.wholeNumber } else { nil }
    }
}

/// A JSON number: as a double, and exactly when it is a whole number that fits 64 bits.
public struct JSONNumber: Equatable, Sendable {
    public let double: Double
    /// Exact for an integer literal (beyond 2^53 too); for one with a fraction or an exponent, the double's value when
    /// that is whole and fits.
    public let wholeNumber: Int?

    init(integer: Int) {
        double = Double(integer)
        wholeNumber = integer
    }

    /// `isIntegerLiteral`: written without fraction or exponent, so beyond 64 bits (`init(integer:)` holds the others):
    /// its double is not its value.
    init(double: Double, isIntegerLiteral: Bool = false) {
        self.double = double
        wholeNumber = !isIntegerLiteral && double.rounded() == double ? Int(exactly: double) : nil
    }
}
