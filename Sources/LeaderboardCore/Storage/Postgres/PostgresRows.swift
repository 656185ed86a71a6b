/// The rows of a result, copied out of libpq at once so no C memory outlives the call.
public struct PostgresRows: Sendable, RandomAccessCollection {
    public let columns: [String]
    let values: [[String?]]
    /// The number of rows an INSERT, UPDATE or DELETE touched.
    public let affectedRows: Int

    public var startIndex: Int { values.startIndex }
    public var endIndex: Int { values.endIndex }
    public subscript(position: Int) -> PostgresRow { PostgresRow(columns: columns, values: values[position]) }
}

/// One row; columns are read by name, in the text format PostgreSQL sent them.
public struct PostgresRow: Sendable {
    let columns: [String]
    let values: [String?]

    public func string(_ column: String) throws(PostgresError) -> String? {
        guard let index = columns.firstIndex(of: column) else { throw .unexpectedResult("no column \(column)") }
        return values[index]
    }

    public func requiredString(_ column: String) throws(PostgresError) -> String {
        guard let value = try string(column) else { throw .unexpectedResult("column \(column) is null") }
        return value
    }

    public func int(_ column: String) throws(PostgresError) -> Int? {
        guard let text = try string(column) else { return nil }
        guard let value = Int(text) else { throw .unexpectedResult("column \(column) is not an integer: \(text)") }
        return value
    }

    public func requiredInt(_ column: String) throws(PostgresError) -> Int {
        guard let value = try int(column) else { throw .unexpectedResult("column \(column) is null") }
        return value
    }

    public func bool(_ column: String) throws(PostgresError) -> Bool? {
        guard let text = try string(column) else { return nil }
        return text == "t"
    }
}
