/// A request as the API sees it, whatever transport carried it (FastCGI in production, direct calls in tests).
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query string, as nginx normalised it.
    public var path: String
    public var query: [String: String]
    /// Header values by lower-cased name.
    public var headers: [String: String]
    public var body: [UInt8]
    public var remoteAddress: String
    public var requestID: String

    public init(
        method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:],
        body: [UInt8] = [], remoteAddress: String = "127.0.0.1", requestID: String = "-"
    ) {
        self.init(
            method: method, path: path, query: query,
            lowercasedHeaders: Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { _, last in last }),
            body: body, remoteAddress: remoteAddress, requestID: requestID)
    }

    /// For a transport whose header names are lower-case already.
    init(
        method: String, path: String, query: [String: String], lowercasedHeaders: [String: String], body: [UInt8], remoteAddress: String,
        requestID: String
    ) {
        self.method = method
        self.path = path
        self.query = query
        headers = lowercasedHeaders
        self.body = body
        self.remoteAddress = remoteAddress
        self.requestID = requestID
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// Parses `a=1&b=two+words` with percent-decoding, as browsers encode forms and links.
    public static func parseQuery(_ text: String) -> [String: String] {
        var query: [String: String] = [:]
        for pair in text.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecoded(parts[0])
            if query[name] == nil { query[name] = parts.count > 1 ? percentDecoded(parts[1]) : "" }
        }
        return query
    }

    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                if let high = iterator.next(), let low = iterator.next(), let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) {
                    bytes.append(value)
                }
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
