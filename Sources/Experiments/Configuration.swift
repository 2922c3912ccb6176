import Continual
import Foundation
import NeuralNet

/// The program's version, recorded in every result file.
public enum Turritopsis {
    public static let version = "0.1.0"
}

/// One experiment: a scenario on a dataset, how to train, which methods, which seeds.
///
/// A configuration is a plain Codable value, validated once (`validate()`), and presets are
/// values of it. An ablation is a variation of one value; the CLI only parses and hands over.
public struct ExperimentConfig: Codable, Sendable, Hashable {
    /// The experiment's name: the folder under the output directory.
    public var name: String
    /// A catalog name (`mnist-mini`, `mnist`, …) or a folder holding the four IDX files.
    public var dataset: String
    public var scenario: ScenarioConfig
    public var training: TrainingConfig
    /// Methods to run: `finetune`, `joint`, or a set of components joined by `+` in any order
    /// (`ewc`, `ewc+replay`, `replay+adaptive-lr`), each trained on top of finetuning.
    public var methods: [String]
    /// The hyper-parameters of every component; a method uses those of its own components.
    public var components: ComponentSettings
    public var seeds: [Int]
    /// OpenBLAS threads per process.
    public var threads: Int
    /// An ablation design whose methods are run besides `methods` (`Study.swift`); nil for none.
    public var ablation: AblationDesign?

    public init(name: String, dataset: String, scenario: ScenarioConfig, training: TrainingConfig,
                methods: [String], seeds: [Int], threads: Int = 1,
                components: ComponentSettings = ComponentSettings(enabling: ComponentKey.allCases),
                ablation: AblationDesign? = nil) {
        self.name = name
        self.ablation = ablation
        self.components = components
        self.dataset = dataset
        self.scenario = scenario
        self.training = training
        self.methods = methods
        self.seeds = seeds
        self.threads = threads
    }

    /// The baselines every table carries.
    public static let baselines = ["finetune", "joint"]

    /// Checks every setting that does not need the data; throws a `ConfigError` naming the field.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw ConfigError(message) } }
        try check(!name.isEmpty && !name.contains("/") && name != "." && name != "..", "the experiment name '\(name)' must be a plain folder name")
        try check(scenario.tasks >= 1, "--tasks must be at least 1 (got \(scenario.tasks))")
        try check(training.batchSize >= 1, "--batch-size must be at least 1 (got \(training.batchSize))")
        try check(training.epochs >= 1 || (training.iterations ?? 0) >= 1, "--epochs or --iterations must be at least 1")
        try check(training.iterations.map { $0 >= 1 } ?? true, "--iterations must be at least 1 (got \(training.iterations ?? 0))")
        try check(training.learningRate > 0 && training.learningRate.isFinite, "--lr must be a positive number (got \(training.learningRate))")
        try check(training.hidden.allSatisfy { $0 >= 1 }, "--hidden widths must be positive (got \(training.hidden))")
        try check(training.evalBatchSize >= 1, "the evaluation batch size must be positive")
        try check(training.evalEvery.map { $0 >= 1 } ?? true, "--eval-every must be at least 1 (got \(training.evalEvery ?? 0))")
        try check(training.evalSubsample.map { $0 >= 1 } ?? true, "--eval-subsample must be at least 1 (got \(training.evalSubsample ?? 0))")
        try check(training.gapWindow.map { $0 >= 1 } ?? true, "--gap-window must be at least 1 (got \(training.gapWindow ?? 0))")
        try check(!seeds.isEmpty, "--seeds needs at least one seed")
        try check(Set(seeds).count == seeds.count, "--seeds lists a seed twice: \(seeds)")
        try check(seeds.allSatisfy { $0 >= 0 }, "seeds must be non-negative (got \(seeds))")
        try check(!methods.isEmpty, "--method needs at least one method")
        for m in methods {
            if let reason = try settings(for: m)?.incompatibility(in: scenario.setting) { throw ConfigError("method '\(m)': \(reason)") }
            try validatePNAS(in: try Self.componentKeys(of: m), method: m)
        }
        if let replay = components.replay {
            try check(replay.capacity >= 1, "--replay-capacity must be at least 1 (got \(replay.capacity))")
            try check((replay.batchSize ?? training.batchSize) >= 1 && (replay.batchSize ?? training.batchSize) <= training.batchSize,
                      "--replay-batch-size must be between 1 and --batch-size (\(training.batchSize)); got \(replay.batchSize ?? 0)")
        }
        if let ewc = components.ewc {
            try check(ewc.lambda >= 0 && ewc.lambda.isFinite, "--ewc-lambda must be a non-negative number (got \(ewc.lambda))")
            try check(ewc.gamma > 0 && ewc.gamma <= 1, "--ewc-gamma must be in (0, 1] (got \(ewc.gamma))")
            try check(ewc.fisherSamples.map { $0 >= 1 } ?? true, "--fisher-samples must be at least 1")
        }
        if let nested = components.nested, let problem = nested.problems.first { throw ConfigError(problem) }
        if let lr = components.adaptiveLR { try check(lr.kappa >= 0 && lr.kappa.isFinite, "--lr-decay must be a non-negative number (got \(lr.kappa))") }
        if let memory = components.memory {
            try check(memory.slots >= 1, "--memory-slots must be at least 1 (got \(memory.slots))")
            try check(memory.usageThreshold >= 0 && memory.usageThreshold < 1, "--memory-usage-threshold must be in [0, 1) (got \(memory.usageThreshold))")
            try check(memory.reportSamples >= 0, "the memory's report samples must be non-negative (got \(memory.reportSamples))")
        }
        if let moe = components.moe {
            try check(moe.experts >= 1, "--experts must be at least 1 (got \(moe.experts))")
            if let k = moe.topK { try check(k >= 1 && k <= moe.experts, "--moe-top-k must be between 1 and --experts (\(moe.experts)); got \(k)") }
            if let w = moe.balanceWeight { try check(w >= 0 && w.isFinite, "--moe-balance must be a non-negative number (got \(w))") }
            if let h = moe.hidden { try check(!h.isEmpty && h.allSatisfy { $0 >= 1 }, "--expert-hidden widths must be positive (got \(h))") }
            try check(moe.reportSamples >= 0, "the gate's report samples must be non-negative (got \(moe.reportSamples))")
        }
        for m in methods {
            let keys = try Self.componentKeys(of: m)
            if keys.contains(.moe) {
                try check(!(components.moe?.hidden ?? training.hidden).isEmpty,
                          "method '\(m)': the experts need at least one hidden layer (--hidden or --expert-hidden)")
            } else if keys.contains(.memory) {
                try check(!training.hidden.isEmpty, "method '\(m)': the memory reads the last hidden layer, so --hidden needs at least one width")
            }
        }
        try check(threads >= 1 && threads <= 64, "--threads must be between 1 and 64 (got \(threads))")
        if scenario.kind == .rotated { try check(scenario.maxAngle.isFinite, "the rotation angle must be finite") }
    }
}

