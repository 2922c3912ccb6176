import Continual
import Foundation
import Schema

/// Shows a run's progress from its `RunEvent`s.
///
/// On a terminal (`terminal` true) it redraws one line, at most ten times a second:
/// `[#######.............]  7/24 cells · ewc+replay-s2 task 3/5 · 5,120 samples/s · ETA 1m 40s`.
/// Elsewhere (a file, a pipe, a batch job) it writes one plain line per finished cell, and one per
/// failed cell. The ETA is the wall time per cell finished in this run so far, times the cells left.
public final class ProgressDisplay: @unchecked Sendable {
    private let terminal: Bool
    private let write: @Sendable (String) -> Void
    private let lock = NSLock()
    private var total = 0, done = 0, finishedHere = 0
    private var startedAt = 0.0, lastDraw = 0.0
    /// Per running cell: its latest progress.
    private var current: [String: TrainingProgress] = [:]
    private var order: [String] = []
    private var drawn = false

    /// - Parameters:
    ///   - terminal: whether to redraw a bar (pass `isatty(STDERR_FILENO) != 0`).
    ///   - write: where the text goes (standard error); receives text without a final newline
    ///     when redrawing.
    public init(terminal: Bool, write: @escaping @Sendable (String) -> Void) {
        self.terminal = terminal
        self.write = write
    }

    public func handle(_ event: RunEvent) {
        lock.withLock {
            let now = MonotonicClock.seconds()
            switch event {
            case .begin(let total, let done, let workers):
                self.total = total
                self.done = done
                startedAt = now
                let line = "\(total) cells: \(done) done before, \(total - done) to run with \(workers) worker\(workers == 1 ? "" : "s")"
                emitLine(line)
            case .started(let stamp):
                order.append(stamp)
                draw(now, force: true)
            case .progress(let stamp, let p):
                let first = current[stamp] == nil
                current[stamp] = p
                draw(now, force: first)
            case .finished(let record, let seconds):
                done += 1
                finishedHere += 1
                current[record.stamp] = nil
                order.removeAll { $0 == record.stamp }
                if !terminal, let d = record.result.divergence {
                    emitLine("[\(done)/\(total)] \(record.stamp): \(d), %.1f s, ETA \(eta(now))".replacingOccurrences(of: "%.1f", with: String(format: "%.1f", seconds)))
                } else if !terminal {
                    let setting = record.evalSettings.first ?? ""
                    let acc = (record.metrics[setting]?.acc ?? 0) * 100
                    emitLine(String(format: "[%d/%d] %@: ACC %.2f%% (%@), %.0f samples/s, %.1f s, ETA %@", done, total, record.stamp,
                                    acc, setting, record.result.trainSamplesPerSecond, seconds, eta(now)))
                } else {
                    draw(now, force: true)
                }
            case .failed(let stamp, let message):
                current[stamp] = nil
                order.removeAll { $0 == stamp }
                emitLine("\(stamp): failed: \(message)")
            }
        }
    }

    /// Ends the bar's line.
    public func finish() {
        lock.withLock {
            if terminal && drawn { write("\n"); drawn = false }
        }
    }

    private func emitLine(_ line: String) {
        if terminal && drawn { write("\r\u{1B}[K") }
        write(line + "\n")
        drawn = false
        if terminal { lastDraw = 0 }
    }

    private func eta(_ now: Double) -> String {
        guard finishedHere > 0, total > done else { return total > done ? "–" : "0s" }
        return Self.duration((now - startedAt) / Double(finishedHere) * Double(total - done))
    }

    private func draw(_ now: Double, force: Bool) {
        guard terminal, force || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        let width = 20
        let filled = total > 0 ? done * width / total : 0
        var line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
        line += "\(done)/\(total) cells"
        if let stamp = order.last ?? order.first {
            let name = stamp.count > 40 ? String(stamp.prefix(40)) + "…" : stamp
            line += " · \(name)"
            if let p = current[stamp] { line += " task \(p.task + 1)/\(p.tasks)" }
        }
        let rate = current.values.reduce(0) { $0 + $1.samplesPerSecond }
        if rate > 0 { line += String(format: " · %.0f samples/s", rate) }
        line += " · ETA \(eta(now))"
        write("\r\u{1B}[K" + line)
        drawn = true
    }

    /// `1h 02m`, `3m 05s`, `42s`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh %02dm", s / 3600, s % 3600 / 60) }
        if s >= 60 { return String(format: "%dm %02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
