import Continual
import Datasets
import Foundation
import NeuralNet

/// One cell as a self-contained value: everything `bench run-cell` needs to run it and to know
/// where its record goes. A grid is a list of these, written one per line as JSON (`plan.jsonl`);
/// local runs, parallel workers and cluster jobs all run a cell through `CellJob.run`.
public struct CellJob: Codable, Sendable, Hashable {
    /// `cell.stamp`, stored for reading; checked against the cell when a job is loaded.
    public var stamp: String
    public var experiment: String
    /// The dataset as configured: a catalog name or a folder.
    public var dataset: String
    /// `--data-dir`, if given.
    public var dataDirectory: String?
    /// The experiment's results folder (`<out>/<experiment>`); the record goes to `runs/<stamp>.json`.
    public var results: String
    /// OpenBLAS threads of the process that runs the cell (not part of the stamp).
    public var threads: Int
    /// What determines the result.
    public var cell: Cell

    public init(experiment: String, dataset: String, dataDirectory: String?, results: String, threads: Int, cell: Cell) {
        stamp = cell.stamp
        self.experiment = experiment
        self.dataset = dataset
        self.dataDirectory = dataDirectory
        self.results = results
        self.threads = threads
        self.cell = cell
    }

    public var store: ResultStore { ResultStore(directory: URL(fileURLWithPath: results)) }

    /// Runs the cell on an already loaded dataset and scenario (which must be the cell's: same
    /// dataset SHA-256, same seed) and returns its record; writes nothing.
    public func run(dataset: Dataset, scenario: Scenario, progress: (@Sendable (TrainingProgress) -> Void)? = nil) -> RunRecord {
        precondition(dataset.sha256 == cell.datasetSHA256, "cell \(stamp) run on another dataset")
        BLAS.setThreads(threads)
        var trainer = Trainer(scenario: scenario, config: cell.training, seed: UInt64(cell.seed),
                              settings: cell.components ?? ComponentSettings())
        trainer.joint = cell.method == "joint"
        trainer.progress = progress
        let result = trainer.run()
        return RunRecord(
            stamp: stamp, experiment: experiment, version: Turritopsis.version, method: cell.method, seed: cell.seed,
            dataset: DatasetIdentity(name: dataset.name, sha256: dataset.sha256),
            scenarioFingerprint: scenario.fingerprint, evalSettings: scenario.evalSettings.map(scenario.evaluationName),
            cell: cell, result: result, metrics: Runner.metrics(result),
            validationMetrics: Runner.validationMetrics(result), blasThreads: BLAS.threads, blasCore: BLAS.coreName)
    }

    /// What `bench run-cell` does: if the record exists, nothing (returns nil); else loads the
    /// dataset (its SHA-256 must be the cell's), builds the seed's scenario, runs the cell and
    /// writes its record atomically.
    @discardableResult
    public func runAndStore(environment: [String: String] = ProcessInfo.processInfo.environment,
                            progress: (@Sendable (TrainingProgress) -> Void)? = nil) throws -> RunRecord? {
        let store = self.store
        if try store.record(for: self) != nil { return nil }
        let data = try Dataset.load(dataset, dataDirectory: dataDirectory, environment: environment, verifyChecksums: true)
        guard data.sha256 == cell.datasetSHA256 else {
            throw ResultStoreError("cell \(stamp): the dataset '\(dataset)' has SHA-256 \(data.sha256), but the cell was planned for \(cell.datasetSHA256)")
        }
        let scenario = try Scenario(cell.scenario, dataset: data, seed: UInt64(cell.seed))
        try cell.checkFits(scenario)
        try store.prepare()
        let record = run(dataset: data, scenario: scenario, progress: progress)
        try store.write(record)
        return record
    }
}

