/// A page of a listing that goes newest first by id, as the API answers it: `{result, next}`, `next` the cursor of the
/// page after (its `before`), null on the last page. Read with one row more than it shows, so the last page says so
/// even when it is full.
public struct CursorPage<Row: Sendable>: Sendable {
    public let result: [Row]
    public let next: Int?

    /// `rows` as read with `limit + 1` rows at most.
    init(_ rows: [Row], limit: Int, id: KeyPath<Row, Int>) {
        result = Array(rows.prefix(limit))
        next = rows.count > limit ? result.last?[keyPath: id] : nil
    }
}

extension CursorPage: Encodable where Row: Encodable {
    enum CodingKeys: String, CodingKey { case result, next }

    /// `next` is written as null on the last page, so clients can test for it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(result, forKey: .result)
        try container.encode(next, forKey: .next)
    }
}
