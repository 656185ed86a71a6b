/// At most `count` of one kind of costly work at once in a process, shared by its workers: a caller takes a free slot
/// or is refused at once (503, to retry shortly), so that work can never hold every worker.
public final class WorkSlots: Sendable {
    private let free: Locked<Int>
    private let refusal: String

    /// `refusal`: what a caller refused is told.
    public init(_ count: Int, refusal: String) {
        precondition(count >= 1, "at least one at a time")
        free = Locked(count)
        self.refusal = refusal
    }

    func withSlot<Result>(_ work: () throws -> Result) throws -> Result {
        let taken = free.withLock { free in
            guard free > 0 else { return false }
            free -= 1
            return true
        }
        guard taken else { throw ServiceError.unavailable(refusal) }
        defer { free.withLock { $0 += 1 } }
        return try work()
    }
}