extension Cell {
    /// Checks, before anything is allocated, that the cell can run on `scenario`: a batch holds
    /// at most one task's training samples (a larger one would make an "epoch" many passes over
    /// the task), and the network with its training buffers fits in this machine's memory.
    ///
    /// The memory estimate is a lower bound, in 4-byte floats: P parameters (Σ (in + 1)·out over
    /// the layers, times the experts, the progressive columns (one per task) and the nested
    /// `parallel` paths (one per level), plus the memory slots) kept 6 times (values, gradients,
    /// two Adam moments, EWC's Fisher and anchor), plus the activations of
    /// max(2·batchSize, evalBatchSize) rows through every layer, plus the replay buffer's inputs.
    /// Errors name the key path (`training.batchSize`, `training.hidden`).
    public func checkFits(_ scenario: Scenario, physicalMemory: Double = Cell.physicalMemory) throws {
        let smallest = scenario.tasks.min { $0.trainIndices.count < $1.trainIndices.count }!
        let n = smallest.trainIndices.count
        if training.batchSize > n {
            throw ConfigError("training.batchSize: \(training.batchSize) is larger than task \(smallest.index + 1), which has \(n) training samples; use at most \(n)")
        }
        let D = Double(scenario.inputCount), K = Double(scenario.outputCount)
        let widths = (components?.moe?.hidden ?? training.hidden).map(Double.init)
        let layers = zip([D] + widths, widths + [K])
        let experts = Double(components?.moe?.experts ?? 1)
        let slots = Double(components?.memory?.slots ?? 0) * (widths.last ?? 0)
        // Progressive columns: one column per task (at least the plain network's shape each);
        // nested `parallel`: one path per level in every layer.
        let columns = components?.pnas != nil ? Double(scenario.tasks.count) : 1
        let paths = components?.nested.map { $0.layout == .parallel ? Double($0.periods.count) : 1 } ?? 1
        let parameters = layers.reduce(0) { $0 + ($1.0 + 1) * $1.1 } * experts * columns * paths + slots
        let rows = Double(max(2 * training.batchSize, training.evalBatchSize))
        let activations = rows * (D + K + 3 * widths.reduce(0, +) * experts)
        let replay = Double(components?.replay?.capacity ?? 0) * D
        let bytes = 4 * (6 * parameters + activations + replay)
        if bytes > physicalMemory {
            func gb(_ x: Double) -> String { String(format: "%.1f GB", x / 1e9) }
            throw ConfigError("training.hidden \(training.hidden), training.batchSize \(training.batchSize): the network and its buffers need at least \(gb(bytes)) (\(String(format: "%.3g", parameters)) parameters), more than this machine's \(gb(physicalMemory)) of memory")
        }
    }

    /// This machine's physical memory in bytes.
    public static let physicalMemory: Double = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
}

/// A grid of cells as JSON lines: one `CellJob` per line, in run order.
public enum PlanFile {
    /// The JSON-lines text of `jobs` (canonical JSON, one job a line).
    public static func text(_ jobs: [CellJob]) -> String {
        jobs.map { canonicalJSON($0) + "\n" }.joined()
    }

    /// Reads the jobs of a plan file; throws naming the file and the line of a bad entry.
    public static func read(_ url: URL, registry: ComponentRegistry = .standard) throws -> [CellJob] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ResultStoreError("cannot read the plan \(url.path): \(error.localizedDescription)")
        }
        var jobs: [CellJob] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            jobs.append(try job(String(line), source: "\(url.path), line \(i + 1)", registry: registry))
        }
        return jobs
    }

    /// Decodes one job and checks that its stamp is its cell's.
    public static func job(_ json: String, source: String, registry: ComponentRegistry = .standard) throws -> CellJob {
        let job: CellJob
        let decoder = JSONDecoder()
        decoder.userInfo[.componentRegistry] = registry
        do { job = try decoder.decode(CellJob.self, from: Data(json.utf8)) } catch {
            throw ResultStoreError("\(source) is not a cell (\(error))")
        }
        guard job.stamp == job.cell.stamp else {
            throw ResultStoreError("\(source): the stamp \(job.stamp) does not match its cell (\(job.cell.stamp)); the plan was edited or made by another version")
        }
        return job
    }
}

extension ExperimentConfig {
    /// The cells of `methods` × sweep points × `seeds` (method-major, then the sweep's grid, seeds
    /// in order) as self-contained jobs. This is the one place where a configuration becomes
    /// cells: every setting that changes a result must reach `Cell` here, which the stamp tests
    /// check field by field. A point of a sweep that does not change a method's cells (an EWC λ
    /// for finetune) adds none: the same cell is listed once.
    public func cellJobs(methods: [String], datasetSHA256: String, results: URL, dataDirectory: String?) throws -> [CellJob] {
        var jobs: [CellJob] = []
        var stamps = Set<String>()
        let points = try sweepPoints.map { try configuration(at: $0) }
        for method in methods {
            for config in points {
                let components = try config.settings(for: method)
                for seed in seeds {
                    let cell = Cell(datasetSHA256: datasetSHA256, scenario: scenario, training: config.training,
                                    method: method, components: components, seed: seed)
                    guard stamps.insert(cell.stamp).inserted else { continue }
                    jobs.append(CellJob(experiment: name, dataset: dataset, dataDirectory: dataDirectory,
                                        results: results.path, threads: threads, cell: cell))
                }
            }
        }
        return jobs
    }

    /// The label of each cell's group in the tables, in the order of `jobs`, each once: the
    /// method without a sweep, else `Sweep.variant` (the method and its point).
    public func variants(of jobs: [CellJob]) -> [String] {
        var out: [String] = [], seen = Set<String>()
        for job in jobs {
            let v = Sweep.variant(of: job.cell, sweep: sweepAxes, registry: registry)
            if seen.insert(v).inserted { out.append(v) }
        }
        return out
    }
}
