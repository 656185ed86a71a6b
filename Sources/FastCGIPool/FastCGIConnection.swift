import CFastCGI
import Foundation

/// Reads one accepted FastCGI request into an `HTTPRequest` and writes an `HTTPResponse` back.
struct FastCGIConnection {
    private let parameters: [String: String]
    private let input: UnsafeMutablePointer<FCGX_Stream>?
    private let maxBodyBytes: Int

    init(request: inout FCGX_Request, maxBodyBytes: Int) {
        var parameters: [String: String] = [:]
        parameters.reserveCapacity(48)
        var cursor = request.envp
        while let entry = cursor?.pointee {
            let pair = UnsafeRawBufferPointer(start: entry, count: strlen(entry))
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                parameters[String(decoding: pair[..<equals], as: UTF8.self)] = String(decoding: pair[(equals + 1)...], as: UTF8.self)
            }
            cursor = cursor?.advanced(by: 1)
        }
        self.parameters = parameters
        self.input = request.`in`
        self.maxBodyBytes = maxBodyBytes
    }

    /// The request, or nil when its body is larger than allowed. Either way the body is read to its end
    /// (nginx's empty stdin record), so that the connection is ready for nginx's next request.
    func read() -> HTTPRequest? {
        let length = parameters["CONTENT_LENGTH"].flatMap(Int.init) ?? 0
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

        var headers: [String: String] = [:]
        for (name, value) in parameters where name.hasPrefix("HTTP_") {
            headers[Self.headerName(parameter: name)] = value
        }
        if let contentType = parameters["CONTENT_TYPE"], !contentType.isEmpty { headers["content-type"] = contentType }

        let requestURI = parameters["REQUEST_URI"] ?? "/"
        let path = parameters["DOCUMENT_URI"] ?? String(requestURI.prefix { $0 != "?" })
        let request = HTTPRequest(
            method: parameters["REQUEST_METHOD"] ?? "GET",
            path: path,
            query: HTTPRequest.parseQuery(parameters["QUERY_STRING"] ?? ""),
            lowercasedHeaders: headers,
            body: body,
            remoteAddress: parameters["REMOTE_ADDR"] ?? "",
            requestID: parameters["REQUEST_ID"] ?? headers["x-request-id"] ?? UUID().uuidString
        )
        return request
    }

    /// Reads what is left of the body, up to its end, and drops it. Mostly that is only the end itself.
    private func discardBody() {
        guard FCGX_GetChar(input) != EOF else { return }
        var scrap = [CChar](repeating: 0, count: 16_384)
        while scrap.withUnsafeMutableBufferPointer({ FCGX_GetStr($0.baseAddress, Int32($0.count), input) }) > 0 {}
    }

    /// `HTTP_X_REQUEST_ID` -> `x-request-id`. nginx passes only ASCII header names (it drops the others).
    static func headerName(parameter: String) -> String {
        String(
            decoding: parameter.utf8.dropFirst(5).map { byte in
                switch byte {
                case UInt8(ascii: "_"): UInt8(ascii: "-")
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte + 32
                default: byte
                }
            }, as: UTF8.self)
    }

    func send(_ response: HTTPResponse, to request: inout FCGX_Request) {
        var head = "Status: \(response.status) \(response.reasonPhrase)\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(response.body.count)\r\n\r\n"
        var bytes = Array(head.utf8)
        if parameters["REQUEST_METHOD"] != "HEAD" { bytes += response.body }
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                _ = FCGX_PutStr(chars.baseAddress, Int32(chars.count), request.out)
            }
        }
    }
}
