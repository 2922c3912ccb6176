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
    /// Settings swept over lists of values (`Sweep.swift`): every method runs at every point of
    /// their product. Nil (and absent from the JSON, so configuration hashes stay) for none.
    public var sweep: [SweepAxis]?
    /// True: the sweep's points are its axes zipped (point i takes every axis's i-th value, all
    /// axes equally long), a list of points rather than a grid — what random search runs. Nil
    /// (absent from the JSON) or false: the product.
    public var sweepZipped: Bool?
    /// The components this experiment may name (not written: a program knows its own).
    public var registry: ComponentRegistry = .standard

    enum CodingKeys: String, CodingKey {
        case name, dataset, scenario, training, methods, components, seeds, threads, ablation, sweep, sweepZipped
    }

    public init(name: String, dataset: String, scenario: ScenarioConfig, training: TrainingConfig,
                methods: [String], seeds: [Int], threads: Int = 1,
                components: ComponentSettings = ComponentRegistry.standard.settings(enabling: ComponentRegistry.standard.keys),
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

    /// Checks every setting that does not need the data; throws a `ConfigError` whose message
    /// names the key path of the setting (`training.batchSize`, `components.ewc.lambda`), never a
    /// command-line flag (the CLI translates key paths to flags when it prints them).
    public func validate() throws {
        func check(_ ok: Bool, _ path: String, _ message: String) throws { if !ok { throw ConfigError(at: path, message) } }
        try check(!name.isEmpty && !name.contains("/") && name != "." && name != "..", "name", "must be a plain folder name (got '\(name)')")
        try check(scenario.tasks >= 1, "scenario.tasks", "must be at least 1 (got \(scenario.tasks))")
        try check(scenario.taskPrefix.map { $0 >= 1 && $0 <= scenario.tasks } ?? true, "scenario.taskPrefix", "must be between 1 and scenario.tasks (got \(scenario.taskPrefix ?? 0))")
        try check(scenario.validation.map { $0 > 0 && $0 < 1 } ?? true, "scenario.validation", "must be a fraction in (0, 1) (got \(scenario.validation ?? 0))")
        try check(training.batchSize >= 1, "training.batchSize", "must be at least 1 (got \(training.batchSize))")
        try check(training.epochs >= 1 || (training.iterations ?? 0) >= 1, "training.epochs", "or training.iterations must be at least 1")
        try check(training.iterations.map { $0 >= 1 } ?? true, "training.iterations", "must be at least 1 (got \(training.iterations ?? 0))")
        try check(training.learningRate > 0 && training.learningRate.isFinite, "training.learningRate", "must be a positive number (got \(training.learningRate))")
        try check(training.hidden.allSatisfy { $0 >= 1 }, "training.hidden", "widths must be positive (got \(training.hidden))")
        try check(training.evalBatchSize >= 1, "training.evalBatchSize", "must be positive")
        try check(training.evalEvery.map { $0 >= 1 } ?? true, "training.evalEvery", "must be at least 1 (got \(training.evalEvery ?? 0))")
        try check(training.evalSubsample.map { $0 >= 1 } ?? true, "training.evalSubsample", "must be at least 1 (got \(training.evalSubsample ?? 0))")
        try check(training.gapWindow.map { $0 >= 1 } ?? true, "training.gapWindow", "must be at least 1 (got \(training.gapWindow ?? 0))")
        try check(!seeds.isEmpty, "seeds", "needs at least one seed")
        try check(Set(seeds).count == seeds.count, "seeds", "lists a seed twice: \(seeds)")
        try check(seeds.allSatisfy { $0 >= 0 }, "seeds", "must be non-negative (got \(seeds))")
        try check(!methods.isEmpty, "methods", "needs at least one method")
        // Single options of every configured component, from their declarations.
        for config in components.configs {
            if let problem = config.rangeProblems().first { throw ConfigError(problem) }
        }
        // Each method's components: conflicts and settings (typed declarations), then their own rules.
        for m in methods {
            guard let settings = try settings(for: m) else { continue }
            if let reason = settings.incompatibility(in: scenario.setting, training: training) { throw ConfigError("method '\(m)': \(reason)") }
            let keys = Set(settings.keys)
            for config in settings.configs {
                let key = type(of: config).key
                let environment = ComponentEnvironment(training: training, setting: scenario.setting, others: keys.subtracting([key]))
                if let problem = config.allProblems(in: environment).first { throw ConfigError("method '\(m)': \(problem)") }
            }
        }
        try check(threads >= 1 && threads <= 64, "threads", "must be between 1 and 64 (got \(threads))")
        if scenario.kind == .rotated { try check(scenario.maxAngle.isFinite, "scenario.maxAngle", "must be finite") }
        try validateSweep()
    }
}

