import CFastCGI
import Foundation

/// Reads one accepted FastCGI request into an `HTTPRequest`, and writes an `HTTPResponse` back (`Reply`).
struct FastCGIConnection {
    /// The parameters the API uses, read from nginx's ~30 once (every other one is skipped unread, as most are).
    private var method = "GET"
    private var requestURI: String?
    private var documentURI: String?
    private var queryString = ""
    private var remoteAddress = ""
    private var requestID: String?
    private var contentLength = 0
    /// Header values by lower-cased name: the `HTTP_*` parameters, and `CONTENT_TYPE`.
    private var headers: [String: String] = [:]
    private let input: UnsafeMutablePointer<FCGX_Stream>?
    private let maxBodyBytes: Int

    init(request: UnsafeMutablePointer<FCGX_Request>, maxBodyBytes: Int) {
        input = request.pointee.`in`
        self.maxBodyBytes = maxBodyBytes
        var cursor = request.pointee.envp
        while let entry = cursor?.pointee {
            cursor = cursor?.advanced(by: 1)
            let pair = UnsafeRawBufferPointer(start: entry, count: strlen(entry))
            guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let (name, value) = (pair[..<equals], pair[(equals + 1)...])
            if name.starts(with: "HTTP_".utf8) {
                headers[Self.headerName(parameter: name)] = String(decoding: value, as: UTF8.self)
                continue
            }
            // Names of up to 15 bytes are small strings: no allocation for the ones skipped.
            switch String(decoding: name, as: UTF8.self) {
            case "REQUEST_METHOD": method = String(decoding: value, as: UTF8.self)
            case "REQUEST_URI": requestURI = String(decoding: value, as: UTF8.self)
            case "DOCUMENT_URI": documentURI = String(decoding: value, as: UTF8.self)
            case "QUERY_STRING": queryString = String(decoding: value, as: UTF8.self)
            case "REMOTE_ADDR": remoteAddress = String(decoding: value, as: UTF8.self)
            case "REQUEST_ID": requestID = String(decoding: value, as: UTF8.self)
            case "CONTENT_LENGTH": contentLength = Int(String(decoding: value, as: UTF8.self)) ?? 0
            case "CONTENT_TYPE" where !value.isEmpty: headers["content-type"] = String(decoding: value, as: UTF8.self)
            default: break
            }
        }
    }

    /// The request, or nil when its body is larger than allowed. Either way the body is read to its end
    /// (nginx's empty stdin record), so that the connection is ready for nginx's next request.
    func read() -> HTTPRequest? {
        let length = contentLength
        guard length <= maxBodyBytes else {
            discardBody()
            return nil
        }
        var body = [UInt8](repeating: 0, count: length)
        var received = 0
        while received < length {
            let count = body.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress!.advanced(by: received).withMemoryRebound(to: CChar.self, capacity: length - received) {
                    FCGX_GetStr($0, Int32(length - received), input)
                }
            }
            if count <= 0 { break }
            received += Int(count)
        }
        body.removeLast(length - received)
        discardBody()

        let uri = requestURI ?? "/"
        return HTTPRequest(
            method: method,
            path: documentURI ?? String(uri.prefix { $0 != "?" }),
            query: HTTPRequest.parseQuery(queryString),
            lowercasedHeaders: headers,
            body: body,
            remoteAddress: remoteAddress,
            requestID: answerRequestID
        )
    }

    /// The request's id: nginx's `REQUEST_ID`, else the client's `X-Request-ID`, else a new one.
    var answerRequestID: String { requestID ?? headers["x-request-id"] ?? UUID().uuidString }

    /// Reads what is left of the body, up to its end, and drops it. Mostly that is only the end itself.
    private func discardBody() {
        guard FCGX_GetChar(input) != EOF else { return }
        var scrap = [CChar](repeating: 0, count: 16_384)
        while scrap.withUnsafeMutableBufferPointer({ FCGX_GetStr($0.baseAddress, Int32($0.count), input) }) > 0 {}
    }

    /// `HTTP_X_REQUEST_ID` -> `x-request-id`. nginx passes only ASCII header names (it drops the others).
    static func headerName(parameter: Slice<UnsafeRawBufferPointer>) -> String {
        String(unsafeUninitializedCapacity: parameter.count - 5) { name in
            for (index, byte) in parameter.dropFirst(5).enumerated() {
                name[index] =
                    switch byte {
                    case UInt8(ascii: "_"): UInt8(ascii: "-")
                    case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte + 32
                    default: byte
                    }
            }
            return parameter.count - 5
        }
    }

    /// Whether the answer has no body: HEAD's.
    var omitsBody: Bool { method == "HEAD" }

    /// The head, then the body (none when `omitsBody`), each copied once into libfcgi's output buffer.
    static func send(_ response: HTTPResponse, omitsBody: Bool, to request: UnsafeMutablePointer<FCGX_Request>) {
        var head = "Status: \(response.status) \(response.reasonPhrase)\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(response.body.count)\r\n\r\n"
        head.withUTF8 { put($0, to: request.pointee.out) }
        if !omitsBody { response.body.withUnsafeBufferPointer { put($0, to: request.pointee.out) } }
    }

    private static func put(_ bytes: UnsafeBufferPointer<UInt8>, to stream: UnsafeMutablePointer<FCGX_Stream>?) {
        guard !bytes.isEmpty else { return }
        bytes.withMemoryRebound(to: CChar.self) { _ = FCGX_PutStr($0.baseAddress, Int32($0.count), stream) }
    }
}
