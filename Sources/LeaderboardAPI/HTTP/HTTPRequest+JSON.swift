import FastCGIPool
import LeaderboardCore

extension HTTPRequest {
    /// Deepest object/array nesting a request body may have; real requests use 1.
    static let maximumJSONDepth = 16

    /// Parses a JSON object body: 415 unless the content type is JSON, 400 for malformed JSON, text that
    /// is not Unicode or nesting too deep, 422 when the body is JSON but not an object.
    public func jsonFields() throws(APIError) -> JSONFields {
        let contentType = header("content-type")?.split(separator: ";").first?.trimmingWhitespace().lowercased()
        guard contentType == "application/json" else { throw .unsupportedMediaType }
        guard !body.isEmpty else { throw APIError(.malformed("request body is empty; expected a JSON object")) }
        do {
            return try JSONFields.parse(body, maximumDepth: Self.maximumJSONDepth)
        } catch {
            throw APIError(error)
        }
    }
}
