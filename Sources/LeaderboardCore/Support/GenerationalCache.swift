/// A bounded cache shared by the threads of a process, behind a lock held only for a dictionary lookup:
/// two generations of at most `generationSize` entries. When the newer one is full the older is dropped,
/// so entries in use stay (a hit in the older generation moves to the newer) and the rest age out.
final class GenerationalCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Generations {
        var newer: [Key: Value] = [:]
        var older: [Key: Value] = [:]
    }

    let generationSize: Int
    private let generations = Locked(Generations())

    init(generationSize: Int) {
        self.generationSize = generationSize
    }

    func value(for key: Key) -> Value? {
        generations.withLock { generations in
            if let value = generations.newer[key] { return value }
            guard let value = generations.older.removeValue(forKey: key) else { return nil }
            Self.insert(value, for: key, into: &generations, generationSize: generationSize)
            return value
        }
    }

    /// Keeps `value` for `key`, in place of what it held.
    func insert(_ value: Value, for key: Key) {
        generations.withLock { Self.insert(value, for: key, into: &$0, generationSize: generationSize) }
    }

    private static func insert(_ value: Value, for key: Key, into generations: inout Generations, generationSize: Int) {
        if generations.newer[key] == nil, generations.newer.count >= generationSize {
            generations.older = generations.newer
            generations.newer = [:]
            generations.newer.reserveCapacity(generationSize)
        }
        generations.newer[key] = value
    }
}
