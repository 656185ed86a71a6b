/// Rendered board pages of one process, each with the stamp of the content it shows (`PageStamp`): a read whose
/// stamp, fetched by one plain `MGET`, is still the page's is answered from here instead of by the page script.
/// A stamp names one content of a board for good (see `BoardScripts`), so a page served from here is exactly
/// what the script would read at that moment, whichever process or connection changed the board.
///
/// Shared by the worker threads of a process, behind a lock held only for a dictionary lookup. Bounded like
/// `VerifiedTokens`: two generations of at most `generationSize` pages; when the newer is full the older is
/// dropped, so the pages in demand (the top of the busy boards) stay and the rest age out.
public final class PageCache: Sendable {
    struct Key: Hashable, Sendable {
        let game: String
        let period: String
        let start: Int
        let stop: Int
    }

    private struct Entry {
        let stamp: PageStamp
        let page: RenderedPage
    }

    private struct Generations {
        var newer: [Key: Entry] = [:]
        var older: [Key: Entry] = [:]
    }

    /// 2 × 128 pages of at most 100 rows: a few MiB at most.
    public static let defaultGenerationSize = 128

    let generationSize: Int
    private let generations = Locked(Generations())

    public init(generationSize: Int = PageCache.defaultGenerationSize) {
        self.generationSize = generationSize
    }

    /// The page kept for `key`, if it was read at `stamp`.
    func page(for key: Key, at stamp: PageStamp) -> RenderedPage? {
        generations.withLock { generations in
            if let entry = generations.newer[key] { return entry.stamp == stamp ? entry.page : nil }
            guard let entry = generations.older.removeValue(forKey: key) else { return nil }
            Self.insert(entry, for: key, into: &generations, generationSize: generationSize)
            return entry.stamp == stamp ? entry.page : nil
        }
    }

    /// Keeps `page`, read at `stamp`, in place of what `key` held. Two readers may race and leave the older
    /// page: the next read's stamp then differs from it and it is read again, never served.
    func insert(_ page: RenderedPage, at stamp: PageStamp, for key: Key) {
        generations.withLock { Self.insert(Entry(stamp: stamp, page: page), for: key, into: &$0, generationSize: generationSize) }
    }

    private static func insert(_ entry: Entry, for key: Key, into generations: inout Generations, generationSize: Int) {
        if generations.newer[key] == nil, generations.newer.count >= generationSize {
            generations.older = generations.newer
            generations.newer = [:]
            generations.newer.reserveCapacity(generationSize)
        }
        generations.newer[key] = entry
    }
}
