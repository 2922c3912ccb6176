import Continual
import Datasets
import Foundation
import Schema
import NeuralNet

/// Runs every cell of an experiment (methods × seeds) and writes the result files.
///
/// Order of work: validate the configuration and expand its ablation design (`plan()`), load and
/// check the dataset, build each seed's scenario — all before anything is written — then create
/// `results/<experiment>/`, write the cells to `plan.jsonl`, run each cell whose record does not
/// exist yet, and write `experiment.json`, `matrix.csv`, `summary.csv` and, for ablation designs,
/// `ablation.csv`, `add-one.csv` or `factorial.csv`. A cell whose `runs/<stamp>.json` exists is
/// not run again.
///
/// With `workers` = 1, or without `workerExecutable`, cells run one after another in this process;
/// otherwise in up to `workers` child processes (`WorkerPool`), each running `run-cell` on one line
/// of `plan.jsonl`. Both run a cell through `CellJob.run`, so the records are bit-identical apart
/// from their timings.
public struct Runner {
    public var config: ExperimentConfig
    public var outputDirectory: URL
    public var dataDirectory: String?
    public var environment: [String: String]
    /// Parallel worker processes; 1 runs in this process.
    public var workers = 1
    /// How the ablation's intervals are made (`PairedDifference`): the paired t-interval unless
    /// the bootstrap is asked for (used only from 10 seeds on).
    public var interval: IntervalMethod = .pairedT
    /// The executable that understands `run-cell` (the `bench` binary); needed for `workers` > 1.
    public var workerExecutable: URL?
    /// Called with one line of progress at a time.
    public var log: @Sendable (String) -> Void = { _ in }
    /// Called with training progress inside a cell.
    public var progress: (@Sendable (String, TrainingProgress) -> Void)?
    /// Called with every event of the run, for a progress display.
    public var events: (@Sendable (RunEvent) -> Void)?
    /// Empty the experiment folder first (under its lock), so every cell runs afresh (`bench check`).
    public var startFresh = false

    public init(config: ExperimentConfig, outputDirectory: URL, dataDirectory: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.config = config
        self.outputDirectory = outputDirectory
        self.dataDirectory = dataDirectory
        self.environment = environment
    }

    public var store: ResultStore { ResultStore(directory: outputDirectory.appendingPathComponent(config.name), registry: config.registry) }

    /// What a finished experiment hands back.
    public struct Outcome: Sendable {
        public let aggregate: Aggregate
        public let plan: StudyPlan
        public let ablation: AblationAnalysis
        public let ran: [String]
        public let skipped: [String]
        public let directory: URL
    }

    /// A validated experiment with its dataset, scenarios and cells, and `plan.jsonl` and
    /// `config.json` written: what `run`, `bench plan`, `bench slurm` and `merge` start from.
    public struct Prepared {
        public let plan: StudyPlan
        public let dataset: Dataset
        public let scenarios: [Int: Scenario]
        public let jobs: [CellJob]
        public let store: ResultStore
        /// The folder's lock, held as long as this value lives (`FolderLock`); nil until `prepare()`.
        public var lock: FolderLock? = nil
        public var planFile: URL { store.directory.appendingPathComponent("plan.jsonl") }
    }

    /// Validates the configuration and expands its design, loads and checks the dataset, builds
    /// each seed's scenario — all before anything is written — then creates the experiment
    /// folder and writes the cells to `plan.jsonl` and the configuration to `config.json`.
    public func prepare() throws -> Prepared {
        var prepared = try load()
        let store = prepared.store
        try store.prepare()
        prepared.lock = try FolderLock(store.directory)
        if startFresh {
            try store.removeContents(keeping: [".lock"])
            try store.prepare()
        }
        store.removeStaleTemporaryFiles()
        try store.write(PlanFile.text(prepared.jobs), named: "plan.jsonl")
        try store.write(canonicalJSON(config) + "\n", named: "config.json")
        return prepared
    }

    /// `prepare()` without writing anything.
    func load() throws -> Prepared {
        let plan = try config.validatedPlan()
        let dataset = try Dataset.load(config.dataset, dataDirectory: dataDirectory, environment: environment, verifyChecksums: true)
        var scenarios: [Int: Scenario] = [:]
        for seed in config.seeds {
            scenarios[seed] = try Scenario(config.scenario, dataset: dataset, seed: UInt64(seed))
        }
        let store = self.store
        let jobs = try config.cellJobs(methods: plan.methods, datasetSHA256: dataset.sha256, results: store.directory,
                                       dataDirectory: dataDirectory)
        for job in jobs { try job.cell.checkFits(scenarios[job.cell.seed]!) }
        return Prepared(plan: plan, dataset: dataset, scenarios: scenarios, jobs: jobs, store: store)
    }

