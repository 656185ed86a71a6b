/// A page of a listing that goes newest first by id, read with one row more than it shows: `next`, the cursor of the
/// page after (its `before`), is set only when that extra row exists, so the last page says so (null) even when full.
struct CursorPage<Row> {
    let rows: [Row]
    let next: Int?

    /// `rows` as read with `limit + 1` rows at most.
    init(_ rows: [Row], limit: Int, id: KeyPath<Row, Int>) {
        self.rows = Array(rows.prefix(limit))
        next = rows.count > limit ? self.rows.last?[keyPath: id] : nil
    }
}
