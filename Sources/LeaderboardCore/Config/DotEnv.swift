/// Parses the `KEY=value` lines of a `.env` file, as python-dotenv reads them.
///
/// Blank lines and `#` comments are skipped, an optional `export ` prefix is allowed,
/// and a value may be wrapped in single or double quotes.
public enum DotEnv {
    public static func parse(_ text: String) throws(ConfigError) -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst("export ".count)).trimmingWhitespace() }
            guard let equals = line.firstIndex(of: "=") else {
                throw .malformedEnvFile(line: index + 1, reason: "expected KEY=value")
            }
            let key = String(line[..<equals]).trimmingWhitespace()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw .malformedEnvFile(line: index + 1, reason: "invalid variable name")
            }
            values[key] = unquote(String(line[line.index(after: equals)...]).trimmingWhitespace())
        }
        return values
    }

    private static func unquote(_ value: String) -> String {
        for quote in ["\"", "'"] where value.count >= 2 && value.hasPrefix(quote) && value.hasSuffix(quote) {
            return String(value.dropFirst().dropLast())
        }
        // An unquoted value may carry a trailing comment.
        if let hash = value.range(of: " #") { return String(value[..<hash.lowerBound]).trimmingWhitespace() }
        return value
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace.
    public func trimmingWhitespace() -> String {
        // Nothing to trim when both ends are printable ASCII, which no whitespace is (the common case:
        // every request's token goes through here, and the Unicode walk below shows in a request's cost).
        let string = String(self)
        if let first = string.utf8.first, let last = string.utf8.last, (0x21...0x7E).contains(first), (0x21...0x7E).contains(last) {
            return string
        }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
