import Continual
import Datasets
import Foundation
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
    /// The executable that understands `run-cell` (the `bench` binary); needed for `workers` > 1.
    public var workerExecutable: URL?
    /// Called with one line of progress at a time.
    public var log: @Sendable (String) -> Void = { _ in }
    /// Called with training progress inside a cell.
    public var progress: (@Sendable (String, TrainingProgress) -> Void)?
    /// Called with every event of the run, for a progress display.
    public var events: (@Sendable (RunEvent) -> Void)?

    public init(config: ExperimentConfig, outputDirectory: URL, dataDirectory: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.config = config
        self.outputDirectory = outputDirectory
        self.dataDirectory = dataDirectory
        self.environment = environment
    }

    public var store: ResultStore { ResultStore(directory: outputDirectory.appendingPathComponent(config.name)) }

    /// What a finished experiment hands back.
    public struct Outcome: Sendable {
        public let aggregate: Aggregate
        public let plan: StudyPlan
        public let ablation: AblationAnalysis
        public let ran: [String]
        public let skipped: [String]
        public let directory: URL
    }

    @discardableResult
    public func run() throws -> Outcome {
        let plan = try config.validatedPlan()
        let dataset = try Dataset.load(config.dataset, dataDirectory: dataDirectory, environment: environment, verifyChecksums: true)
        var scenarios: [Int: Scenario] = [:]
        for seed in config.seeds {
            scenarios[seed] = try Scenario(config.scenario, dataset: dataset, seed: UInt64(seed))
        }
        let store = self.store
        let jobs = try config.cellJobs(methods: plan.methods, datasetSHA256: dataset.sha256, results: store.directory,
                                       dataDirectory: dataDirectory)
        try store.prepare()
        store.removeStaleTemporaryFiles()
        let planFile = store.directory.appendingPathComponent("plan.jsonl")
        try store.write(PlanFile.text(jobs), named: "plan.jsonl")

        var skipped: [String] = [], pending: [Int] = []
        for (i, job) in jobs.enumerated() {
            if try store.record(job.stamp) != nil {
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
            guard let record = try store.record(job.stamp) else { throw ResultStoreError("\(store.runURL(job.stamp).path) is missing after the run") }
            records.append(record)
        }
        let aggregate = Aggregate(experiment: config.name, records: records, methods: plan.methods)
        let ablation = AblationAnalysis(plan: plan, records: records)
        try writeTables(aggregate, ablation: ablation, plan: plan, dataset: dataset, scenario: scenarios[config.seeds[0]]!)
        let ran = pending.map { jobs[$0].stamp }
        return Outcome(aggregate: aggregate, plan: plan, ablation: ablation, ran: ran, skipped: skipped, directory: store.directory)
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
            let suffix = ".tmp-\(getpid())"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? [] where name.hasSuffix(suffix) {
                try? FileManager.default.removeItem(at: runs.appendingPathComponent(name))
            }
            FileHandle.standardError.write(Data(("\n" + Interrupted(done: counter.value, total: total).description + "\n").utf8))
            _exit(130)
        }
        defer { trap.remove() }
        for i in indices {
            let job = jobs[i]
            report(.started(stamp: job.stamp))
            let started = Clock.seconds()
            let stamp = job.stamp
            let progress = self.progress
            let record = job.run(dataset: dataset, scenario: scenarios[job.cell.seed]!) { p in
                progress?(stamp, p)
                report(.progress(stamp: stamp, p))
            }
            try store.write(record)
            counter.increment()
            report(.finished(record, seconds: Clock.seconds() - started))
        }
    }

    /// The metrics of each evaluated setting of a run.
    static func metrics(_ result: RunResult) -> [String: MetricSet] {
        var out: [String: MetricSet] = [:]
        for (setting, R) in result.accuracy { out[setting] = MetricSet(R: R, b: result.initial[setting]!) }
        return out
    }

    func writeTables(_ aggregate: Aggregate, ablation: AblationAnalysis, plan: StudyPlan, dataset: Dataset, scenario: Scenario) throws {
        let manifest = ExperimentManifest(
            experiment: config.name, version: Turritopsis.version,
            configHash: String(Fingerprint.hex(canonicalJSON(config.hashable)).prefix(16)),
            dataset: DatasetIdentity(name: dataset.name, sha256: dataset.sha256),
            scenario: .init(kind: config.scenario.kind.rawValue, setting: config.scenario.setting.rawValue,
                            tasks: config.scenario.tasks, fingerprint: scenario.fingerprint),
            methods: plan.methods, seeds: config.seeds, config: config)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try ResultStore.writeAtomically(try encoder.encode(manifest), to: store.directory.appendingPathComponent("experiment.json"))
        try store.write(aggregate.matrixCSV, named: "matrix.csv")
        try store.write(aggregate.summaryCSV, named: "summary.csv")
        try store.write(aggregate.costsCSV, named: "costs.csv")
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
