/// The rules for what a signup may contain; each failure names its field.
public enum AccountValidation {
    public static func email(_ raw: String) -> (value: String, error: FieldError?) {
        let email = raw.trimmingWhitespace()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        let valid =
            email.utf8.count <= 254 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".")
            && !email.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
        return (email, valid ? nil : FieldError(field: "email", message: "must be a valid e-mail address"))
    }

    public static func name(_ raw: String) -> (value: String, error: FieldError?) {
        let name = raw.trimmingWhitespace()
        if name.isEmpty { return (name, FieldError(field: "name", message: "must not be empty")) }
        if name.count > 100 { return (name, FieldError(field: "name", message: "must be at most 100 characters")) }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return (name, FieldError(field: "name", message: "must not contain control characters"))
        }
        return (name, nil)
    }

    public static func newPassword(_ password: String) -> FieldError? {
        let bytes = password.utf8.count
        if bytes < PasswordHasher.minimumBytes {
            return FieldError(field: "password", message: "must be at least \(PasswordHasher.minimumBytes) bytes")
        }
        if bytes > PasswordHasher.maximumBytes {
            return FieldError(field: "password", message: "must be at most \(PasswordHasher.maximumBytes) bytes (bcrypt's limit)")
        }
        if password.utf8.contains(0) { return FieldError(field: "password", message: "must not contain NUL characters") }
        return nil
    }
}
