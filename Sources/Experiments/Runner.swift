import Continual
import Datasets
import Foundation
import NeuralNet

/// Runs every cell of an experiment (methods × seeds) and writes the result files.
///
/// Order of work: validate the configuration, load and check the dataset, build each seed's
/// scenario — all before anything is written — then create `results/<experiment>/`, run each
/// cell whose record does not exist yet, and write `experiment.json`, `matrix.csv` and
/// `summary.csv`. A cell whose `runs/<stamp>.json` exists is not run again.
public struct Runner {
    public var config: ExperimentConfig
    public var outputDirectory: URL
    public var dataDirectory: String?
    public var environment: [String: String]
    /// Called with one line of progress at a time.
    public var log: @Sendable (String) -> Void = { _ in }
    /// Called with training progress inside a cell.
    public var progress: (@Sendable (String, TrainingProgress) -> Void)?

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
        public let ran: [String]
        public let skipped: [String]
        public let directory: URL
    }

    @discardableResult
    public func run() throws -> Outcome {
        try config.validate()
        let dataset = try Dataset.load(config.dataset, dataDirectory: dataDirectory, environment: environment, verifyChecksums: true)
        var scenarios: [Int: Scenario] = [:]
        for seed in config.seeds {
            scenarios[seed] = try Scenario(config.scenario, dataset: dataset, seed: UInt64(seed))
        }
        BLAS.setThreads(config.threads)
        let store = self.store
        try store.prepare()

        var records: [RunRecord] = [], ran: [String] = [], skipped: [String] = []
        for method in config.methods {
            for seed in config.seeds {
                let components = try config.settings(for: method)
                let cell = Cell(datasetSHA256: dataset.sha256, scenario: config.scenario, training: config.training,
                                method: method, components: components, seed: seed)
                let stamp = cell.stamp
                if let existing = try store.record(stamp) {
                    records.append(existing)
                    skipped.append(stamp)
                    log("\(stamp): done before, skipped")
                    continue
                }
                let scenario = scenarios[seed]!
                var trainer = Trainer(scenario: scenario, config: config.training, seed: UInt64(seed),
                                      settings: components ?? ComponentSettings())
                trainer.joint = method == "joint"
                if let progress { trainer.progress = { progress(stamp, $0) } }
                let result = trainer.run()
                let record = RunRecord(
                    stamp: stamp, experiment: config.name, version: Turritopsis.version, method: method, seed: seed,
                    dataset: DatasetIdentity(name: dataset.name, sha256: dataset.sha256),
                    scenarioFingerprint: scenario.fingerprint, evalSettings: scenario.evalSettings.map(\.rawValue),
                    cell: cell, result: result, metrics: Self.metrics(result), blasThreads: BLAS.threads, blasCore: BLAS.coreName)
                try store.write(record)
                records.append(record)
                ran.append(stamp)
                let acc = record.metrics[scenario.evalSettings[0].rawValue]?.acc ?? 0
                log(String(format: "%@: ACC %.2f%% (%@), %.0f samples/s, %.1f s", stamp, acc * 100,
                           scenario.evalSettings[0].rawValue, result.trainSamplesPerSecond, result.trainSeconds + result.evalSeconds))
            }
        }
        let aggregate = Aggregate(experiment: config.name, records: records, methods: config.methods)
        try writeTables(aggregate, dataset: dataset, scenario: scenarios[config.seeds[0]]!)
        return Outcome(aggregate: aggregate, ran: ran, skipped: skipped, directory: store.directory)
    }

    /// The metrics of each evaluated setting of a run.
    static func metrics(_ result: RunResult) -> [String: MetricSet] {
        var out: [String: MetricSet] = [:]
        for (setting, R) in result.accuracy { out[setting] = MetricSet(R: R, b: result.initial[setting]!) }
        return out
    }

    func writeTables(_ aggregate: Aggregate, dataset: Dataset, scenario: Scenario) throws {
        let manifest = ExperimentManifest(
            experiment: config.name, version: Turritopsis.version,
            configHash: String(Fingerprint.hex(canonicalJSON(config.hashable)).prefix(16)),
            dataset: DatasetIdentity(name: dataset.name, sha256: dataset.sha256),
            scenario: .init(kind: config.scenario.kind.rawValue, setting: config.scenario.setting.rawValue,
                            tasks: config.scenario.tasks, fingerprint: scenario.fingerprint),
            methods: config.methods, seeds: config.seeds, config: config)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try ResultStore.writeAtomically(try encoder.encode(manifest), to: store.directory.appendingPathComponent("experiment.json"))
        try store.write(aggregate.matrixCSV, named: "matrix.csv")
        try store.write(aggregate.summaryCSV, named: "summary.csv")
        try store.write(aggregate.costsCSV, named: "costs.csv")
    }
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
