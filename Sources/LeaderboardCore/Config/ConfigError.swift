/// Why the configuration could not be loaded; each case names the variable at fault.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case missing(variable: String)
    case malformed(variable: String, value: String, expected: String)
    case insecure(variable: String, reason: String)
    case malformedEnvFile(line: Int, reason: String)
    case unreadableEnvFile(path: String)

    public var description: String {
        switch self {
        case .missing(let variable):
            "configuration: \(variable) is required but not set"
        case .malformed(let variable, let value, let expected):
            "configuration: \(variable)=\(Self.redacted(variable, value)) is invalid: expected \(expected)"
        case .insecure(let variable, let reason):
            "configuration: \(variable) is insecure: \(reason)"
        case .malformedEnvFile(let line, let reason):
            "configuration: env file line \(line): \(reason)"
        case .unreadableEnvFile(let path):
            "configuration: cannot read env file \(path)"
        }
    }

    /// Secrets never reach a log line, not even when they are malformed: a URL's password neither.
    private static func redacted(_ variable: String, _ value: String) -> String {
        variable == "SECRET_KEY" || variable.hasSuffix("_PW") || variable.hasSuffix("_URL") && value.contains("@")
            ? "<redacted>" : "'\(value)'"
    }
}
