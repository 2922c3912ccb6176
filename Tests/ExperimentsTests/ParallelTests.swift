import Continual
import Foundation
import Testing
@testable import Experiments

/// The `bench` executable built beside the test bundle (`swift build --build-tests` and
/// `swift test` build it).
func benchExecutable() throws -> URL {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("bench"),
        URL(fileURLWithPath: repositoryRoot + "/.build/debug/bench"),
    ]
    return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) },
                        "the bench executable was not built: run `swift build --build-tests` first")
}

/// Runs `bench` with `arguments`; returns its exit status, standard output and standard error.
func runBench(_ arguments: [String], interruptWhen: (() -> Bool)? = nil) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = try benchExecutable()
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let outData = DataCollector(out), errData = DataCollector(err)
    try process.run()
    if let interruptWhen {
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && !interruptWhen() && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
    }
    process.waitUntilExit()
    return (process.terminationStatus, outData.text(), errData.text())
}

/// Reads a pipe to its end on a background thread, so a chatty child never blocks.
final class DataCollector: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        DispatchQueue.global().async {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }
    }
    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite(.serialized) struct ParallelTests {
    func grid() -> ExperimentConfig {
        var c = tinyConfig()
        c.ablation = .leaveOneOut([.ewc])
        c.components.ewc?.fisherSamples = 100
        return c
    }

    /// Two worker processes give the same accuracies, losses and metrics, bit for bit, as one
    /// in-process run; the tables are byte-identical. Running again runs nothing; removing one
    /// record runs exactly that cell.
    @Test func twoWorkersEqualOneAndResumeRunsNothingTwice() throws {
        let one = temporaryFolder("jobs1"), two = temporaryFolder("jobs2")
        let serial = try Runner(config: grid(), outputDirectory: one, environment: [:]).run()
        var parallel = Runner(config: grid(), outputDirectory: two, environment: ProcessInfo.processInfo.environment)
        parallel.workers = 2
        parallel.workerExecutable = try benchExecutable()
        let first = try parallel.run()
        #expect(first.ran.count == 8 && serial.ran.count == 8)
        for (a, b) in zip(serial.aggregate.records, first.aggregate.records) {
            #expect(a.stamp == b.stamp)
            #expect(a.result.accuracy == b.result.accuracy && a.result.initial == b.result.initial, "\(a.stamp)")
            #expect(a.result.taskLoss == b.result.taskLoss && a.metrics == b.metrics, "\(a.stamp)")
        }
        for name in ["matrix.csv", "summary.csv", "ablation.csv"] {
            let x = try Data(contentsOf: one.appendingPathComponent("tiny/\(name)"))
            let y = try Data(contentsOf: two.appendingPathComponent("tiny/\(name)"))
            #expect(x == y, "\(name) differs between --jobs 1 and --jobs 2")
        }

        let again = try parallel.run()
        #expect(again.ran.isEmpty && again.skipped.count == 8)
        let removed = first.ran[3]
        try FileManager.default.removeItem(at: parallel.store.runURL(removed))
        let resumed = try parallel.run()
        #expect(resumed.ran == [removed] && resumed.skipped.count == 7)
        let runs = try FileManager.default.contentsOfDirectory(atPath: parallel.store.runsDirectory.path)
        #expect(!runs.contains { $0.hasPrefix(".") }, "temporary files left: \(runs)")
    }

    /// SIGINT in the middle of a parallel run: the workers are ended, the exit status is 130, a
    /// message says how to resume, no temporary file is left, and the next run runs only the
    /// cells that had no record.
    @Test func interruptedRunStopsCleanlyAndResumes() throws {
        let out = temporaryFolder("interrupt")
        let runs = out.appendingPathComponent("tiny/runs")
        let arguments = ["run", "--name", "tiny", "--dataset", repositoryRoot + "/datasets/mnist-mini", "--hidden", "32",
                         "--epochs", "3", "--seeds", "3", "--method", "finetune", "ewc", "--fisher-samples", "200",
                         "--out", out.path, "--jobs", "2"]
        func records() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? []).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
        }
        let interrupted = try runBench(arguments) { records().count >= 1 }
        #expect(interrupted.status == 130, "\(interrupted.err)")
        #expect(interrupted.err.contains("run the same command again to resume"))
        let kept = records()
        #expect(kept.count >= 1 && kept.count < 6, "\(kept.count) records")
        let all = try FileManager.default.contentsOfDirectory(atPath: runs.path)
        #expect(!all.contains { $0.hasPrefix(".") }, "temporary files left: \(all)")
        for name in kept { #expect(throws: Never.self) { try JSONDecoder().decode(RunRecord.self, from: Data(contentsOf: runs.appendingPathComponent(name))) } }

        let resumed = try runBench(arguments)
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.out.contains("(\(6 - kept.count) cells run, \(kept.count) already done"), "\(resumed.out)")
        #expect(records().count == 6)
    }

    /// Options on the command line override the experiment file.
    @Test func commandLineOverridesTheFile() throws {
        let result = try runBench(["run", "experiments/ablate-ewc.yaml", "--seeds", "5", "--dry-run"])
        #expect(result.status == 0, "\(result.err)")
        let config = try JSONDecoder().decode(ExperimentConfig.self, from: Data(result.out.utf8))
        #expect(config.seeds == [1, 2, 3, 4, 5] && config.ablation == .leaveOneOut([.ewc]) && config.name == "ablate-ewc")
        let bad = try runBench(["run", "experiments/ablate-ewc.yaml", "--ablate", "magic", "--dry-run"])
        #expect(bad.status != 0 && bad.err.contains("'magic' is not a component"))
    }
}
