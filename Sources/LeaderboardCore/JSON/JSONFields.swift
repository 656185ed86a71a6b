/// Reads typed fields out of a JSON object, collecting one `FieldError` per missing or mistyped field,
/// so a client learns about every bad field at once. Unknown fields are ignored unless `refuseUnknown` is asked.
public struct JSONFields {
    private let object: [String: JSONValue]
    public private(set) var errors: [FieldError] = []

    init(_ object: [String: JSONValue]) {
        self.object = object
    }

    /// Parses a JSON object: malformed for invalid UTF-8 or a `\u` escape that is not Unicode (a lone surrogate), malformed JSON,
    /// a number no double holds, or nesting deeper than `maximumDepth`; a validation error when the document is not an object.
    public static func parse(_ bytes: [UInt8], maximumDepth: Int) throws(ServiceError) -> JSONFields {
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(bytes, maximumDepth: maximumDepth)
        } catch .notUTF8 {
            throw .malformed("not valid UTF-8")
        } catch .tooDeep {
            throw .malformed("JSON nesting is deeper than \(maximumDepth) levels")
        } catch .numberOutOfRange {
            throw .malformed("a number is out of range")
        } catch .loneSurrogate {
            throw .malformed("not Unicode: a \\u escape is half a UTF-16 surrogate pair")
        } catch {
            throw .malformed("malformed JSON")
        }
        guard case .object(let object) = parsed else { throw .validation(field: "body", "must be a JSON object") }
        return JSONFields(object)
    }

    /// The field names present, for callers that refuse unknown fields.
    public var names: Set<String> { Set(object.keys) }

    public func contains(_ name: String) -> Bool { object[name] != nil }

    /// A required string, looked up under the first of `names` present (`game` or `gameChannel`).
    public mutating func string(_ names: String...) -> String {
        guard let (name, value) = lookup(names) else { return "" }
        guard let text = value.string else {
            errors.append(FieldError(field: name, message: "must be a string"))
            return ""
        }
        // C libraries below (libpq, libcrypt) would cut the text at a NUL and act on a prefix.
        guard !text.utf8.contains(0) else {
            errors.append(FieldError(field: name, message: "must not contain NUL characters"))
            return ""
        }
        return text
    }

    /// A required whole number: `5` and `5.0`, not `"5"`, `5.5`, `true` or a number beyond 64 bits.
    public mutating func integer(_ names: String...) -> Int {
        guard let (name, value) = lookup(names) else { return 0 }
        guard let number = value.wholeNumber else {
            errors.append(FieldError(field: name, message: "must be a whole number"))
            return 0
        }
        return number
    }

    /// An optional string: nil when absent (null, a non-string or NUL is an error, as for `string`).
    public mutating func optionalString(_ name: String) -> String? {
        contains(name) ? string(name) : nil
    }

    /// An optional whole number: nil when absent (anything but a whole number is an error, as for `integer`).
    public mutating func optionalInteger(_ name: String) -> Int? {
        contains(name) ? integer(name) : nil
    }

    /// An optional array of strings: nil when absent (null, another type, or an element that is not a string without NUL is an
    /// error).
    public mutating func optionalStrings(_ name: String) -> [String]? {
        guard contains(name), let (name, value) = lookup([name]) else { return nil }
        guard let texts = value.strings, !texts.contains(where: { $0.utf8.contains(0) }) else {
            errors.append(FieldError(field: name, message: "must be an array of strings"))
            return nil
        }
        return texts
    }

    /// An optional `true` or `false`: nil when absent; `1`, `"true"` or null is an error.
    public mutating func optionalBool(_ name: String) -> Bool? {
        guard contains(name), let (name, value) = lookup([name]) else { return nil }
        guard case .bool(let flag) = value else {
            errors.append(FieldError(field: name, message: "must be true or false"))
            return nil
        }
        return flag
    }

    /// An optional string that must be one of `Value`'s raw values: nil when absent.
    public mutating func optionalChoice<Value: RawRepresentable & CaseIterable>(_ name: String, of _: Value.Type) -> Value?
    where Value.RawValue == String {
        guard contains(name), let (name, value) = lookup([name]) else { return nil }
        if let text = value.string, let choice = Value(rawValue: text) { return choice }
        errors.append(FieldError(field: name, message: "must be one of " + Value.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")))
        return nil
    }

    /// Adds an error for each field not in `known`, for requests where a misspelt setting must not pass unnoticed.
    public mutating func refuseUnknown(_ known: Set<String>) {
        for name in object.keys.sorted() where !known.contains(name) {
            // A field error names its field; an empty name is shown as the body's.
            errors.append(
                name.isEmpty
                    ? FieldError(field: "body", message: "has a field with an empty name") : FieldError(field: name, message: "unknown field"))
        }
    }

    /// Throws a validation error listing every field error collected so far.
    public func validate() throws(ServiceError) {
        if !errors.isEmpty { throw .validation(errors) }
    }

    private mutating func lookup(_ names: [String]) -> (String, JSONValue)? {
        for name in names {
            guard let value = object[name] else { continue }
            if value == .null {
                errors.append(FieldError(field: name, message: "must not be null"))
                return nil
            }
            return (name, value)
        }
        errors.append(FieldError(field: names[0], message: "field required"))
        return nil
    }
}
