@testable import Continual
import Datasets
import Foundation
import NeuralNet
import Testing
@testable import Experiments

/// The component sets the compose tests try, bounded so they do not double with every component
/// added: every subset of the registry's first eight components (`ewc` … `l2`, exhaustively, 2^8),
/// and every set of one or two components that holds a later one (each later component alone and
/// beside every other component).
private func composeTestSets() -> [[ComponentKey]] {
    let all = ComponentKey.allCases, first = Array(all.prefix(8)), later = Array(all.dropFirst(8))
    var sets = (0..<(1 << first.count)).map { mask in first.indices.filter { mask & (1 << $0) != 0 }.map { first[$0] } }
    for (i, key) in later.enumerated() {
        sets.append([key])
        for other in first + later.prefix(i) { sets.append(ComponentRegistry.standard.ordered([other, key])) }
    }
    return sets
}

@Suite struct StudyPlanTests {
    /// The expectations follow the full model that validation gives for the test configuration,
    /// so they hold whichever components exist and whichever of them a scenario rejects.
    @Test func leaveOneOutOfOneComponent() throws {
        var config = tinyConfig()
        let (full, notes) = config.fullModel()
        try #require(full.contains(.ewc))
        config.ablation = .leaveOneOut([.ewc])
        let plan = try config.validatedPlan()
        let fullName = ExperimentConfig.methodName(full)
        let without = ExperimentConfig.methodName(full.filter { $0 != .ewc })
        #expect(plan.full == full && plan.notes == notes)
        #expect(notes.count == ComponentRegistry.standard.modelKeys.count - full.count)
        #expect(plan.methods == [fullName, without, "finetune", "joint"])
        #expect(plan.comparisons == [Comparison(kind: .leaveOneOut, component: .ewc, with: fullName, without: without)])
    }

    @Test func leaveOneOutOfEveryComponentAddOneAndFactorial() throws {
        var config = tinyConfig()
        let full = config.fullModel().keys
        let k = full.count
        config.ablation = .leaveOneOut(nil)
        let loo = try config.plan()
        #expect(loo.methods.count == 1 + k + 2 && loo.comparisons.map(\.component) == full)
        config.ablation = .addOne
        let addOne = try config.plan()
        let valid = ComponentRegistry.standard.modelKeys.filter { config.rejection(of: $0.rawValue) == nil }
        #expect(addOne.methods == valid.map(\.rawValue) + ["finetune", "joint"])
        #expect(addOne.comparisons.allSatisfy { $0.without == "finetune" && $0.kind == .addOne })
        config.ablation = .factorial
        let factorial = try config.plan()
        #expect(factorial.methods.count == (1 << k) + 1)  // every subset (finetune is the empty one) and joint
        #expect(factorial.methods.first == ExperimentConfig.methodName(full) && factorial.methods.suffix(2) == ["finetune", "joint"])
        #expect(Set(factorial.methods).count == factorial.methods.count)
        #expect(factorial.comparisons.count == k)
    }

    /// When validation rejects a combination, the full model is the largest valid set, the
    /// left-out component is named with the validation message, and impossible ablations are noted.
    @Test func validationDecidesTheFullModel() throws {
        var config = tinyConfig()
        let base = config.fullModel().keys
        guard base.count >= 2 else { return }
        // The last two: leaving the last out lets no declared conflict (derpp with replay) admit another.
        let a = base[base.count - 2], b = base[base.count - 1]
        // A rule as a component might state it: a and b may not be combined.
        let rule: (String) -> String? = { method in
            let keys = (try? ExperimentConfig.componentKeys(of: method)) ?? []
            return keys.contains(a) && keys.contains(b) ? "\(a.rawValue) and \(b.rawValue) cannot be combined in this scenario" : nil
        }
        config.ablation = .leaveOneOut(nil)
        let plan = try config.plan(rejecting: rule)
        #expect(plan.full == base.filter { $0 != b })
        #expect(plan.notes.contains("\(b.rawValue) is left out of the full model: \(a.rawValue) and \(b.rawValue) cannot be combined in this scenario"))
        config.ablation = .leaveOneOut([b])
        #expect(throws: ConfigError.self) { try config.plan(rejecting: rule) }
        config.ablation = .factorial
        let factorial = try config.plan(rejecting: rule)
        #expect(factorial.methods.count == (1 << (base.count - 1)) + 1)
    }