    @discardableResult
    public func run() throws -> Outcome {
        let prepared = try prepare()
        defer { prepared.lock?.release() }  // held to the end, tables included
        let (plan, dataset, scenarios, jobs, store) = (prepared.plan, prepared.dataset, prepared.scenarios, prepared.jobs, prepared.store)
        let planFile = prepared.planFile

        var skipped: [String] = [], pending: [Int] = []
        for (i, job) in jobs.enumerated() {
            if try store.record(for: job) != nil {
                skipped.append(job.stamp)
                log("\(job.stamp): done before, skipped")
            } else {
                pending.append(i)
            }
        }
        let events = self.events
        let log = self.log
        let report: @Sendable (RunEvent) -> Void = { event in
            events?(event)
            if case .finished(let record, let seconds) = event {
                let setting = record.evalSettings[0]
                if let d = record.result.divergence { return log("\(record.stamp): \(d) (recorded; the other cells go on)") }
                let acc = record.metrics[setting]?.acc ?? 0
                log(String(format: "%@: ACC %.2f%% (%@), %.0f samples/s, %.1f s", record.stamp, acc * 100,
                           setting, record.result.trainSamplesPerSecond, seconds))
            }
        }
        let parallel = min(workers, pending.count)
        events?(.begin(total: jobs.count, done: skipped.count, workers: max(1, parallel)))
        if parallel > 1, let executable = workerExecutable {
            try WorkerPool(executable: executable, workers: parallel, environment: environment)
                .run(planFile: planFile, jobs: jobs, indices: pending, done: skipped.count, events: report)
        } else {
            try runHere(jobs: jobs, indices: pending, done: skipped.count, dataset: dataset, scenarios: scenarios, report: report)
        }

        var records: [RunRecord] = []
        for job in jobs {
            guard let record = try store.record(for: job) else { throw ResultStoreError("\(store.runURL(job.stamp).path) is missing after the run") }
            records.append(record)
        }
        let ran = pending.map { jobs[$0].stamp }
        return try aggregate(prepared, records: records, ran: ran, skipped: skipped)
    }

    /// Writes the tables of a complete set of records and returns the outcome.
    func aggregate(_ prepared: Prepared, records: [RunRecord], ran: [String], skipped: [String]) throws -> Outcome {
        let aggregate = Aggregate(experiment: config.name, records: records, methods: config.variants(of: prepared.jobs),
                                  sweep: config.sweepAxes, registry: config.registry)
        let ablation = AblationAnalysis(plan: prepared.plan, records: aggregate.usableRecords, interval: interval)
        try writeTables(aggregate, ablation: ablation, plan: prepared.plan, dataset: prepared.dataset,
                        scenario: prepared.scenarios[config.seeds[0]]!)
        return Outcome(aggregate: aggregate, plan: prepared.plan, ablation: ablation, ran: ran, skipped: skipped,
                       directory: prepared.store.directory)
    }

    /// Aggregates the records of the cells in `plan.jsonl` that ran elsewhere (cluster jobs,
    /// `run-cell`) into the tables, exactly as a local run would. Throws `MergeError` listing the
    /// cells whose record is missing (not yet run, or failed), with their plan indices. Writes
    /// only the tables: the plan and any cell still running elsewhere are left alone.
    public func merge() throws -> Outcome {
        let prepared = try load()
        let planned = try PlanFile.read(prepared.planFile, registry: config.registry)
        guard planned.map(\.stamp) == prepared.jobs.map(\.stamp) else {
            throw ResultStoreError("\(prepared.planFile.path) does not hold the cells this build makes from config.json (planned by another program version, or edited): plan again, or merge with the version that planned it")
        }
        let lock = try FolderLock(prepared.store.directory)
        defer { lock.release() }
        var records: [RunRecord] = [], missing: [(index: Int, stamp: String)] = []
        for (i, job) in prepared.jobs.enumerated() {
            if let record = try prepared.store.record(for: job) { records.append(record) } else { missing.append((i, job.stamp)) }
        }
        guard missing.isEmpty else {
            throw MergeError(directory: prepared.store.directory, planFile: prepared.planFile, cells: prepared.jobs.count,
                             missing: missing.map(\.index), stamps: missing.map(\.stamp))
        }
        return try aggregate(prepared, records: records, ran: [], skipped: records.map(\.stamp))
    }

