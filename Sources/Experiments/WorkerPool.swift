import Continual
import Foundation
import Schema

/// What the runner reports while it works, for a progress display.
public enum RunEvent: Sendable {
    /// The grid: `total` cells, of which `done` have records already.
    case begin(total: Int, done: Int, workers: Int)
    case started(stamp: String)
    case progress(stamp: String, TrainingProgress)
    case finished(RunRecord, seconds: Double)
    case failed(stamp: String, message: String)
}

/// Stopped by SIGINT or SIGTERM: running cells were ended, finished records are kept.
public struct Interrupted: Error, CustomStringConvertible {
    public let done: Int
    public let total: Int
    public var description: String {
        "interrupted: \(done) of \(total) cells have results; run the same command again to resume (finished cells are not run again)"
    }
}

/// Cells that ended with an error; their records were not written. Cells are deterministic, so
/// the advice is to fix what the message names (a diverging cell is not a failure: it writes a
/// record that says so).
public struct CellsFailed: Error, CustomStringConvertible {
    public let failures: [(stamp: String, message: String)]
    public var description: String {
        "\(failures.count) cell(s) failed; the other cells' records are kept. A cell fails the same way each time it runs: "
            + "fix what the message says, then run the command again (only cells without a record run):\n"
            + failures.map { "  \($0.stamp): \($0.message)" }.joined(separator: "\n")
    }
}

/// Turns SIGINT and SIGTERM into a flag and a callback for the duration of a run, instead of
/// killing the process, so that the runner can end its workers and say how to resume.
final class SignalTrap: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var caught: Int32?

    /// Installs the trap; `handler` runs on a background queue with the signal number.
    init(handler: @escaping @Sendable (Int32) -> Void) {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                self?.lock.withLock { self?.caught = signalNumber }
                handler(signalNumber)
            }
            source.resume()
            sources.append(source)
        }
    }

    var signalled: Int32? { lock.withLock { caught } }

    /// Restores the default actions.
    func remove() {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// Runs cells of a plan file in parallel child processes (`<executable> run-cell --plan FILE
/// --index I --progress-lines`), at most `workers` at a time, each with its own BLAS threads.
///
/// A child writes its record atomically and exits 0; on stdout it writes `progress` lines that
/// become `RunEvent.progress`. On SIGINT/SIGTERM the pool sends SIGTERM to every child it started,
/// waits for them, removes their temporary files and throws `Interrupted`.
public struct WorkerPool {
    public var executable: URL
    public var workers: Int
    public var environment: [String: String]

    public init(executable: URL, workers: Int, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.executable = executable
        self.workers = max(1, workers)
        self.environment = environment
    }

    /// Runs `indices` of `jobs` (the lines of `planFile`); returns when all have ended.
    /// `done` is the number of cells already finished before, for `Interrupted`.
    public func run(planFile: URL, jobs: [CellJob], indices: [Int], done: Int,
                    events: @escaping @Sendable (RunEvent) -> Void) throws {
        let state = PoolState()
        let trap = SignalTrap { _ in
            state.lock.withLock {
                state.interrupted = true
                for pid in state.running.keys { kill(pid, SIGTERM) }
            }
            state.changed.signal()
        }
        defer { trap.remove() }

        var pending = indices[...]
        var completed = 0
        var failures: [(stamp: String, message: String)] = []
        var childEnvironment = environment
        childEnvironment["OPENBLAS_NUM_THREADS"] = String(jobs.first?.threads ?? 1)

        while true {
            let (stop, runningCount) = state.lock.withLock { (state.interrupted, state.running.count) }
            if !stop {
                for _ in 0..<max(0, workers - runningCount) {
                    guard let index = pending.popFirst() else { break }
                    try launch(jobs[index], index: index, planFile: planFile, environment: childEnvironment, state: state, events: events)
                }
            }
            let (ended, stillRunning, stopNow) = state.lock.withLock { () -> ([PoolState.Ended], Int, Bool) in
                defer { state.ended = [] }
                return (state.ended, state.running.count, state.interrupted)
            }
            for e in ended {
                let job = jobs[e.index]
                AtomicFile.removeTemporaries(ofProcess: e.pid, in: job.store.runsDirectory.path)
                if e.status == 0 && job.store.recordExists(job.stamp) {
                    completed += 1
                    if let record = try? job.store.record(job.stamp) { events(.finished(record, seconds: e.seconds)) }
                } else if !stopNow {
                    let message = e.stderr.text(waitingUpTo: 2).trimmingCharacters(in: .whitespacesAndNewlines)
                    let text = message.isEmpty ? "the worker exited with status \(e.status)" : message
                    failures.append((job.stamp, text))
                    events(.failed(stamp: job.stamp, message: text))
                }
            }
            if stopNow && stillRunning == 0 { throw Interrupted(done: done + completed, total: jobs.count) }
            if !stopNow && pending.isEmpty && stillRunning == 0 { break }
            if ended.isEmpty { state.changed.wait() }
        }
        if !failures.isEmpty { throw CellsFailed(failures: failures) }
    }

    /// Starts one worker and registers it in `state` before its termination handler can run.
    private func launch(_ job: CellJob, index: Int, planFile: URL, environment: [String: String], state: PoolState,
                        events: @escaping @Sendable (RunEvent) -> Void) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = ["run-cell", "--plan", planFile.path, "--index", String(index), "--progress-lines"]
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let lines = LineBuffer()
        let stamp = job.stamp
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; return }
            for line in lines.append(data) {
                if let p = TrainingProgress(line: line) { events(.progress(stamp: stamp, p)) }
            }
        }
        let stderr = DataBox()
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; stderr.close(); return }
            stderr.append(data)
        }
        process.terminationHandler = { p in
            state.lock.withLock {
                if let entry = state.running.removeValue(forKey: p.processIdentifier) {
                    state.ended.append((entry.index, p.processIdentifier, p.terminationStatus, entry.stderr, MonotonicClock.seconds() - entry.started))
                }
            }
            state.changed.signal()
        }
        try state.lock.withLock {
            do { try process.run() } catch {
                throw ResultStoreError("cannot start the worker \(executable.path): \(error.localizedDescription)")
            }
            state.running[process.processIdentifier] = (index, MonotonicClock.seconds(), stderr)
        }
        events(.started(stamp: stamp))
    }
}

