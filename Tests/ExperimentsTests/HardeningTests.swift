import Continual
import Datasets
import Foundation
import Testing
@testable import Experiments
import Schema

/// Inputs nobody used to check: a record copied over another cell's file, a diverging cell, a
/// second writer on a folder, batches larger than a task, a baseline without a metric.
@Suite struct HardeningTests {
    /// A valid record copied over another cell's file (seed 1 over seed 2) used to be read as
    /// seed 2's result (n = 2, std 0). Now reading it for aggregation is an error naming the
    /// file, and nothing is aggregated.
    @Test func aRecordCopiedOverAnotherCellIsRejected() throws {
        let out = temporaryFolder("copied")
        defer { try? FileManager.default.removeItem(at: out) }
        let runner = Runner(config: tinyConfig(), outputDirectory: out, environment: [:])
        try runner.run()
        let runs = runner.store.runsDirectory
        let names = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { $0.hasPrefix("finetune-") }.sorted()
        let (s1, s2) = (runs.appendingPathComponent(names[0]), runs.appendingPathComponent(names[1]))
        let original = try Data(contentsOf: s2)
        try FileManager.default.removeItem(at: out.appendingPathComponent("tiny/summary.csv"))
        try FileManager.default.copyItem(at: s1, to: s2.appendingPathExtension("copy"))
        try FileManager.default.removeItem(at: s2)
        try FileManager.default.moveItem(at: s2.appendingPathExtension("copy"), to: s2)
        #expect {
            try runner.run()
        } throws: { error in
            "\(error)".hasPrefix("\(s2.path) does not belong to cell \(names[1].dropLast(5)): it holds the record of \(names[0].dropLast(5))")
        }
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("tiny/summary.csv").path))

        // An edited accuracy (7.0 = 700%) in the file's own record: its matrix is checked.
        var json = try JSONSerialization.jsonObject(with: original) as! [String: Any]
        var result = json["result"] as! [String: Any]
        var accuracy = result["accuracy"] as! [String: [[Double]]]
        accuracy["class-il"]![4][0] = 7.0
        result["accuracy"] = accuracy
        json["result"] = result
        try JSONSerialization.data(withJSONObject: json).write(to: s2)
        #expect { try runner.run() } throws: { "\($0)".contains("a class-il accuracy is not a fraction in [0, 1]") }

        // Metrics that are not those of the matrix.
        json = try JSONSerialization.jsonObject(with: original) as! [String: Any]
        var metrics = json["metrics"] as! [String: [String: Any]]
        metrics["class-il"]!["acc"] = 0.99
        json["metrics"] = metrics
        try JSONSerialization.data(withJSONObject: json).write(to: s2)
        #expect { try runner.merge() } throws: { "\($0)".contains("its class-il metrics are not those of its accuracy matrix") }

        // The original file verifies again.
        try original.write(to: s2)
        #expect(try runner.merge().aggregate.records.count == 4)
    }

    /// λ = 1e38 (with SGD at lr 0.1) makes EWC's loss non-finite in task 2: the cell stops there and writes a record
    /// that says so; the grid goes on; the summary shows the method as diverged, never numbers.
    @Test func aDivergingCellIsRecordedAndTheGridGoesOn() throws {
        let out = temporaryFolder("diverge")
        defer { try? FileManager.default.removeItem(at: out) }
        var config = tinyConfig()
        config.methods = ["finetune", "ewc"]
        config.components.ewc = EWCConfig(lambda: 1e38, fisherSamples: 50)
        config.training.optimizer = .sgd
        config.training.learningRate = 0.1
        let outcome = try Runner(config: config, outputDirectory: out, environment: [:]).run()
        let diverged = outcome.aggregate.diverged
        #expect(diverged.map(\.method) == ["ewc", "ewc"])
        for record in diverged {
            let d = try #require(record.result.divergence)
            #expect(d.task == 2 && d.step >= 1 && !d.loss.isFinite)
            #expect(record.metrics.isEmpty && record.result.accuracy["class-il"]!.count == 1)
        }
        #expect(outcome.aggregate.summaries.allSatisfy { $0.method == "finetune" })
        #expect(outcome.aggregate.markdown.contains("| ewc | – | diverged: seed 1 at task 2, step "))
        let csv = try String(contentsOf: outcome.directory.appendingPathComponent("diverged.csv"), encoding: .utf8)
        #expect(csv.hasPrefix("method,seed,task,step,loss\newc,1,2,"))
        // The record survives a reread (resume) and a merge.
        #expect(try Runner(config: config, outputDirectory: out, environment: [:]).merge().aggregate.diverged.count == 2)
    }

    /// A loss limit stops a cell whose loss is finite but above it.
    @Test func aLossAboveTheLimitIsDivergence() throws {
        var config = tinyConfig()
        config.training.lossLimit = 1e-3  // every first step's cross-entropy is above this
        config.methods = ["finetune"]
        config.seeds = [1]
        let out = temporaryFolder("limit")
        defer { try? FileManager.default.removeItem(at: out) }
        let outcome = try Runner(config: config, outputDirectory: out, environment: [:]).run()
        let d = try #require(outcome.aggregate.records[0].result.divergence)
        #expect(d.task == 1 && d.step == 1 && d.loss > 1e-3 && d.loss.isFinite)
    }

    /// A second writer on a folder stops at once and says who holds it; the first is unharmed.
    @Test func aSecondWriterIsTurnedAway() throws {
        let out = temporaryFolder("lock")
        defer { try? FileManager.default.removeItem(at: out) }
        let folder = out.appendingPathComponent("tiny")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // Another process holds the lock, the way a running `bench run` does.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec 9>>'\(folder.path)/.lock'; flock -n 9 || exit 3; echo 'pid '$$' on elsewhere: bench run' >&9; echo locked; sleep 30"]
        let pipe = Pipe()
        holder.standardOutput = pipe
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        _ = pipe.fileHandleForReading.availableData  // "locked"
        #expect {
            try Runner(config: tinyConfig(), outputDirectory: out, environment: [:]).run()
        } throws: { error in
            let e = error as! FolderLockError
            return e.holder?.hasSuffix("on elsewhere: bench run") == true && e.description.contains("is in use by another command")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("plan.jsonl").path))
        holder.terminate()
        holder.waitUntilExit()
        // Released: the run goes ahead. Within one process the lock is shared (plan, then merge).
        let runner = Runner(config: tinyConfig(), outputDirectory: out, environment: [:])
        let prepared = try runner.prepare()
        withExtendedLifetime(prepared) {}
        #expect(try runner.run().aggregate.records.count == 4)
    }

    /// A batch larger than a task used to make one "epoch" many passes; a network too large for
    /// the machine crashed allocating. Both are rejected before anything is written.
    @Test func batchesAndNetworksThatCannotFitAreRejected() throws {
        let out = temporaryFolder("fit")
        defer { try? FileManager.default.removeItem(at: out) }
        var config = tinyConfig()
        config.training.batchSize = 100_000
        #expect(throws: ConfigError("training.batchSize: 100000 is larger than task 1, which has 1000 training samples; use at most 1000")) {
            try Runner(config: config, outputDirectory: out, environment: [:]).run()
        }
        config.training.batchSize = 64
        config.training.hidden = [1_000_000, 1_000_000]
        #expect { try Runner(config: config, outputDirectory: out, environment: [:]).run() } throws: { error in
            "\(error)".hasPrefix("training.hidden [1000000, 1000000], training.batchSize 64: the network and its buffers need at least 24031.1 GB (1e+12 parameters), more than this machine's ")
        }
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("tiny").path))
    }

    /// The estimate by hand for 784-16-10, batch 64, evaluation batch 500, split into 5 tasks:
    /// P = 785·16 + 17·10 = 12,730; rows = max(128, 500) = 500; activations = 500·(784 + 10 +
    /// 3·16) = 421,000; bytes = 4·(6·12,730 + 421,000) = 1,989,520. With pnas, 5 columns:
    /// P = 63,650 and bytes = 4·(381,900 + 421,000) = 3,211,600.
    @Test func theMemoryEstimateByHand() throws {
        let config = tinyConfig()
        let dataset = try Dataset.load(config.dataset, dataDirectory: nil, environment: [:], verifyChecksums: false)
        let scenario = try Scenario(config.scenario, dataset: dataset, seed: 1)
        var cell = Cell(datasetSHA256: dataset.sha256, scenario: config.scenario, training: config.training,
                        method: "finetune", components: nil, seed: 1)
        try cell.checkFits(scenario, physicalMemory: 1_989_520)
        #expect(throws: ConfigError.self) { try cell.checkFits(scenario, physicalMemory: 1_989_519) }
        cell.components = ComponentSettings(PNASConfig())
        try cell.checkFits(scenario, physicalMemory: 3_211_600)
        #expect(throws: ConfigError.self) { try cell.checkFits(scenario, physicalMemory: 3_211_599) }
    }

    @Test func aResultsPathThroughAFileIsNamed() throws {
        let store = ResultStore(directory: URL(fileURLWithPath: "/dev/null/quick"))
        #expect(throws: ResultStoreError.self) { try store.prepare() }
        #expect { try store.prepare() } throws: { "\($0)".contains("/dev/null is a file, not a folder") }
    }

    @Test func joiningABaselineWithPlusIsExplained() {
        #expect { try ExperimentConfig.componentKeys(of: "finetune+finetune") } throws: { error in
            "\(error)".hasPrefix("method 'finetune+finetune': finetune is a method of its own and cannot be joined with +")
        }
    }
}