    /// The real rule of progressive columns: without their gate they need a task id, so in class-IL
    /// `pnas` alone is not run and the plan says why, in validation's words; with the gate it runs.
    /// And every component left out of the full model is noted with the message that rejected it.
    @Test func validationMessagesReachThePlan() throws {
        var config = tinyConfig()
        config.components.pnas?.gate = false
        config.ablation = .addOne
        let reason = try #require(config.rejection(of: "pnas"))
        let plan = try config.plan()
        #expect(!plan.methods.contains("pnas"))
        #expect(plan.notes.contains("pnas alone is not run: \(reason)"))
        config.components.pnas?.gate = true
        #expect(try config.plan().methods.contains("pnas"))

        // Each component left out is named with the message that rejected it beside the
        // components taken before it (the full model is built in hook order).
        let (full, notes) = config.fullModel()
        let all = ComponentRegistry.standard.modelKeys
        for key in all where !full.contains(key) {
            let before = full.filter { all.firstIndex(of: $0)! < all.firstIndex(of: key)! }
            let message = try #require(config.rejection(of: ExperimentConfig.methodName(before + [key])))
            #expect(notes.contains("\(key.rawValue) is left out of the full model: \(message)"))
        }
    }

    /// The full model is the immortal model's components; a method it is compared with (si, l2,
    /// agem, …) joins it only when an ablation names it.
    @Test func theFullModelIsTheModelsComponentsUnlessAMethodIsNamed() throws {
        var config = tinyConfig()
        let model = Set(ComponentRegistry.standard.modelKeys)
        #expect(model == [.ewc, .replay, .adaptiveLR, .memory, .moe, .pnas, .nested])
        config.ablation = .leaveOneOut(nil)
        let plan = try config.plan()
        #expect(!plan.full.isEmpty && Set(plan.full).isSubset(of: model))
        config.ablation = .leaveOneOut([.ewc, .si])
        let named = try config.plan()
        #expect(named.full.contains(.si) && Set(named.full).subtracting([.si]).isSubset(of: model))
        #expect(named.comparisons.map(\.component) == [.ewc, .si])
        config.ablation = .addOne
        #expect(try config.plan().comparisons.allSatisfy { model.contains($0.component) })
    }

    @Test func designArguments() throws {
        #expect(try AblationDesign(argument: "all") == .leaveOneOut(nil))
        #expect(try AblationDesign(argument: "ewc, replay") == .leaveOneOut([.ewc, .replay]))
        #expect(try AblationDesign(argument: "factorial") == .factorial)
        #expect(throws: ConfigError.self) { try AblationDesign(argument: "ewc,magic") }
        for design in [AblationDesign.leaveOneOut(nil), .leaveOneOut([.replay]), .addOne, .factorial] {
            #expect(try AblationDesign(argument: design.argument) == design)
        }
    }
}

@Suite struct CellStampTests {
    /// A configuration in which every optional setting is given, so that every setting appears.
    func fullConfig() -> ExperimentConfig {
        var c = tinyConfig()
        c.training.iterations = 7
        c.components.ewc?.fisherSamples = 50
        c.components.replay?.batchSize = 16
        return c
    }

    func stamps(_ c: ExperimentConfig) throws -> [String] {
        try c.cellJobs(methods: [ExperimentConfig.methodName(ComponentKey.allCases), "finetune", "joint"],
                       datasetSHA256: "abc", results: URL(fileURLWithPath: "/tmp/x"), dataDirectory: nil).map(\.stamp)
    }

    /// Settings that by design do not reach a cell: the folder name, the dataset's name (its
    /// SHA-256 does), the BLAS threads, the method and seed lists (each cell has its own), the
    /// ablation design (it only chooses methods) and the experiment-wide `enabled` list (a method
    /// names its own components).
    static let notInCells: Set<String> = ["name", "dataset", "threads", "methods", "seeds", "ablation", "components.enabled"]

