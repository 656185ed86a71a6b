import FastCGIPool
import LeaderboardCore

extension HTTPResponse {
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
