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
            cell: cell, result: result, metrics: Runner.metrics(result), blasThreads: BLAS.threads, blasCore: BLAS.coreName)
    }

    /// What `bench run-cell` does: if the record exists, nothing (returns nil); else loads the
    /// dataset (its SHA-256 must be the cell's), builds the seed's scenario, runs the cell and
    /// writes its record atomically.
    @discardableResult
    public func runAndStore(environment: [String: String] = ProcessInfo.processInfo.environment,
                            progress: (@Sendable (TrainingProgress) -> Void)? = nil) throws -> RunRecord? {
        let store = self.store
        if try store.record(stamp) != nil { return nil }
        let data = try Dataset.load(dataset, dataDirectory: dataDirectory, environment: environment, verifyChecksums: true)
        guard data.sha256 == cell.datasetSHA256 else {
            throw ResultStoreError("cell \(stamp): the dataset '\(dataset)' has SHA-256 \(data.sha256), but the cell was planned for \(cell.datasetSHA256)")
        }
        let scenario = try Scenario(cell.scenario, dataset: data, seed: UInt64(cell.seed))
        try store.prepare()
        let record = run(dataset: data, scenario: scenario, progress: progress)
        try store.write(record)
        return record
    }
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
    /// The cells of `methods` × `seeds` (method-major, seeds in order) as self-contained jobs.
    /// This is the one place where a configuration becomes cells: every setting that changes a
    /// result must reach `Cell` here, which the stamp tests check field by field.
    public func cellJobs(methods: [String], datasetSHA256: String, results: URL, dataDirectory: String?) throws -> [CellJob] {
        var jobs: [CellJob] = []
        for method in methods {
            let components = try settings(for: method)
            for seed in seeds {
                let cell = Cell(datasetSHA256: datasetSHA256, scenario: scenario, training: training,
                                method: method, components: components, seed: seed)
                jobs.append(CellJob(experiment: name, dataset: dataset, dataDirectory: dataDirectory,
                                    results: results.path, threads: threads, cell: cell))
            }
        }
        return jobs
    }
}