    /// Other values to try for a string setting (an enum's raw values).
    static let alternatives = ["split", "permuted", "rotated", "task-il", "domain-il", "class-il", "fixed", "seeded", "sgd", "adam",
                               "separate", "online", "exact", "sampled", "empirical", "batched", "reservoir", "ring", "class-balanced",
                               "tasks", "average"]

    /// Changes every leaf of the configuration's JSON, one at a time, and checks that the stamp of
    /// every cell that uses it changes: any setting added later is covered without editing the test.
    @Test func everySettingReachesTheStamp() throws {
        let base = fullConfig()
        let baseStamps = try stamps(base)
        let tree = try JSONSerialization.jsonObject(with: JSONEncoder().encode(base)) as! [String: Any]
        var changed = 0
        var untried: [String] = [], changedNames: [String] = []

        func leaves(_ value: Any, _ path: [String]) -> [[String]] {
            if let d = value as? [String: Any] { return d.keys.sorted().flatMap { leaves(d[$0]!, path + [$0]) } }
            if let l = value as? [Any] { return l.indices.flatMap { leaves(l[$0], path + ["\($0)"]) } }
            return [path]
        }
        func setting(_ tree: Any, _ path: ArraySlice<String>, to value: Any) -> Any {
            guard let key = path.first else { return value }
            if var d = tree as? [String: Any] { d[key] = setting(d[key]!, path.dropFirst(), to: value); return d }
            var l = tree as! [Any]
            l[Int(key)!] = setting(l[Int(key)!], path.dropFirst(), to: value)
            return l
        }
        func value(_ tree: Any, _ path: [String]) -> Any {
            path.reduce(tree) { t, k in (t as? [String: Any])?[k] ?? (t as! [Any])[Int(k)!] }
        }
        for path in leaves(tree, []) {
            let name = path.filter { Int($0) == nil }.joined(separator: ".")
            if Self.notInCells.contains(where: { name == $0 || name.hasPrefix($0 + ".") }) { continue }
            let old = value(tree, path)
            var candidates: [Any] = []
            if let s = old as? String {
                candidates = [s + "x"] + Self.alternatives.filter { $0 != s }
            } else if let n = old as? NSNumber {
                if let b = old as? Bool { candidates.append(!b) }
                candidates += [n.intValue + 1, n.doubleValue * 1.5 + 0.01]
            }
            var tried = false
            for candidate in candidates {
                let edited = setting(tree, path[...], to: candidate)
                guard let config = try? JSONDecoder().decode(ExperimentConfig.self, from: JSONSerialization.data(withJSONObject: edited)) else { continue }
                tried = true
                let new = try stamps(config)
                // Cells whose method uses the setting change; for a component's setting, only the
                // full model's cells use it.
                let full = ExperimentConfig.methodName(ComponentKey.allCases)
                for (i, stamp) in baseStamps.enumerated() {
                    if !name.hasPrefix("components.") || stamp.hasPrefix(full + "-") {
                        #expect(new[i] != stamp, "changing \(name) did not change \(stamp)")
                    } else {
                        #expect(new[i] == stamp, "changing \(name) changed \(stamp)")
                    }
                }
                changed += 1
                changedNames.append(name)
                break
            }
            if !tried { untried.append(name) }
        }
        // A string the test has no other value for (an enum it does not know) is still covered if a
        // sibling setting of the same object reached the stamp: cells copy these objects whole.
        let uncovered = untried.filter { name in
            let parent = name.split(separator: ".").dropLast().joined(separator: ".")
            return !changedNames.contains { $0.split(separator: ".").dropLast().joined(separator: ".") == parent }
        }
        #expect(uncovered.isEmpty, "settings the test could not change: \(uncovered)")
        #expect(changed >= 15)
        // The same configuration always gives the same stamps.
        #expect(try stamps(fullConfig()) == baseStamps)
    }
}

