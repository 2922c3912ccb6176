import Continual
import Schema
import Datasets
import Foundation
import Testing
@testable import Experiments

@Suite struct TunerTests {
    /// A tuning request on the tiny experiment with a validation split.
    func request(_ search: TuneSearch, space: [(path: String, space: SearchSpace)] = [("components.ewc.lambda", .logUniform(1e-2, 1e2))],
                 seeds: [Int] = [1, 2], eta: Int? = nil, metric: MetricKey = .acc) -> TuneRequest {
        var base = tinyConfig()
        base.scenario.validation = 0.1
        base.seeds = seeds
        return TuneRequest(base: base, method: "ewc", space: space, search: search, halvingEta: eta, metric: metric)
    }

    /// A toy objective with a known best: validation ACC = 0.9 − 0.1·|log10 λ − log10 best|
    /// (and a small seed effect that moves no ranking), one task, so ACC is that number.
    func toy(best: Double, calls: Box<[ExperimentConfig]>) -> (ExperimentConfig) throws -> [ValidationEvidence] {
        { config in
            calls.value.append(config)
            return config.sweepPoints.flatMap { point in
                config.seeds.map { seed in
                    let lambda = Double(point.first { $0.path == "components.ewc.lambda" }!.value)!
                    let score = 0.9 - 0.1 * abs(log10(lambda) - log10(best)) + 0.001 * Double(seed)
                    return ValidationEvidence(point: Dictionary(uniqueKeysWithValues: point.map { ($0.path, $0.value) }), seed: seed,
                                              stamp: "ewc-s\(seed)-\(lambda)", validation: ["class-il": MetricSet(R: [[score]], b: [0])])
                }
            }
        }
    }

    final class Box<T>: @unchecked Sendable {
        var value: T
        init(_ value: T) { self.value = value }
    }

    /// The tuner's input carries no test results: a `ValidationEvidence` holds the candidate,
    /// seed, stamp and validation metrics, nothing else; made from a record whose test numbers
    /// are changed, it is the same; a record without validation metrics is refused.
    @Test func theTunerCannotReadTestResults() throws {
        let evidence = ValidationEvidence(point: [:], seed: 1, stamp: "s", validation: [:])
        let fields = Mirror(reflecting: evidence).children.map { "\($0.label!): \(type(of: $0.value))" }
        #expect(fields == ["point: Dictionary<String, String>", "seed: Int", "stamp: String", "validation: Dictionary<String, MetricSet>"])
        // `Tuner.rank` and `Tuner.run`'s evaluation see only this type (checked by the compiler:
        // `evaluate` returns [ValidationEvidence]); a record's test numbers do not reach it.
        let out = temporaryFolder("tuner-structural")
        var config = tinyConfig()
        config.seeds = [1]
        config.methods = ["finetune"]
        config.scenario.validation = 0.1
        let record = try #require(try Runner(config: config, outputDirectory: out, environment: [:]).run().aggregate.records.first)
        var tampered = record
        tampered.metrics = ["class-il": MetricSet(R: [[1, 1, 1, 1, 1]] + Array(repeating: [1, 1, 1, 1, 1], count: 4), b: [0, 0, 0, 0, 0])]
        tampered.result.accuracy = tampered.result.accuracy.mapValues { $0.map { $0.map { _ in 1 } } }
        #expect(try ValidationEvidence(record: record, paths: []) == ValidationEvidence(record: tampered, paths: []))
        var plain = record
        plain.validationMetrics = nil
        #expect(throws: ConfigError.self) { try ValidationEvidence(record: plain, paths: []) }
    }

    /// Grid search on the toy objective finds its known best, λ = 1, among 0.01 … 100.
    @Test func gridSearchFindsTheKnownBest() throws {
        let calls = Box<[ExperimentConfig]>([])
        let r = request(.grid(points: 5))
        #expect(r.candidates().map { $0["components.ewc.lambda"]! } == ["0.01", "0.1", "1", "10", "100"])
        let outcome = try Tuner.run(r, evaluate: toy(best: 1, calls: calls))
        #expect(outcome.best.point == ["components.ewc.lambda": "1"])
        #expect(outcome.scores.count == 5 && outcome.best.summary.n == 2)
        // One experiment, every candidate × every seed, the tuned method only, a zipped sweep.
        #expect(calls.value.count == 1 && calls.value[0].methods == ["ewc"] && calls.value[0].sweepZipped == true)
        #expect(calls.value[0].sweepPoints.count == 5)
        // Lower is better for forgetting: the ranking turns around.
        let f = try Tuner.run(request(.grid(points: 5), metric: .forgetting)) { config in
            try toy(best: 1, calls: calls)(config).map { e in
                var e = e
                let acc = e.validation["class-il"]!.acc
                e.validation["class-il"]!.forgetting = acc
                return e
            }
        }
        #expect(f.best.point == ["components.ewc.lambda": "0.01"] || f.best.point == ["components.ewc.lambda": "100"])
    }