    /// The runner of the experiment planned in `directory` (its `config.json` and `plan.jsonl`):
    /// the same configuration, results folder and data folder.
    public static func planned(in directory: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Runner {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw ResultStoreError("\(directory.path) holds no planned experiment: \(configURL.lastPathComponent) is missing (made by `bench plan`, `bench slurm` or `bench run`)")
        }
        let config: ExperimentConfig
        do { config = try JSONDecoder().decode(ExperimentConfig.self, from: data) } catch {
            throw ResultStoreError("\(configURL.path) is not an experiment configuration: \(error)")
        }
        let jobs = try PlanFile.read(directory.appendingPathComponent("plan.jsonl"))
        var runner = Runner(config: config, outputDirectory: directory.deletingLastPathComponent(),
                            dataDirectory: jobs.first?.dataDirectory, environment: environment)
        runner.config.name = directory.lastPathComponent
        return runner
    }

    /// Runs cells one after another in this process. SIGINT or SIGTERM ends the process at once
    /// (after removing this process's temporary file, if any) with a message on how to resume:
    /// records are renamed into place whole, so a finished record is never lost or half-written.
    private func runHere(jobs: [CellJob], indices: [Int], done: Int, dataset: Dataset, scenarios: [Int: Scenario],
                         report: @escaping @Sendable (RunEvent) -> Void) throws {
        let counter = Counter(done)
        let runs = store.runsDirectory
        let total = jobs.count
        let trap = SignalTrap { _ in
            AtomicFile.removeTemporaries(ofProcess: getpid(), in: runs.path)
            let message = Array(("\n" + Interrupted(done: counter.value, total: total).description + "\n").utf8)
            _ = message.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }  // unchecked: nothing else to tell
            _exit(130)
        }
        defer { trap.remove() }
        for i in indices {
            let job = jobs[i]
            report(.started(stamp: job.stamp))
            let started = MonotonicClock.seconds()
            let stamp = job.stamp
            let progress = self.progress
            let record = job.run(dataset: dataset, scenario: scenarios[job.cell.seed]!) { p in
                progress?(stamp, p)
                report(.progress(stamp: stamp, p))
            }
            try store.write(record)
            counter.increment()
            report(.finished(record, seconds: MonotonicClock.seconds() - started))
        }
    }

    /// The metrics of each evaluated setting of a run.
    static func metrics(_ result: RunResult) -> [String: MetricSet] {
        var out: [String: MetricSet] = [:]
        if result.divergence != nil { return out }  // a diverged run has no metrics, never numbers
        for (setting, R) in result.accuracy {
            var metrics = MetricSet(R: R, b: result.initial[setting]!)
            if let curve = result.curve {
                metrics = metrics.with(StabilityGap(curve, name: setting, window: curve.gapWindow))
            }
            out[setting] = metrics
        }
        return out
    }

    /// The metrics of each evaluated setting of a run's validation matrices; nil without a
    /// validation split, empty for a diverged run.
    static func validationMetrics(_ result: RunResult) -> [String: MetricSet]? {
        guard let accuracy = result.validationAccuracy, let initial = result.validationInitial else { return nil }
        if result.divergence != nil { return [:] }
        var out: [String: MetricSet] = [:]
        for (setting, R) in accuracy { out[setting] = MetricSet(R: R, b: initial[setting]!) }
        return out
    }

    func writeTables(_ aggregate: Aggregate, ablation: AblationAnalysis, plan: StudyPlan, dataset: Dataset, scenario: Scenario) throws {
        let manifest = ExperimentManifest(
            experiment: config.name, version: Turritopsis.version,
            configHash: String(Fingerprint.hex(canonicalJSON(config.hashable)).prefix(16)),
            dataset: DatasetIdentity(name: dataset.name, sha256: dataset.sha256),
            scenario: .init(kind: config.scenario.kind.rawValue, setting: config.scenario.setting.rawValue,
                            tasks: config.scenario.taskPrefix ?? config.scenario.tasks, fingerprint: scenario.fingerprint),
            methods: plan.methods, seeds: config.seeds, config: config)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try ResultStore.writeAtomically(try encoder.encode(manifest), to: store.directory.appendingPathComponent("experiment.json"))
        try store.write(aggregate.matrixCSV, named: "matrix.csv")
        if let curves = aggregate.curvesCSV { try store.write(curves, named: "curves.csv") }
        try store.write(aggregate.summaryCSV, named: "summary.csv")
        let swept = !aggregate.sweep.isEmpty
        for (name, text, wanted) in [("validation-matrix.csv", aggregate.validationMatrixCSV, aggregate.hasValidation),
                                     ("validation-summary.csv", aggregate.validationSummaryCSV, aggregate.hasValidation),
                                     ("sweep.csv", aggregate.sweepCSV, swept),
                                     // Written by earlier versions: summary.csv has the swept columns now.
                                     ("sweep-summary.csv", "", false), ("validation-sweep-summary.csv", "", false)] {
            let url = store.directory.appendingPathComponent(name)
            if wanted {
                try store.write(text, named: name)
            } else if FileManager.default.fileExists(atPath: url.path) {
                try FileManager.default.removeItem(at: url)  // left by an earlier run with a validation split or a sweep
            }
        }
        try store.write(aggregate.costsCSV, named: "costs.csv")
        let diverged = store.directory.appendingPathComponent("diverged.csv")
        if !aggregate.diverged.isEmpty {
            try store.write(aggregate.divergedCSV, named: "diverged.csv")
        } else if FileManager.default.fileExists(atPath: diverged.path) {
            try FileManager.default.removeItem(at: diverged)
        }
        for (name, rows) in [("ablation.csv", ablation.leaveOneOut), ("add-one.csv", ablation.addOne), ("factorial.csv", ablation.mainEffects)] {
            let url = store.directory.appendingPathComponent(name)
            if !rows.isEmpty {
                try store.write(AblationAnalysis.csv(rows), named: name)
            } else if FileManager.default.fileExists(atPath: url.path) {
                try FileManager.default.removeItem(at: url)  // left by an earlier design of this experiment
            }
        }
    }
}

