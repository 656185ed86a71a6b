/// A board page with its JSON written once: responses copy the bytes into their envelope, so a page kept in
/// `PageCache` is not written again for every reader. The bytes are `BoardPage`'s own `JSONWriter` output.
public struct RenderedPage: Sendable, Encodable {
    public let page: BoardPage
    let json: [UInt8]

    init(_ page: BoardPage) {
        self.page = page
        var writer = JSONWriter(capacity: 128 + 160 * page.result.count)
        page.write(to: &writer)
        json = writer.bytes
    }

    public func encode(to encoder: any Encoder) throws {
        try page.encode(to: encoder)
    }
}

extension RenderedPage: JSONWritable {
    public func write(to json: inout JSONWriter) { json.append(written: self.json) }
}
