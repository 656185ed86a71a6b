import Foundation

extension HTTPRequest {
    /// Deepest object/array nesting a request body may have; real requests use 1.
    static let maximumJSONDepth = 16

    /// Decodes a JSON body: 415 unless the content type is JSON, 400 for malformed JSON or nesting too deep,
    /// 422 naming the field for a missing value or a value of the wrong type.
    public func decodeJSON<Body: Decodable>(_ type: Body.Type) throws(APIError) -> Body {
        let contentType = header("content-type")?.split(separator: ";").first?.trimmingWhitespace().lowercased()
        guard contentType == "application/json" else { throw .unsupportedMediaType }
        guard !body.isEmpty else { throw .badRequest("request body is empty; expected a JSON object") }
        guard String(validating: body, as: UTF8.self) != nil else { throw .badRequest("request body is not valid UTF-8") }
        guard Self.nestingDepth(of: body) <= Self.maximumJSONDepth else {
            throw .badRequest("JSON nesting is deeper than \(Self.maximumJSONDepth) levels")
        }
        do {
            return try JSONDecoder().decode(Body.self, from: Data(body))
        } catch let error as DecodingError {
            throw Self.apiError(for: error)
        } catch {
            throw .badRequest("malformed JSON")
        }
    }

    private static func apiError(for error: DecodingError) -> APIError {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return .validation(field: field(context.codingPath + [key]), "field required")
        case .valueNotFound(_, let context):
            return .validation(field: field(context.codingPath), "must not be null")
        case .typeMismatch(let expected, let context):
            if context.codingPath.isEmpty { return .validation(field: "body", "must be a JSON object") }
            return .validation(field: field(context.codingPath), "must be \(typeName(expected))")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return .badRequest("malformed JSON") }
            return .validation(field: field(context.codingPath), context.debugDescription.contains("number") ? "must be a whole number" : "invalid value")
        @unknown default:
            return .badRequest("malformed JSON")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "a whole number"
        case is Bool.Type: "true or false"
        default: "of another type"
        }
    }

    /// The deepest bracket nesting outside strings; a cheap guard before the real parser sees the body.
    static func nestingDepth(of bytes: [UInt8]) -> Int {
        var depth = 0
        var deepest = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return deepest
    }
}