@Suite struct BootstrapCoverageTests {
    /// For differences drawn from N(0.3, 0.2²), n = 20 seeds, the 95% percentile-bootstrap CI
    /// should cover 0.3 in about 95% of repetitions (a little less: the percentile interval is
    /// slightly narrow for small n). 300 repetitions: a coverage below 88% would be 4 standard
    /// errors (√(0.95·0.05/300) ≈ 1.26%) below 93%.
    @Test func percentileIntervalCoversTheMeanAtAboutItsLevel() {
        var generator = RandomStream(seed: 5, purpose: "coverage")
        var covered = 0
        let repetitions = 300
        for r in 0..<repetitions {
            let d = (0..<20).map { _ in 0.3 + 0.2 * generator.normal() }
            let boot = PairedBootstrap(d, [Double](repeating: 0, count: 20), resamples: 2000, seed: UInt64(r))
            if let lo = boot.ciLow, let hi = boot.ciHigh, lo <= 0.3, 0.3 <= hi { covered += 1 }
        }
        let coverage = Double(covered) / Double(repetitions)
        #expect(coverage > 0.88 && coverage < 0.99, "coverage \(coverage)")
    }
}

@Suite struct AblationAnalysisTests {
    /// Two seeds, hand-made records: full has ACC 0.8 and 0.6, without-ewc 0.5 and 0.5, so the
    /// deltas are 0.3 and 0.1, mean 0.2, s_d = √((0.1² + 0.1²)/1) = 0.141421, s_d/√2 = 0.1, and the
    /// paired t-interval with 1 degree of freedom is 0.2 ± 12.706205 · 0.1 = [−1.070620, 1.470620]
    /// (the percentile bootstrap would have claimed [0.1, 0.3]).
    @Test func deltasArePairedBySeed() throws {
        func record(_ method: String, _ seed: Int, _ acc: Double) -> RunRecord {
            let R = [[acc, 0], [acc, acc]]
            let result = RunResult(accuracy: ["class-il": R], initial: ["class-il": [0.1, 0.1]], taskLoss: [1, 1], trainSeconds: 1,
                                   evalSeconds: 1, trainedSamples: 1, parameterCount: 1, components: [:])
            let cell = Cell(datasetSHA256: "x", scenario: ScenarioConfig(kind: .split, setting: .class, tasks: 2),
                            training: TrainingConfig(), method: method, seed: seed)
            return RunRecord(stamp: cell.stamp, experiment: "e", version: "v", method: method, seed: seed,
                             dataset: DatasetIdentity(name: "d", sha256: "x"), scenarioFingerprint: "f", evalSettings: ["class-il"],
                             cell: cell, result: result, metrics: Runner.metrics(result), blasThreads: 1, blasCore: "c")
        }
        let plan = StudyPlan(methods: ["ewc+replay", "replay"], full: [.ewc, .replay],
                             comparisons: [Comparison(kind: .leaveOneOut, component: .ewc, with: "ewc+replay", without: "replay")],
                             factorialSets: [], notes: [])
        let records = [record("ewc+replay", 1, 0.8), record("ewc+replay", 2, 0.6), record("replay", 2, 0.5), record("replay", 1, 0.5)]
        let analysis = AblationAnalysis(plan: plan, records: records)
        let acc = try #require(analysis.leaveOneOut.first { $0.metric == "acc" })
        #expect(abs(acc.delta.meanDifference - 0.2) < 1e-12 && acc.delta.n == 2)
        let low = try #require(acc.delta.ciLow), high = try #require(acc.delta.ciHigh)
        #expect(abs(low + 1.0706204736) < 1e-8 && abs(high - 1.4706204736) < 1e-8)
        #expect(acc.delta.method == .pairedT)
        let csv = AblationAnalysis.csv(analysis.leaveOneOut).split(separator: "\n")
        #expect(csv[0] == "component,eval,metric,delta,ci_low,ci_high,n,with,without,interval")
        #expect(csv.contains("ewc,class-il,acc,0.200000,-1.070620,1.470620,2,ewc+replay,replay,paired-t"))
        let markdown = analysis.markdown(experiment: "e")
        #expect(markdown.contains("| ewc | ewc+replay vs replay | +20.00 [-107.06, +147.06] |"))
        #expect(markdown.contains("paired over 2 seeds, paired t (n − 1 df) 95% CI"))
    }
}

