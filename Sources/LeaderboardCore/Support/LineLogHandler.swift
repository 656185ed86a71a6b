import Foundation
import Logging

/// Writes each log event as one line on stderr, in `StreamLogHandler`'s format
/// (`<time> <level> <label>: <key=value ...> [<source>] <message>`), at less cost: at debug the API logs a
/// line per request. The time is formatted once a second rather than per line (`localtime` re-reads the
/// time zone each call), and a line goes out in one `write(2)`, which keeps lines whole when threads log
/// at once.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let clock: SecondClock

    public init(label: String) {
        self.label = label
        clock = SecondClock.shared
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = clock.timestamp()
        line += " \(event.level)"
        if !label.isEmpty { line += " " + label }
        line += ":"
        var merged = metadata
        if let explicit = event.metadata { merged.merge(explicit) { _, explicit in explicit } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        line += " [\(event.source)] \(event.message)\n"
        Self.writeToStandardError(line)
    }

    private static func writeToStandardError(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

/// The local time of the current second as `StreamLogHandler` writes it (`2026-01-31T12:00:00+0000`),
/// formatted again only when the second changes.
final class SecondClock: Sendable {
    static let shared = SecondClock()

    private let formatted = Locked((second: -1, text: ""))

    func timestamp() -> String {
        var now = time(nil)
        if let text = formatted.withLock({ $0.second == now ? $0.text : nil }) { return text }
        var local = tm()
        guard localtime_r(&now, &local) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        let text = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        formatted.withLock { $0 = (now, text) }
        return text
    }
}
