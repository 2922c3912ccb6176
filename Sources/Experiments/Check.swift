import Continual
import Datasets
import Foundation

/// The committed record of a deterministic preset's results, which `bench check` compares a new
/// run with (`results/baselines/ci.json`).
///
/// It names what the numbers depend on — the program version, the dataset, each seed's scenario
/// fingerprint, the configuration hash, the BLAS thread count and core — and keeps every metric
/// of every method and evaluated setting, per seed, with its mean and seed-to-seed standard
/// deviation. `digest` hashes every accuracy matrix bit for bit.
public struct Baseline: Codable, Sendable, Equatable {
    /// One metric of one method under one evaluated setting.
    public struct Entry: Codable, Sendable, Equatable {
        public var method: String
        public var setting: String
        public var metric: String
        /// Per seed, in seed order.
        public var values: [Double]
        public var mean: Double
        /// Sample standard deviation over seeds (0 for one seed).
        public var std: Double
    }

    public var preset: String
    public var version: String
    public var dataset: DatasetIdentity
    /// Scenario fingerprint per seed (keys are the seeds in decimal).
    public var scenarioFingerprints: [String: String]
    public var configHash: String
    public var blasThreads: Int
    public var blasCore: String
    /// SHA-256 of every record's b and R, in stamp order, as canonical JSON.
    public var digest: String
    public var entries: [Entry]

    /// The baseline of a finished run.
    public init(preset: String, config: ExperimentConfig, records: [RunRecord]) {
        let sorted = records.sorted { $0.stamp < $1.stamp }
        self.preset = preset
        version = Turritopsis.version
        dataset = sorted.first?.dataset ?? DatasetIdentity(name: config.dataset, sha256: "")
        var prints: [String: String] = [:]
        for r in sorted { prints[String(r.seed)] = r.scenarioFingerprint }
        scenarioFingerprints = prints
        configHash = Fingerprint.hex(canonicalJSON(config))
        blasThreads = sorted.first?.blasThreads ?? 1
        blasCore = sorted.first?.blasCore ?? ""
        digest = Baseline.digest(of: sorted)
        let aggregate = Aggregate(experiment: config.name, records: sorted, methods: config.methods)
        entries = aggregate.summaries.map { s in
            let values = aggregate.runs(s.method).compactMap { $0.metrics[s.setting]?.value(named: s.metric) }
            return Entry(method: s.method, setting: s.setting, metric: s.metric, values: values,
                         mean: s.summary.mean, std: s.summary.std ?? 0)
        }
    }

    /// SHA-256 over the canonical JSON of each record's accuracy matrices and initial rows.
    static func digest(of records: [RunRecord]) -> String {
        struct Matrices: Encodable { let stamp: String; let accuracy: [String: [[Double]]]; let initial: [String: [Double]] }
        let text = records.map { canonicalJSON(Matrices(stamp: $0.stamp, accuracy: $0.result.accuracy, initial: $0.result.initial)) }
            .joined(separator: "\n")
        return SHA256.hexDigest(of: Array(text.utf8))
    }

    /// The smallest tolerance of any metric: half a percentage point (metrics are fractions).
    public static let toleranceFloor = 0.005

    /// The tolerance for a change of an entry's mean: three standard errors of the difference of
    /// two n-seed means, 3 · s · √(2/n) with s the seed-to-seed standard deviation recorded here,
    /// but never below `toleranceFloor`.
    public static func tolerance(_ entry: Entry) -> Double {
        let n = Double(max(entry.values.count, 1))
        return max(toleranceFloor, 3 * entry.std * (2 / n).squareRoot())
    }

