import Continual
import Foundation
import Schema

/// One cell of an experiment: everything that determines a run's result.
public struct Cell: Codable, Sendable, Hashable {
    /// The program version: a new version may compute different results, so it runs cells anew.
    public var version = Turritopsis.version
    public var datasetSHA256: String
    public var scenario: ScenarioConfig
    public var training: TrainingConfig
    public var method: String
    /// The method's components and their settings; nil for the baselines.
    public var components: ComponentSettings?
    public var seed: Int

    /// A readable prefix and the first 12 hex digits of the SHA-256 of the canonical JSON of the
    /// cell (sorted keys): `finetune-s1-3fa09c1d22e0`. Any change of any setting changes it.
    public var stamp: String {
        "\(method)-s\(seed)-" + Fingerprint.hex(canonicalJSON(self)).prefix(12)
    }
}

/// The result file of one cell (`runs/<stamp>.json`).
public struct RunRecord: Codable, Sendable {
    public var stamp: String
    public var experiment: String
    public var version: String
    public var method: String
    public var seed: Int
    public var dataset: DatasetIdentity
    public var scenarioFingerprint: String
    public var evalSettings: [String]
    public var cell: Cell
    public var result: RunResult
    /// Per evaluated setting, the metrics of `result`'s matrices.
    public var metrics: [String: MetricSet]
    /// With a validation split, per evaluated setting the metrics of the validation matrices
    /// (`RunResult.validationAccuracy`); nil, and absent from the file, without one.
    public var validationMetrics: [String: MetricSet]?
    public var blasThreads: Int
    public var blasCore: String

    public init(stamp: String, experiment: String, version: String, method: String, seed: Int, dataset: DatasetIdentity,
                scenarioFingerprint: String, evalSettings: [String], cell: Cell, result: RunResult,
                metrics: [String: MetricSet], validationMetrics: [String: MetricSet]? = nil, blasThreads: Int, blasCore: String) {
        self.stamp = stamp
        self.experiment = experiment
        self.version = version
        self.method = method
        self.seed = seed
        self.dataset = dataset
        self.scenarioFingerprint = scenarioFingerprint
        self.evalSettings = evalSettings
        self.cell = cell
        self.result = result
        self.metrics = metrics
        self.validationMetrics = validationMetrics
        self.blasThreads = blasThreads
        self.blasCore = blasCore
    }
}

public struct DatasetIdentity: Codable, Sendable, Hashable {
    public var name: String
    public var sha256: String
}

/// Canonical JSON: sorted keys, no extra whitespace.
func canonicalJSON<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
}

/// A failure to read or write a result file; the message names the file.
public struct ResultStoreError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Files under `results/<experiment>/`, each written atomically (a temporary file in the same
/// folder, then a rename), so an interrupted run never leaves a half-written file.
public struct ResultStore: Sendable {
    public let directory: URL
    /// The components records may name (a program with components of its own passes its registry).
    public var registry: ComponentRegistry
    public var runsDirectory: URL { directory.appendingPathComponent("runs") }

    public init(directory: URL, registry: ComponentRegistry = .standard) {
        self.directory = directory
        self.registry = registry
    }

    /// Creates the folders; throws naming the folder if that is impossible.
    public func prepare() throws {
        // A path through a file (`--out /dev/null`) cannot hold folders: say which part is not one.
        var prefix = URL(fileURLWithPath: "/")
        for component in runsDirectory.standardizedFileURL.pathComponents.dropFirst() {
            prefix.appendPathComponent(component)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: prefix.path, isDirectory: &isFolder) else { break }
            if !isFolder.boolValue {
                throw ResultStoreError("cannot create the results folder \(runsDirectory.path): \(prefix.path) is a file, not a folder; choose another --out")
            }
        }
        do {
            try FileManager.default.createDirectory(at: runsDirectory, withIntermediateDirectories: true)
        } catch {
            throw ResultStoreError("cannot create the results folder \(runsDirectory.path): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: runsDirectory.path) else {
            throw ResultStoreError("the results folder \(runsDirectory.path) is not writable")
        }
    }

    /// Removes everything in the experiment folder but the files named in `keeping`.
    public func removeContents(keeping: Set<String>) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where !keeping.contains(name) {
            do { try FileManager.default.removeItem(at: directory.appendingPathComponent(name)) } catch {
                throw ResultStoreError("cannot empty the results folder \(directory.path): \(error.localizedDescription)")
            }
        }
    }

    public func runURL(_ stamp: String) -> URL { runsDirectory.appendingPathComponent("\(stamp).json") }

    /// The record of `stamp` if its file exists and decodes; nil if absent.
    public func record(_ stamp: String) throws -> RunRecord? {
        let url = runURL(stamp)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[.componentRegistry] = registry
            return try decoder.decode(RunRecord.self, from: Data(contentsOf: url))
        } catch {
            throw ResultStoreError("\(url.path) is not a readable run record (\(error)); delete it to run the cell again")
        }
    }

    /// The record of `job`'s cell if its file exists, checked to belong to that cell
    /// (`RunRecord.verify`); nil if absent. A record that does not belong is an error naming the
    /// file, never a result.
    public func record(for job: CellJob) throws -> RunRecord? {
        guard let record = try record(job.stamp) else { return nil }
        try record.verify(against: job.cell, file: runURL(job.stamp).path)
        return record
    }

    public func write(_ record: RunRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try Self.writeAtomically(try encoder.encode(record), to: runURL(record.stamp))
    }

    public func write(_ text: String, named name: String) throws {
        try Self.writeAtomically(Data(text.utf8), to: directory.appendingPathComponent(name))
    }

    /// Writes `data` to `url` through the one atomic writer (`Schema.AtomicFile`: a temporary
    /// file beside it, then a rename; never over a device or a FIFO).
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        try AtomicFile.write([UInt8](data), to: url.path)
    }
}

