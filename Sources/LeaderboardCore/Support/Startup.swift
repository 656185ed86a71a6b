import Foundation
import Logging

/// What every executable does first: load the configuration or stop with one line saying why, then log.
public enum Startup {
    /// EX_CONFIG from sysexits.h: systemd and scripts can tell a configuration error from a crash.
    static let configurationExitCode: Int32 = 78

    public static func loadConfig(program: String) -> Config {
        do {
            return try Config.load()
        } catch {
            stopForConfiguration(program: program, "\(error)")
        }
    }

    /// Stops the process with one line on stderr saying which setting is wrong, and EX_CONFIG.
    public static func stopForConfiguration(program: String, _ reason: String) -> Never {
        FileHandle.standardError.write(Data("\(program): \(reason)\n".utf8))
        exit(configurationExitCode)
    }

    /// Logs go to stderr, one line each, for journald or the dev stack's log files.
    public static func bootstrapLogging(level: String) {
        let level = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