/// The command line on unwritable streams and bad values (the `bench` binary itself).
@Suite struct HardenedCommandLineTests {
    /// Runs `bench` with standard output and standard error sent where given.
    func bench(_ arguments: [String], stdout: String = "/dev/null", stderr: String? = nil) throws -> (status: Int32, reason: Process.TerminationReason, err: String) {
        let process = Process()
        process.executableURL = try benchExecutable()
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        process.standardOutput = FileHandle(forWritingAtPath: stdout)
        let pipe = Pipe()
        process.standardError = stderr.map { FileHandle(forWritingAtPath: $0)! as Any } ?? pipe
        let collected = DataCollector(pipe)
        try process.run()
        process.waitUntilExit()
        if stderr != nil { try? pipe.fileHandleForWriting.close() }
        return (process.terminationStatus, process.terminationReason, stderr == nil ? collected.text() : "")
    }

    /// `bench --dry-run > file` on a full disk exited 0 with an empty file; now it fails.
    @Test func aFailedWriteToStandardOutputFails() throws {
        let r = try bench(["--dry-run"], stdout: "/dev/full")
        #expect(r.reason == .exit && r.status == 1)
        #expect(r.err.hasPrefix("error: cannot write to standard output: No space left on device"))
    }

    /// An unwritable standard error killed the process with SIGILL (a trapping write); now the
    /// message is lost but the exit status still tells.
    @Test func anUnwritableStandardErrorIsNoCrash() throws {
        let r = try bench(["figures", "/nonexistent-\(getpid())"], stderr: "/dev/full")
        #expect(r.reason == .exit && r.status == 1)
    }

    @Test func badValuesSayWhatIsWrong() throws {
        #expect(try bench(["--lr", "-1"]).err.contains("--lr must be a positive number (got -1.0)"))
        #expect(try bench(["--out", "", "--dry-run"]).err.contains("--out must name a folder; an empty path would write into the current folder"))
        #expect(try bench(["run-cell", "--index=-1", "--plan", "x"]).err.contains("--index must be 0 or more"))
        #expect(try bench(["--method", "finetune+finetune"]).err.contains("finetune is a method of its own and cannot be joined with +"))
    }
}
