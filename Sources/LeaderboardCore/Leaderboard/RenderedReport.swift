/// A report with its JSON (`{"result": [rows]}`) written once, so a report kept in `ReportCache` is not written again
/// for every reader. The bytes are `JSONWriter`'s, as the encoder would write them.
public struct RenderedReport: Sendable, Encodable {
    public let result: [ReportRow]
    let json: [UInt8]

    init(_ result: [ReportRow]) {
        self.result = result
        var writer = JSONWriter(capacity: 32 + 192 * result.count)
        writer.object { json in json.member("result", result) }
        json = writer.bytes
    }

    enum CodingKeys: String, CodingKey { case result }
}

extension RenderedReport: JSONWritable {
    public func write(to json: inout JSONWriter) { json.append(written: self.json) }
}
