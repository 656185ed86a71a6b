/// A value that can be sent as a statement parameter, in PostgreSQL's text format.
public protocol PostgresBindable: Sendable {
    var postgresText: String { get }
}

extension String: PostgresBindable {
    public var postgresText: String { self }
}

extension Int: PostgresBindable {
    public var postgresText: String { String(self) }
}

extension Int64: PostgresBindable {
    public var postgresText: String { String(self) }
}

extension Bool: PostgresBindable {
    public var postgresText: String { self ? "t" : "f" }
}

/// An array literal (`$1::bigint[]`, `$1::text[]`): each element quoted, with its backslashes and quotes
/// escaped, so any text (commas, braces, quotes) stays one element.
extension Array: PostgresBindable where Element: PostgresBindable {
    public var postgresText: String {
        let elements = map { element in
            "\"" + element.postgresText.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return "{" + elements.joined(separator: ",") + "}"
    }
}