extension ExperimentConfig {
    /// Rejects a method with `pnas` in a setting or combination it does not support, and bad
    /// `--pnas-…` values, before anything runs.
    func validatePNAS(in keys: [ComponentKey], method: String) throws {
        guard keys.contains(.pnas) else { return }
        let config = components.pnas ?? PNASConfig()
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw ConfigError(message) } }
        try check(config.slots >= 1 && config.slots <= 16, "--pnas-slots must be between 1 and 16 (got \(config.slots))")
        try check(config.candidates >= 1, "--pnas-candidates must be at least 1 (got \(config.candidates))")
        try check(config.searchSteps >= 1, "--pnas-search-steps must be at least 1 (got \(config.searchSteps))")
        try check(config.searchBatchSize >= 1, "--pnas-search-batch must be at least 1 (got \(config.searchBatchSize))")
        try check(config.validationSamples >= 1, "--pnas-validation must be at least 1 (got \(config.validationSamples))")
        try check(config.beta >= 0 && config.beta.isFinite, "--pnas-beta must be a non-negative number (got \(config.beta))")
        try check(config.baselineDecay >= 0 && config.baselineDecay < 1, "--pnas-baseline-decay must be in [0, 1) (got \(config.baselineDecay))")
        try check(config.controllerLearningRate > 0 && config.controllerLearningRate.isFinite,
                  "--pnas-controller-lr must be a positive number (got \(config.controllerLearningRate))")
        try check(config.controllerHidden >= 1, "--pnas-controller-hidden must be at least 1 (got \(config.controllerHidden))")
        try check(config.widths.allSatisfy { $0 >= 1 }, "--pnas-widths must be positive (got \(config.widths))")
        try check(!training.hidden.isEmpty || !config.widths.isEmpty, "pnas needs a width: give --hidden or --pnas-widths")
    }

    /// The components of a method name: none for `finetune` and `joint`, else the `+`-separated keys.
    public static func componentKeys(of method: String) throws -> [ComponentKey] {
        if baselines.contains(method) { return [] }
        let parts = method.split(separator: "+").map(String.init)
        var keys: [ComponentKey] = []
        for part in parts {
            if parts.count > 1, baselines.contains(part) {
                throw ConfigError("method '\(method)': \(part) is a method of its own and cannot be joined with +; only components can (\(ComponentKey.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let key = ComponentKey(rawValue: part) else {
                let known = (baselines + ComponentKey.allCases.map(\.rawValue)).joined(separator: ", ")
                throw ConfigError("unknown method '\(method)': '\(part)' is not one of \(known) (combine components with +)")
            }
            guard !keys.contains(key) else { throw ConfigError("method '\(method)' names \(part) twice") }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw ConfigError("empty method name") }
        return keys
    }

    /// The component settings a method runs with: its own components enabled, the others' configs
    /// dropped (so changing λ does not change the stamp of a run without EWC). Nil for baselines.
    public func settings(for method: String) throws -> ComponentSettings? {
        let keys = try Self.componentKeys(of: method)
        guard !keys.isEmpty else { return nil }
        let ordered = ComponentKey.allCases.filter(keys.contains)
        return ComponentSettings(
            ewc: ordered.contains(.ewc) ? components.ewc ?? EWCConfig() : nil,
            replay: ordered.contains(.replay) ? components.replay ?? ReplayConfig() : nil,
            adaptiveLR: ordered.contains(.adaptiveLR) ? components.adaptiveLR ?? AdaptiveLRConfig() : nil,
            memory: ordered.contains(.memory) ? components.memory ?? MemoryConfig() : nil,
            moe: ordered.contains(.moe) ? components.moe ?? MoEConfig() : nil,
            pnas: ordered.contains(.pnas) ? components.pnas ?? PNASConfig() : nil,
            nested: ordered.contains(.nested) ? components.nested ?? NestedConfig() : nil,
            enabled: ordered)
    }
}