extension RunRecord {
    /// Checks that this record, read from `file`, is the result of `cell`, and is whole: its
    /// stamp is the file's and its own cell's (the SHA-256 of the cell's canonical JSON, so a
    /// record of another learning rate or seed copied over this file fails), its method, seed,
    /// version and dataset are the cell's, every accuracy matrix is T×T (T×k for a run that
    /// diverged during task k+1; T the cell's task prefix when it has one, as the tuner's
    /// successive halving over tasks gives) with every entry a fraction in [0, 1], and its metrics are
    /// the ones its matrices give (none for a diverged run). Throws `ResultStoreError` naming
    /// the file and the first thing that differs.
    public func verify(against cell: Cell, file: String) throws {
        func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
            if !ok { throw ResultStoreError("\(file) does not belong to cell \(cell.stamp): \(what()); delete the file to run the cell again") }
        }
        try check(stamp == cell.stamp, "it holds the record of \(stamp)")
        try check(self.cell.stamp == stamp, "its stamp \(stamp) is not the hash of the configuration it holds (\(self.cell.stamp)); the file was edited")
        try check(self.cell == cell, "its configuration differs from the plan's")
        try check(method == cell.method && seed == cell.seed, "it is of method \(method), seed \(seed)")
        try check(version == cell.version, "it was written by version \(version)")
        try check(dataset.sha256 == cell.datasetSHA256, "its dataset SHA-256 is \(dataset.sha256)")
        let settings = Scenario.evalSettings(of: cell.scenario).map { Scenario.evaluationName($0, of: cell.scenario) }
        try check(evalSettings == settings && Set(result.accuracy.keys) == Set(settings) && Set(result.initial.keys) == Set(settings),
                  "it is evaluated in \(evalSettings.joined(separator: ", ")), the cell in \(settings.joined(separator: ", "))")
        let T = cell.scenario.taskPrefix ?? cell.scenario.tasks
        let rows = result.divergence.map { $0.task - 1 } ?? T
        if let d = result.divergence { try check(d.task >= 1 && d.task <= T && d.step >= 1, "its divergence (task \(d.task), step \(d.step)) is not in the run") }
        for setting in settings {
            let R = result.accuracy[setting]!, b = result.initial[setting]!
            try check(b.count == T && R.count == rows && R.allSatisfy { $0.count == T },
                      "its \(setting) accuracy matrix is not \(rows)×\(T) with a b row of \(T)")
            try check((R.joined() + b).allSatisfy { $0 >= 0 && $0 <= 1 }, "a \(setting) accuracy is not a fraction in [0, 1]")
        }
        if result.divergence != nil {
            try check(metrics.isEmpty, "it diverged, yet holds metrics")
        } else {
            try check(Set(metrics.keys) == Set(settings), "its metrics are for \(metrics.keys.sorted().joined(separator: ", "))")
            let recomputed = Runner.metrics(result)
            for setting in settings {
                try check(metrics[setting] == recomputed[setting],
                          "its \(setting) metrics are not those of its accuracy matrix (and learning curve)")
            }
        }
    }
}