    /// Reads a baseline; errors name the file.
    public static func load(_ url: URL) throws -> Baseline {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CheckError("no baseline at \(url.path): run `bench check --update` to record one")
        }
        let baseline: Baseline
        do {
            baseline = try JSONDecoder().decode(Baseline.self, from: data)
        } catch {
            throw CheckError("\(url.path) is not a baseline file (expected the JSON that `bench check --update` writes): \(error)")
        }
        if let problem = baseline.problem { throw CheckError("\(url.path) is not a well-formed baseline: \(problem)") }
        return baseline
    }

    /// What makes this baseline unusable, or nil: no entries, an entry listed twice, an entry
    /// without one value per seed, or whose mean and standard deviation are not those of its
    /// values (a negative or non-finite spread included).
    public var problem: String? {
        if entries.isEmpty { return "it holds no metrics" }
        var seen = Set<String>()
        for e in entries {
            let name = "\(e.method)/\(e.setting)/\(e.metric)"
            if !seen.insert(name).inserted { return "\(name) is listed twice" }
            if e.values.count != scenarioFingerprints.count || e.values.isEmpty {
                return "\(name) has \(e.values.count) values for \(scenarioFingerprints.count) seeds"
            }
            guard e.values.allSatisfy(\.isFinite), e.mean.isFinite, e.std.isFinite, e.std >= 0 else {
                return "\(name) has a non-finite value, or a negative standard deviation (\(e.std))"
            }
            let summary = Summary(e.values)
            let close = { (a: Double, b: Double) in abs(a - b) <= 1e-9 * max(1, abs(a), abs(b)) }
            if !close(summary.mean, e.mean) || !close(summary.std ?? 0, e.std) {
                return "\(name): mean \(e.mean) and standard deviation \(e.std) are not those of its values (\(summary.mean), \(summary.std ?? 0))"
            }
        }
        return nil
    }

    /// Throws, before any training, when this build or the preset's dataset is not the one the
    /// baseline was recorded with (the message says which differs).
    public func checkComparable(with config: ExperimentConfig, dataDirectory: String?,
                                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try Baseline.requireSame(version: version, as: Turritopsis.version)
        let data = try Dataset.load(config.dataset, dataDirectory: dataDirectory, environment: environment, verifyChecksums: true)
        try Baseline.requireSame(dataset: dataset, as: DatasetIdentity(name: data.name, sha256: data.sha256))
    }

    /// Throws naming both versions when they differ.
    static func requireSame(version recorded: String, as now: String) throws {
        if recorded != now {
            throw CheckError("the program version differs: baseline \(recorded), this build \(now) (record a new baseline with `bench check --update`)")
        }
    }

    /// Throws naming both datasets and their SHA-256 when they differ.
    static func requireSame(dataset recorded: DatasetIdentity, as now: DatasetIdentity) throws {
        if recorded != now {
            throw CheckError("the dataset differs: baseline \(recorded.name) (SHA-256 \(recorded.sha256)), this run \(now.name) (SHA-256 \(now.sha256))")
        }
    }

    /// Writes the baseline as pretty, key-sorted JSON, atomically.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try ResultStore.writeAtomically(encoder.encode(self) + Data("\n".utf8), to: url)
    }
}

extension Baseline {
    /// Runs every cell of `config` afresh, in this process, into `outputDirectory/<folder>/` (the
    /// folder is emptied first, under its lock), and returns the run's baseline — named `preset`,
    /// made from `config` as given — with the run's outcome. This is the run of `bench check` (the
    /// ci preset into `ci-check/`), and of a program with components of its own that checks its
    /// experiment against a baseline of its own (`Examples/`): both then compare with
    /// `CheckReport`.
    public static func run(preset: String, config: ExperimentConfig, folder: String, outputDirectory: URL,
                           dataDirectory: String?, log: @escaping @Sendable (String) -> Void = { _ in }) throws
        -> (baseline: Baseline, outcome: Runner.Outcome) {
        var named = config
        named.name = folder
        var runner = Runner(config: named, outputDirectory: outputDirectory, dataDirectory: dataDirectory)
        runner.startFresh = true  // under the folder's lock
        runner.log = log
        let outcome = try runner.run()
        return (Baseline(preset: preset, config: config, records: outcome.aggregate.records), outcome)
    }
}

/// A baseline that cannot be compared, or cannot be read.
public struct CheckError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The comparison of a run with a baseline.
public struct CheckReport: Sendable {
    public enum Status: String, Sendable { case ok, fail, missing, new }

    public struct Row: Sendable {
        public var method: String
        public var setting: String
        public var metric: String
        public var baseline: Double?
        public var now: Double?
        public var tolerance: Double
        public var status: Status
        public var delta: Double? { baseline.flatMap { b in now.map { $0 - b } } }
    }

    public var rows: [Row]
    /// Whether every accuracy matrix equals the baseline's bit for bit.
    public var bitIdentical: Bool
    /// The rows that fail the check: moved beyond tolerance, missing from this run, or produced
    /// by this run but absent from the baseline (a baseline must cover every metric, or a
    /// metric removed from it would never be compared).
    public var failures: [Row] { rows.filter { $0.status != .ok } }
    public var passed: Bool { failures.isEmpty }