/// An invalid configuration value; the message names the option and the value.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Named starting points for experiments.
public enum Preset: String, CaseIterable, Sendable {
    /// The default: split mnist-mini (committed), class-IL, 5 tasks, 3 seeds; about a minute.
    case quick
    /// Split MNIST as van de Ven & Tolias 2019: 784-400-400-10, Adam (lr 0.001), batch 128,
    /// 2000 iterations per task, 5 tasks, class order drawn per seed, 20 seeds.
    case paper
    /// Permuted MNIST as van de Ven & Tolias 2019: 784-1000-1000-10, Adam (lr 0.0001), batch 128,
    /// 5000 iterations per task, 10 tasks, 5 seeds (the images are not padded to 32×32).
    case paperPermuted = "paper-permuted"
    /// Split Fashion-MNIST with the protocol of `paper` (784-400-400-10, Adam lr 0.001, batch 128,
    /// 2000 iterations per task, 5 tasks, class order drawn per seed), class-IL (also scored as
    /// task-IL), finetune, joint, ewc and replay, seeds 1–3. EWC λ = 1e8 is van de Ven & Tolias
    /// 2019's split-MNIST class-IL value, taken over, not tuned on Fashion-MNIST; replay keeps
    /// 1000 samples (100 per class). Fashion-MNIST installs from Debian (`dataset-fashion-mnist`).
    case paperFashion = "paper-fashion"
    /// What `bench check` runs: split mnist-mini, class-IL (evaluated as task-IL too), 5 tasks,
    /// 784-100-10, Adam, 2 epochs, seeds 1–5, one BLAS thread; finetune, joint, every component
    /// alone and all of them together. Deterministic; well under a minute in release.
    case ci

    public var config: ExperimentConfig {
        switch self {
        case .quick:
            return ExperimentConfig(
                name: "quick", dataset: "mnist-mini",
                scenario: ScenarioConfig(kind: .split, setting: .class, tasks: 5, classOrder: .fixed),
                training: TrainingConfig(hidden: [400, 400], optimizer: .adam, learningRate: 0.001, batchSize: 128, epochs: 10),
                methods: ["finetune", "joint"], seeds: [1, 2, 3])
        case .paper:
            return ExperimentConfig(
                name: "paper", dataset: "mnist",
                scenario: ScenarioConfig(kind: .split, setting: .class, tasks: 5, classOrder: .seeded),
                training: TrainingConfig(hidden: [400, 400], optimizer: .adam, learningRate: 0.001, batchSize: 128, iterations: 2000),
                methods: ["finetune", "joint"], seeds: Array(1...20))
        case .paperPermuted:
            return ExperimentConfig(
                name: "paper-permuted", dataset: "mnist",
                scenario: ScenarioConfig(kind: .permuted, setting: .domain, tasks: 10),
                training: TrainingConfig(hidden: [1000, 1000], optimizer: .adam, learningRate: 0.0001, batchSize: 128, iterations: 5000),
                methods: ["finetune", "joint"], seeds: Array(1...5))
        case .paperFashion:
            var config = Preset.paper.config
            config.name = "paper-fashion"
            config.dataset = "fashion-mnist"
            config.methods = ["finetune", "joint", "ewc", "replay"]
            config.seeds = [1, 2, 3]
            config.components.ewc = EWCConfig(lambda: 1e8)
            return config
        case .ci:
            var config = ExperimentConfig(
                name: "ci", dataset: "mnist-mini",
                scenario: ScenarioConfig(kind: .split, setting: .class, tasks: 5, classOrder: .fixed),
                training: TrainingConfig(hidden: [100], optimizer: .adam, learningRate: 0.001, batchSize: 64, epochs: 2),
                methods: ["finetune", "joint"] + ComponentKey.allCases.map(\.rawValue), seeds: Array(1...5))
            // A Fisher from 200 samples (other networks than the MLP take one backward pass per sample).
            config.components.ewc = EWCConfig(fisherSamples: 200)
            // Class-IL has no task id: progressive columns need their gate; a small search budget.
            config.components.pnas = PNASConfig(candidates: 2, searchSteps: 25, validationSamples: 200, gate: true)
            // The full model, as the ablation designs choose it: the largest set that validates.
            let full = config.fullModel().keys
            if full.count > 1 { config.methods.append(ExperimentConfig.methodName(full)) }
            return config
        }
    }
}
