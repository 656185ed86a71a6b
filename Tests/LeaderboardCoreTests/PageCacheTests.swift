import Foundation
import LeaderboardTesting
import Testing

@testable import LeaderboardCore

@Suite struct PageCacheTests {
    static func page(_ game: String) -> RenderedPage {
        RenderedPage(BoardPage(result: [], totalCount: 0, period: .allTime, game: game))
    }

    static func key(_ start: Int) -> PageCache.Key { PageCache.Key(game: "all", period: "all", start: start, stop: start + 9) }

    @Test func aPageIsServedOnlyAtTheStampItWasReadAt() {
        let cache = PageCache()
        let read = PageStamp(generation: "3", board: "1764374400000001-7", names: nil)
        cache.insert(Self.page("all"), at: read, for: Self.key(0))
        #expect(cache.page(for: Self.key(0), at: read)?.page.game == "all")
        for later in [
            PageStamp(generation: "4", board: "1764374400000001-7", names: nil),
            PageStamp(generation: "3", board: "1764374400000002-8", names: nil),
            PageStamp(generation: "3", board: nil, names: nil),
            PageStamp(generation: "3", board: "1764374400000001-7", names: "1764374400000003-9"),
        ] {
            #expect(cache.page(for: Self.key(0), at: later) == nil)
        }
        #expect(cache.page(for: Self.key(10), at: read) == nil)
    }

    @Test func pagesInDemandStayAndTheCacheStaysBounded() {
        let cache = PageCache(generationSize: 4)
        let stamp = PageStamp(generation: "1", board: "v", names: nil)
        cache.insert(Self.page("all"), at: stamp, for: Self.key(0))
        for start in 1...20 {
            cache.insert(Self.page("all"), at: stamp, for: Self.key(start * 10))
            #expect(cache.page(for: Self.key(0), at: stamp) != nil, "the page read all along stays")
        }
        let kept = (0...20).filter { cache.page(for: Self.key($0 * 10), at: stamp) != nil }
        #expect(kept.count <= 8)
    }

    /// Readers that miss a page at the same stamp while it is being read wait for that read rather than read it too.
    @Test func readersOfAPageBeingReadShareIt() throws {
        let shared = ServiceReadOnThreads()
        let read: @Sendable () throws -> RenderedPage = {
            try shared.service.renderedPage(game: "all", period: .allTime, date: .today, start: 0, end: 9)
        }
        _ = try shared.service.submit(userId: 1, name: "Ann", game: "cod", score: 100, idempotencyKey: nil)
        let held = HeldFirstCall()
        shared.index.whileReadingPage = held.call
        let pages = try held.callers(
            3, waitingFor: { shared.pages.reading.waitingCount }, calling: { (try? read())?.page.result.map(\.userId) ?? [] })
        #expect(held.calls.withLock { $0 } == 1)
        #expect(pages == [[1], [1], [1]])
    }
}