/// The pool's shared state: running children by process id, children that ended, the stop flag.
final class PoolState: @unchecked Sendable {
    typealias Ended = (index: Int, pid: Int32, status: Int32, stderr: DataBox, seconds: Double)
    let lock = NSLock()
    let changed = DispatchSemaphore(value: 0)
    var running: [Int32: (index: Int, started: Double, stderr: DataBox)] = [:]
    var ended: [Ended] = []
    var interrupted = false
}

/// Bytes collected from a pipe until its end.
final class DataBox: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()
    private let closed = DispatchSemaphore(value: 0)

    func append(_ more: Data) { lock.withLock { data.append(more) } }
    func close() { closed.signal() }

    /// The bytes as text, after the pipe closed or `seconds` passed.
    func text(waitingUpTo seconds: Double) -> String {
        _ = closed.wait(timeout: .now() + seconds)
        return lock.withLock { String(decoding: data, as: UTF8.self) }
    }
}

/// Splits a byte stream into lines.
final class LineBuffer: @unchecked Sendable {
    private var pending = Data()
    private let lock = NSLock()

    func append(_ data: Data) -> [String] {
        lock.withLock {
            pending.append(data)
            var lines: [String] = []
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
            }
            return lines
        }
    }
}

extension ResultStore {
    /// Removes the temporary files in the experiment folder and `runs/` whose writer was a
    /// process of this host that no longer exists: the remains of a process killed between writing
    /// and renaming (the files themselves are never half-written). Another live process's files,
    /// and every file of another host, are left alone.
    public func removeStaleTemporaryFiles() {
        AtomicFile.removeStaleTemporaries(in: directory.path)
        AtomicFile.removeStaleTemporaries(in: runsDirectory.path)
    }

    /// Whether `runs/<stamp>.json` exists.
    public func recordExists(_ stamp: String) -> Bool { FileManager.default.fileExists(atPath: runURL(stamp).path) }
}