    /// Random search draws reproducibly from its own stream and picks the best candidate it
    /// drew; with a budget of 40 over 10⁻²…10², that is within a factor 2 of the known best 3.
    @Test func randomSearchFindsTheBestDrawnCandidate() throws {
        let r = request(.random(budget: 40, seed: 5))
        #expect(r.candidates() == request(.random(budget: 40, seed: 5)).candidates())
        #expect(r.candidates() != request(.random(budget: 40, seed: 6)).candidates())
        let outcome = try Tuner.run(r, evaluate: toy(best: 3, calls: Box([])))
        let drawn = r.candidates().map { Double($0["components.ewc.lambda"]!)! }
        let closest = drawn.min { abs(log10($0) - log10(3)) < abs(log10($1) - log10(3)) }!
        #expect(Double(outcome.best.point["components.ewc.lambda"]!)! == closest)
        #expect(abs(log10(closest) - log10(3)) < log10(2))
        #expect(drawn.allSatisfy { $0 >= 0.01 && $0 <= 100 })
    }

    /// Successive halving over seeds: every candidate on one seed, then the best third on all
    /// three; the best is chosen among those that ran longest.
    @Test func successiveHalvingOverSeeds() throws {
        let calls = Box<[ExperimentConfig]>([])
        let r = request(.grid(points: 6), seeds: [1, 2, 3], eta: 3)
        #expect(r.rungSeeds() == [[1], [1, 2, 3]])
        let outcome = try Tuner.run(r, evaluate: toy(best: 10, calls: calls))
        #expect(calls.value.map(\.seeds) == [[1], [1, 2, 3]])
        #expect(calls.value.map { $0.sweepPoints.count } == [6, 2])
        #expect(outcome.best.rung == 1 && outcome.best.summary.n == 3)
        #expect(outcome.best.point == ["components.ewc.lambda": "15.8"])
        #expect(outcome.rungCells == [6, 6])
    }

    /// Successive halving over tasks: every candidate on the first ⌈T/η⌉ tasks of the scenario
    /// (the same tasks the full run has), the best 1/η on all of them; a task prefix is a real
    /// scenario of the first k tasks.
    @Test func successiveHalvingOverTasks() throws {
        let calls = Box<[ExperimentConfig]>([])
        var r = request(.grid(points: 6), seeds: [1, 2], eta: 2)
        r.halvingOver = .tasks
        #expect(r.rungTasks() == [3, nil] && r.rungSeeds() == [[1, 2], [1, 2]])
        let outcome = try Tuner.run(r, evaluate: toy(best: 10, calls: calls))
        #expect(calls.value.map(\.scenario.taskPrefix) == [3, nil])
        #expect(calls.value.map { $0.sweepPoints.count } == [6, 3])
        #expect(outcome.best.point == ["components.ewc.lambda": "15.8"] && outcome.best.rung == 1)
        var permuted = r
        permuted.base.scenario = ScenarioConfig(kind: .permuted, setting: .domain, tasks: 10)
        permuted.halvingEta = 3
        #expect(permuted.rungTasks() == [4, nil])
        let data = try Dataset.load(repositoryRoot + "/datasets/mnist-mini", dataDirectory: nil, environment: [:], verifyChecksums: false)
        var short = ScenarioConfig(kind: .split, setting: .class, tasks: 5, classOrder: .seeded)
        let full = try Scenario(short, dataset: data, seed: 4)
        short.taskPrefix = 2
        let prefix = try Scenario(short, dataset: data, seed: 4)
        #expect(prefix.tasks.count == 2 && prefix.tasks.map(\.classes) == full.tasks.prefix(2).map(\.classes))
        #expect(prefix.fingerprint != full.fingerprint)
    }

    /// A cell run on a task prefix (a rung of successive halving over tasks) is a whole record
    /// of its k tasks: its k×k matrices verify, and the same run again resumes from it instead
    /// of refusing the file.
    @Test func taskPrefixCellsResume() throws {
        let out = temporaryFolder("tuner-prefix")
        var config = tinyConfig()
        config.seeds = [1]
        config.methods = ["finetune"]
        config.scenario.validation = 0.1
        config.scenario.taskPrefix = 2
        let first = try Runner(config: config, outputDirectory: out, environment: [:]).run()
        let record = try #require(first.aggregate.records.first)
        #expect(first.ran.count == 1 && record.result.accuracy["class-il"]!.count == 2 && record.result.accuracy["class-il"]!.allSatisfy { $0.count == 2 })
        let again = try Runner(config: config, outputDirectory: out, environment: [:]).run()
        #expect(again.ran.isEmpty && again.skipped.count == 1 && again.aggregate.records.map(\.stamp) == first.aggregate.records.map(\.stamp))
        var wrong = record
        wrong.result.accuracy["class-il"]!.append([0.5, 0.5])
        #expect(throws: ResultStoreError.self) { try wrong.verify(against: record.cell, file: "f") }
    }