extension ExperimentConfig {
    /// The components of a method name: none for `finetune` and `joint`, else the `+`-separated
    /// keys, each known to `registry`.
    public static func componentKeys(of method: String, registry: ComponentRegistry = .standard) throws -> [ComponentKey] {
        if baselines.contains(method) { return [] }
        let parts = method.split(separator: "+").map(String.init)
        var keys: [ComponentKey] = []
        for part in parts {
            if parts.count > 1, baselines.contains(part) {
                throw ConfigError("method '\(method)': \(part) is a method of its own and cannot be joined with +; only components can (\(registry.keys.map(\.rawValue).joined(separator: ", ")))")
            }
            let key = ComponentKey(part)
            guard registry.type(of: key) != nil else {
                let known = (baselines + registry.keys.map(\.rawValue)).joined(separator: ", ")
                throw ConfigError("unknown method '\(method)': '\(part)' is not one of \(known) (combine components with +)")
            }
            guard !keys.contains(key) else { throw ConfigError("method '\(method)' names \(part) twice") }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw ConfigError("empty method name") }
        return keys
    }

    /// The component settings a method runs with: its own components enabled (with this
    /// experiment's configs, or their defaults), the others dropped (so changing λ does not
    /// change the stamp of a run without EWC). Nil for baselines.
    public func settings(for method: String) throws -> ComponentSettings? {
        let keys = try Self.componentKeys(of: method, registry: registry)
        guard !keys.isEmpty else { return nil }
        var settings = ComponentSettings()
        for key in registry.ordered(keys) {
            settings.insert(components.config(key) ?? registry.type(of: key)!.defaults, registry: registry)
        }
        return settings
    }
}

/// An invalid configuration value; the message names the setting by its key path
/// (`components.ewc.lambda must be at least 0 (got -1)`), and the value.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// The key path the error is about, when it is one setting (`seeds`, `training.batchSize`).
    public let keyPath: String?
    /// The message; with `keyPath`, what follows it.
    public let message: String
    public var description: String { keyPath.map { "\($0) \(message)" } ?? message }
    public init(_ description: String) {
        keyPath = nil
        message = description
    }
    public init(at keyPath: String, _ message: String) {
        self.keyPath = keyPath
        self.message = message
    }
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

    /// The components `ci` runs, alone and together: those its baseline was recorded with. A new
    /// component joins the list in a commit of its own that records a new baseline
    /// (`bench check --update`), so adding a component never moves the regression check.
    public static let ciComponents: [ComponentKey] = [.ewc, .replay, .adaptiveLR, .memory, .moe, .pnas, .nested]

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
                methods: ["finetune", "joint"] + Self.ciComponents.map(\.rawValue), seeds: Array(1...5))
            // A Fisher from 200 samples (other networks than the MLP take one backward pass per sample).
            config.components.ewc = EWCConfig(fisherSamples: 200)
            // Class-IL has no task id: progressive columns need their gate; a small search budget.
            config.components.pnas = PNASConfig(candidates: 2, searchSteps: 25, validationSamples: 200, gate: true)
            // The full model, as the ablation designs choose it: the largest set that validates.
            let full = config.fullModel(among: Self.ciComponents).keys
            if full.count > 1 { config.methods.append(ExperimentConfig.methodName(full)) }
            return config
        }
    }
}