/// Cells of a plan without a record: not run yet, or failed.
public struct MergeError: Error, CustomStringConvertible {
    public let directory: URL
    public let planFile: URL
    public let cells: Int
    /// Plan indices (lines, counted from 0) of the missing cells.
    public let missing: [Int]
    public let stamps: [String]

    /// Slurm array indices for the missing cells: `3,7,9-12`.
    public var indexList: String {
        var parts: [String] = [], i = 0
        while i < missing.count {
            var j = i
            while j + 1 < missing.count && missing[j + 1] == missing[j] + 1 { j += 1 }
            parts.append(i == j ? "\(missing[i])" : "\(missing[i])-\(missing[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    public var description: String {
        var lines = ["\(missing.count) of \(cells) cells have no record in \(directory.path)/runs (not run yet, or failed):"]
        for (i, stamp) in zip(missing, stamps) { lines.append("  \(i)  \(stamp)") }
        lines.append("re-run them with")
        let cells = directory.appendingPathComponent("slurm/cells.sbatch").path
        if FileManager.default.fileExists(atPath: cells) {
            lines.append("  sbatch --array=\(indexList) --export=ALL,TURRITOPSIS_OFFSET=0 \(SlurmScripts.quote(cells))")
            lines.append("then `bench merge \(directory.path)` again (logs: \(directory.path)/slurm/logs/)")
        } else {
            lines.append("  for i in \(missing.map(String.init).joined(separator: " ")); do bench run-cell --plan \(SlurmScripts.quote(planFile.path)) --index $i; done")
            lines.append("then `bench merge \(directory.path)` again")
        }
        return lines.joined(separator: "\n")
    }
}

/// A count shared with a signal handler.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count: Int
    init(_ start: Int) { count = start }
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}

/// `experiment.json`: what the figures and the regression check need to know about a results folder.
public struct ExperimentManifest: Codable, Sendable {
    public struct ScenarioInfo: Codable, Sendable {
        public var kind: String
        public var setting: String
        public var tasks: Int
        public var fingerprint: String
    }
    public var experiment: String
    public var version: String
    public var configHash: String
    public var dataset: DatasetIdentity
    public var scenario: ScenarioInfo
    public var methods: [String]
    public var seeds: [Int]
    public var config: ExperimentConfig

    enum CodingKeys: String, CodingKey {
        case experiment, version, configHash = "config_hash", dataset, scenario, methods, seeds, config
    }
}

extension ExperimentConfig {
    /// The configuration without the settings that do not change results (threads).
    var hashable: ExperimentConfig {
        var c = self
        c.threads = 1
        return c
    }
}