@Suite struct ComposeTests {
    /// Every component set of `composeTestSets()` either trains (a short run on two split mnist-mini tasks,
    /// finite metrics, the components it names report) or is rejected by validation with a
    /// message that names the problem.
    @Test(arguments: [Setting.class, .task])
    func everySubsetOfTheComponentsComposes(setting: Setting) throws {
        var config = tinyConfig()
        config.scenario.tasks = 2
        config.scenario.setting = setting
        config.training.hidden = [8]
        config.training.iterations = 3
        config.seeds = [1]
        config.components.ewc?.fisherSamples = 20
        config.components.insert(AGEMConfig(capacity: 40, referenceBatchSize: 16), registry: .standard)
        config.components.insert(GEMConfig(capacity: 40), registry: .standard)
        config.components.insert(GDumbConfig(capacity: 30, epochs: 1), registry: .standard)
        config.components.insert(ICaRLConfig(capacity: 40, batchSize: 8), registry: .standard)
        let dataset = try Dataset.load(config.dataset, dataDirectory: nil, environment: [:], verifyChecksums: true)
        let scenario = try Scenario(config.scenario, dataset: dataset, seed: 1)
        var trained = 0
        for set in composeTestSets() {
            let method = ExperimentConfig.methodName(set)
            if let reason = config.rejection(of: method) {
                #expect(!reason.isEmpty, "\(method) is rejected without a message")
                continue
            }
            let job = try config.cellJobs(methods: [method], datasetSHA256: dataset.sha256, results: temporaryFolder("compose"),
                                          dataDirectory: nil)[0]
            let record = job.run(dataset: dataset, scenario: scenario)
            for (_, metrics) in record.metrics {
                #expect(metrics.acc.isFinite && metrics.acc >= 0 && metrics.acc <= 1, "\(method)")
            }
            let finite = record.result.taskLoss.allSatisfy { $0.isFinite }
            #expect(finite, "\(method): loss \(record.result.taskLoss)")
            #expect(Set(set.map(\.rawValue)).isSubset(of: Set(record.result.components.keys)), "\(method)")
            trained += 1
        }
        #expect(trained >= 1)
    }
}

@Suite struct ProgressDisplayTests {
    final class Sink: @unchecked Sendable {
        var text = ""
        let lock = NSLock()
        func write(_ s: String) { lock.withLock { text += s } }
    }

    @Test func plainLinesOffATerminalAndABarOnOne() throws {
        let outcome = try Runner(config: { var c = tinyConfig(); c.seeds = [1]; c.methods = ["finetune"]; return c }(),
                                 outputDirectory: temporaryFolder("display"), environment: [:]).run()
        let record = outcome.aggregate.records[0]
        let p = TrainingProgress(task: 1, tasks: 5, step: 10, steps: 20, samplesPerSecond: 1234)
        for terminal in [false, true] {
            let sink = Sink()
            let display = ProgressDisplay(terminal: terminal) { sink.write($0) }
            display.handle(.begin(total: 2, done: 1, workers: 1))
            display.handle(.started(stamp: record.stamp))
            display.handle(.progress(stamp: record.stamp, p))
            display.handle(.finished(record, seconds: 1))
            display.finish()
            if terminal {
                #expect(sink.text.contains("\r\u{1B}[K[##########..........] 1/2 cells · \(record.stamp) task 2/5 · 1234 samples/s"))
                #expect(sink.text.contains("2/2 cells"))
            } else {
                #expect(!sink.text.contains("\r"))
                #expect(sink.text.split(separator: "\n").count == 2)
                #expect(sink.text.contains("[2/2] \(record.stamp): ACC "))
            }
        }
        #expect(TrainingProgress(line: p.line).map { [$0.task, $0.tasks, $0.step, $0.steps] } == [1, 5, 10, 20])
        #expect(ProgressDisplay.duration(3725) == "1h 02m" && ProgressDisplay.duration(65) == "1m 05s")
    }
}