    /// tuned.yaml: written, read back and applied by `--tuned`.
    @Test func tunedFileRoundTrips() throws {
        let outcome = try Tuner.run(request(.grid(points: 5)), evaluate: toy(best: 10, calls: Box([])))
        let file = TunedFile(entries: [TunedFile.entry(outcome)])
        let url = temporaryFolder("tuned").appendingPathComponent("tuned.yaml")
        try file.yaml.write(to: url, atomically: true, encoding: .utf8)
        let read = try TunedFile.read(url.path)
        #expect(read.entries[0].chosen == ["components.ewc.lambda": "10"])
        #expect(read.entries[0].cells == outcome.stamps)
        #expect(read.entries[0].space["components.ewc.lambda"] == "log-uniform [0.01, 100]")
        let applied = try read.apply(to: tinyConfig(), path: url.path)
        #expect(applied.components.ewc?.lambda == 10)
        #expect(TunedFile.sensitivityCSV(outcome).split(separator: "\n").count == 1 + 5)
    }

    /// A candidate whose configuration does not validate is left out with its reason, not a
    /// stop: nested γ must lie in [γ_min, γ_max] = [0.5, 1].
    @Test func invalidCandidatesAreLeftOut() throws {
        var r = request(.grid(points: 3), space: [("components.nested.gamma", .uniform(0.25, 0.75))])
        r.method = "nested"
        let (valid, rejected) = r.validCandidates()
        #expect(valid == [["components.nested.gamma": "0.5"], ["components.nested.gamma": "0.75"]])
        #expect(rejected.count == 1 && rejected[0].reason.contains("0.25"))
        #expect(SearchSpace.standard["components.nested.gamma"]!.grid(points: 5).allSatisfy { Double($0)! >= 0.5 && Double($0)! <= 1 })
    }

    /// A request without a validation split is refused: the tuner never scores on test data.
    @Test func tuningNeedsAValidationSplit() {
        var r = request(.grid(points: 3))
        r.base.scenario.validation = nil
        #expect(throws: ConfigError.self) { try r.validate() }
    }

    /// An interrupted `bench tune` resumes: the same command runs only the cells left and writes
    /// the same tuned.yaml as an uninterrupted run would (its cells are ordinary cells).
    @Test func anInterruptedTuningResumes() throws {
        let out = temporaryFolder("tune-resume")
        let arguments = ["tune", "--dataset", "datasets/mnist-mini", "--method", "ewc", "--hidden", "16", "--epochs", "1",
                         "--seeds", "2", "--points", "4", "--jobs", "1", "--validation", "0.1", "--out", out.path, "--name", "r"]
        let runs = out.appendingPathComponent("r-tune/ewc/runs")
        let first = try runBench(arguments) {
            ((try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? []).filter { $0.hasSuffix(".json") }.count >= 2
        }
        let done = ((try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? []).filter { $0.hasSuffix(".json") }.count
        #expect(first.status == 130, "\(first.err)")
        #expect(done >= 2 && done < 8)
        let second = try runBench(arguments)
        #expect(second.status == 0, "\(second.err)")
        #expect(second.err.contains("\(done) done before"))
        let tuned = try TunedFile.read(out.appendingPathComponent("r-tune/tuned.yaml").path)
        #expect(tuned.entries[0].cells.count == 8)
        #expect(second.out.contains("cells: 8, CPU time:"))
        // Running it again runs nothing and chooses the same.
        let third = try runBench(arguments)
        #expect(third.err.contains("8 done before") || third.err.contains("all 8"))
        #expect(try TunedFile.read(out.appendingPathComponent("r-tune/tuned.yaml").path) == tuned)
    }

    /// `bench tune --slurm`: writes the rung's plan and Slurm scripts and stops while cells are
    /// missing; once the cells have run (here with `run-cell`, as an array task would), the same
    /// command finishes without running any.
    @Test func tuningOnSlurmRunsItsCellsAsAnArray() throws {
        let out = temporaryFolder("tune-slurm")
        let arguments = ["tune", "--dataset", "datasets/mnist-mini", "--method", "ewc", "--hidden", "16", "--epochs", "1",
                         "--seeds", "1", "--points", "2", "--jobs", "1", "--validation", "0.1", "--out", out.path, "--name", "s", "--slurm"]
        let first = try runBench(arguments)
        #expect(first.status == 0, "\(first.err)")
        #expect(first.out.contains("2 of 2 cells of this rung have no record"))
        let folder = out.appendingPathComponent("s-tune/ewc")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("slurm/cells.sbatch").path))
        for i in 0..<2 {
            let cell = try runBench(["run-cell", "--plan", folder.appendingPathComponent("plan.jsonl").path, "--index", "\(i)"])
            #expect(cell.status == 0, "\(cell.err)")
        }
        let second = try runBench(arguments)
        #expect(second.status == 0, "\(second.err)")
        #expect(second.err.contains("2 done before"))
        #expect(try TunedFile.read(out.appendingPathComponent("s-tune/tuned.yaml").path).entries[0].cells.count == 2)
    }
}
