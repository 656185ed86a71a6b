/// Rendered board pages of one process, each with the stamp of the content it shows (`PageStamp`): a read whose
/// stamp, fetched by one plain `MGET`, is still the page's is answered from here instead of by the page script.
/// A stamp names one content of a board for good (see `BoardScripts`), so a page served from here is exactly
/// what the script would read at that moment, whichever process or connection changed the board.
///
/// The workers that read at the same time share the round trip of their `MGET`s (`stampReads`): Redis's cost
/// per round trip is mostly its event loop and system calls, not the `MGET`, so sharing it cuts what a top-10
/// read under load costs Redis (make bench measures it).
///
/// Shared by the worker threads of a process and bounded (see `GenerationalCache`): the pages in demand, the
/// top of the busy boards, stay and the rest age out.
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

    /// 2 × 128 pages of at most 100 rows: a few MiB at most.
    public static let defaultGenerationSize = 128

    /// A page being read: readers at the same stamp get the same page.
    struct Reading: Hashable {
        let page: Key
        let stamp: PageStamp
    }

    private let cache: GenerationalCache<Key, Entry>
    let stampReads = SharedRoundTrip<BoardIndex.StampQuery, PageStamp?, PageStamp?>()
    /// Under submissions a busy board changes with nearly every batch, so its readers miss together: those at the
    /// same stamp wait for one page script rather than each running it.
    let reading = SingleFlight<Reading, RenderedPage>()

    public init(generationSize: Int = PageCache.defaultGenerationSize) {
        cache = GenerationalCache(generationSize: generationSize)
    }

    /// The page kept for `key`, if it was read at `stamp`.
    func page(for key: Key, at stamp: PageStamp) -> RenderedPage? {
        guard let entry = cache.value(for: key), entry.stamp == stamp else { return nil }
        return entry.page
    }

    /// The page for `key`, missed at `stamp`: read by `read` (with the stamp it was read at) and kept, unless another
    /// worker of the process is reading it after a miss at the same stamp: then its page (or its error).
    /// A board without a version (its version expires a second before the board) is read alone: it may change and
    /// still have none.
    func page(for key: Key, missedAt stamp: PageStamp, reading read: () throws -> (RenderedPage, PageStamp)) throws -> RenderedPage {
        func readAndKeep() throws -> RenderedPage {
            let (page, readAt) = try read()
            insert(page, at: readAt, for: key)
            return page
        }
        guard stamp.board != nil else { return try readAndKeep() }
        return try reading.value(for: Reading(page: key, stamp: stamp), make: readAndKeep)
    }

    /// Keeps `page`, read at `stamp`, in place of what `key` held. Two readers may race and leave the older
    /// page: the next read's stamp then differs from it and it is read again, never served.
    func insert(_ page: RenderedPage, at stamp: PageStamp, for key: Key) {
        cache.insert(Entry(stamp: stamp, page: page), for: key)
    }
}