    /// Compares `current` with `baseline`. Throws when the two are not comparable: a different
    /// program version, dataset or scenario (the message says which, with both values).
    public init(baseline: Baseline, current: Baseline) throws {
        if baseline.preset != current.preset {
            throw CheckError("the baseline is of preset '\(baseline.preset)', this run is '\(current.preset)'")
        }
        try Baseline.requireSame(version: baseline.version, as: current.version)
        try Baseline.requireSame(dataset: baseline.dataset, as: current.dataset)
        if baseline.scenarioFingerprints != current.scenarioFingerprints {
            let seeds = Set(baseline.scenarioFingerprints.keys).union(current.scenarioFingerprints.keys).sorted()
            let differing = seeds.filter { baseline.scenarioFingerprints[$0] != current.scenarioFingerprints[$0] }
            throw CheckError("the scenario fingerprint differs for seed \(differing.joined(separator: ", ")): baseline \(differing.map { baseline.scenarioFingerprints[$0] ?? "none" }.joined(separator: ", ")), this run \(differing.map { current.scenarioFingerprints[$0] ?? "none" }.joined(separator: ", "))")
        }
        var rows: [Row] = []
        let now = Dictionary(current.entries.map { ("\($0.method)|\($0.setting)|\($0.metric)", $0) }, uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        for b in baseline.entries {
            let key = "\(b.method)|\(b.setting)|\(b.metric)"
            seen.insert(key)
            let tolerance = Baseline.tolerance(b)
            guard let c = now[key] else {
                rows.append(Row(method: b.method, setting: b.setting, metric: b.metric, baseline: b.mean, now: nil, tolerance: tolerance, status: .missing))
                continue
            }
            let moved = !(abs(c.mean - b.mean) <= tolerance)
            rows.append(Row(method: b.method, setting: b.setting, metric: b.metric, baseline: b.mean, now: c.mean,
                            tolerance: tolerance, status: moved ? .fail : .ok))
        }
        for c in current.entries where !seen.contains("\(c.method)|\(c.setting)|\(c.metric)") {
            rows.append(Row(method: c.method, setting: c.setting, metric: c.metric, baseline: nil, now: c.mean,
                            tolerance: Baseline.tolerance(c), status: .new))
        }
        self.rows = rows
        bitIdentical = baseline.digest == current.digest
    }

    /// `| method | eval | metric | baseline | now | delta | tolerance | status |`, values in
    /// percentage points.
    public var markdown: String {
        func pp(_ x: Double?) -> String { x.map { String(format: "%.2f", $0 * 100) } ?? "—" }
        func signed(_ x: Double?) -> String { x.map { String(format: "%+.2f", $0 * 100) } ?? "—" }
        var lines = ["| method | eval | metric | baseline | now | delta | tolerance | status |",
                     "|---|---|---|---:|---:|---:|---:|---|"]
        for r in rows {
            lines.append("| \(r.method) | \(r.setting) | \(r.metric) | \(pp(r.baseline)) | \(pp(r.now)) | \(signed(r.delta)) | ±\(pp(r.tolerance)) | \(r.status == .ok ? "ok" : r.status.rawValue.uppercased()) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// JUnit XML: one test case per compared metric, a `<failure>` for each that fails.
    public func junitXML(suite: String) -> String {
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var lines = [#"<?xml version="1.0" encoding="UTF-8"?>"#,
                     #"<testsuites><testsuite name="\#(escape(suite))" tests="\#(rows.count)" failures="\#(failures.count)">"#]
        for r in rows {
            let name = escape("\(r.method) \(r.setting) \(r.metric)")
            let open = #"  <testcase classname="\#(escape(suite)).\#(escape(r.method))" name="\#(name)""#
            switch r.status {
            case .ok:
                lines.append(open + "/>")
            case .fail, .missing, .new:
                let message = r.status == .missing
                    ? "missing from this run"
                    : r.status == .new ? "not in the baseline: record a new one with `bench check --update`"
                    : String(format: "moved %+.4f (baseline %.4f, now %.4f), tolerance ±%.4f", r.delta!, r.baseline!, r.now!, r.tolerance)
                lines.append(open + ">")
                lines.append(#"    <failure message="\#(escape(message))"/>"#)
                lines.append("  </testcase>")
            }
        }
        lines.append("</testsuite></testsuites>")
        return lines.joined(separator: "\n") + "\n"
    }
}
