import Foundation

/// A response ready for any transport: status, headers in order, body bytes.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// A response in the predecessor's envelope: `{success, statusCode, message, data}`; `success` follows the status.
    public static func envelope(status: Int = 200, message: String = "done", data: some Encodable & Sendable) -> HTTPResponse {
        json(status: status, Envelope(success: status < 400, statusCode: status, message: message, data: data, errors: nil))
    }

    /// The envelope written by `JSONWriter`, for the payloads of the busiest routes; the same bytes.
    static func envelope(status: Int = 200, message: String = "done", data: some JSONWritable & Encodable & Sendable) -> HTTPResponse {
        json(status: status, message: message, data: data, errors: [])
    }

    /// An error in the same envelope, with `data: null` and the field errors of a 422.
    public static func failure(_ error: APIError) -> HTTPResponse {
        var response = json(status: error.status, message: error.message, data: Int?.none, errors: error.fieldErrors)
        response.headers += error.headers
        return response
    }

    /// `Envelope` by `JSONWriter`; `errors` is left out when empty.
    private static func json(status: Int, message: String, data: (some JSONWritable)?, errors: [FieldError]) -> HTTPResponse {
        var json = JSONWriter()
        json.object { json in
            json.member("data", data)
            if !errors.isEmpty { json.member("errors", errors) }
            json.member("message", message)
            json.member("statusCode", status)
            json.member("success", status < 400)
        }
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: json.bytes)
    }

    static func json(status: Int, _ value: some Encodable) -> HTTPResponse {
        let body = (try? JSONCoding.encode(value)) ?? Array(#"{"success":false}"#.utf8)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    static let reasonPhrases: [Int: String] = [
        200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
        403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
        415: "Unsupported Media Type", 422: "Unprocessable Content", 429: "Too Many Requests",
        500: "Internal Server Error", 503: "Service Unavailable",
    ]

    public var reasonPhrase: String { Self.reasonPhrases[status] ?? "Status" }
}

/// The JSON envelope every REST response uses; `data` is written as `null` when absent.
struct Envelope<Payload: Encodable>: Encodable {
    let success: Bool
    let statusCode: Int
    let message: String
    let data: Payload?
    let errors: [FieldError]?

    enum CodingKeys: String, CodingKey { case success, statusCode, message, data, errors }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(success, forKey: .success)
        try container.encode(statusCode, forKey: .statusCode)
        try container.encode(message, forKey: .message)
        try container.encode(data, forKey: .data)
        try container.encodeIfPresent(errors, forKey: .errors)
    }
}

/// JSON as the service writes it, in REST answers and WebSocket pushes alike: sorted keys, so equal
/// content is equal bytes (the ws daemon's "changed" is a byte compare).
public enum JSONCoding {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public static func encode(_ value: some Encodable) throws -> [UInt8] { Array(try encoder.encode(value)) }
}
