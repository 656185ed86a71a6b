import Foundation

/// A one-line progress bar on a terminal; on a pipe or log file, a plain line every tenth of the way.
struct ProgressBar {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastShown: (phase: String, step: Int)?

    mutating func update(_ phase: String, done: Int, total: Int) {
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            write("\r\(phase.padding(toLength: 8, withPad: " ", startingAt: 0)) [\(bar)] \(Int(fraction * 100))% \(done)/\(total)")
            if done >= total { write("\n") }
        } else {
            let step = Int(fraction * 10)
            if lastShown?.phase != phase || lastShown!.step != step {
                write("\(phase): \(done)/\(total)\n")
                lastShown = (phase, step)
            }
        }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
