import ArgumentParser
import Continual
import Experiments
import Foundation
import NeuralNet

/// The core options of `run`, one group per concern. Each group applies the options it holds to
/// the configuration and names the key path each of its flags sets; `Run` only composes them.
/// (The component options are not declared here: they come from each component's declaration,
/// see `ComponentArguments`.)
protocol ConfigOptionGroup: ParsableArguments {
    /// Applies the options given to `config`.
    func apply(to config: inout ExperimentConfig)
    /// The key path each flag of this group sets, its flag, and whether it was given.
    var keyPaths: [(path: String, flag: String, given: Bool)] { get }
}

/// What the experiment is: where it starts from, its name, its seeds and its methods.
struct ExperimentOptions: ConfigOptionGroup {
    @Option(help: "Starting configuration: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")) (default quick, or the file's preset).")
    var preset: Preset?
    @Option(help: "Experiment name: the folder under --out (default: the preset's name).")
    var name: String?
    @Option(help: "Seeds: a count (3 → 1,2,3), a range (4..8) or a list (1,5,9).")
    var seeds: SeedList?
    @Option(parsing: .upToNextOption, help: "Methods to run: finetune, joint, or components joined by + (\(ComponentRegistry.standard.keys.map(\.rawValue).joined(separator: ", ")), e.g. memory+moe+replay); several allowed.")
    var method: [String] = []
    @Option(help: "Add a method made of these components (comma-separated: \(ComponentRegistry.standard.keys.map(\.rawValue).joined(separator: ","))); repeatable.")
    var components: [String] = []
    @Option(help: "Apply the values chosen by `bench tune` (its tuned.yaml) before the options given here.")
    var tuned: String?

    func apply(to c: inout ExperimentConfig) {
        if let name { c.name = name }
        if let seeds { c.seeds = seeds.seeds }
        if !method.isEmpty { c.methods = method.flatMap { $0.split(separator: ",").map(String.init) } }
        for set in components {
            let name = set.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "+")
            if !c.methods.contains(name) { c.methods.append(name) }
        }
    }

    var keyPaths: [(path: String, flag: String, given: Bool)] {
        [("name", "--name", name != nil), ("seeds", "--seeds", seeds != nil),
         ("methods", "--method", !method.isEmpty || !components.isEmpty)]
    }
}

/// Which dataset, where to find it, and whether to download it.
struct DataOptions: ConfigOptionGroup {
    @Option(help: "Dataset: a catalog name (mnist-mini, mnist-partial, mnist, fashion-mnist, kmnist) or a folder holding the four IDX files.")
    var dataset: String?
    @Option(help: "Folder to look for datasets in first (DIR/<name>/ or DIR itself).")
    var dataDir: String?
    @Flag(help: "Download the dataset first when it is missing (as `bench datasets fetch`, verified); off by default.")
    var fetch = false

    func apply(to c: inout ExperimentConfig) {
        if let dataset { c.dataset = dataset }
    }

    var keyPaths: [(path: String, flag: String, given: Bool)] {
        [("dataset", "--dataset", dataset != nil)]
    }
}

/// How the dataset becomes a sequence of tasks, and what is known at test time.
struct ScenarioOptions: ConfigOptionGroup {
    @Option(help: "Scenario: split, permuted or rotated.")
    var scenario: ScenarioKind?
    @Option(help: "What is known at test time: task, domain or class.")
    var setting: Setting?
    @Option(help: "Number of tasks.")
    var tasks: Int?
    @Option(help: "Split only: class order, fixed or seeded.")
    var classOrder: ClassOrder?
    @Option(help: "Hold out this fraction of each class's training samples as validation data (e.g. 0.1): never trained on; validation-matrix.csv and validation-summary.csv.")
    var validation: Double?

    /// A scenario kind brings its own setting and task count (`ScenarioConfig.choosing`), which
    /// the options given override.
    func apply(to c: inout ExperimentConfig) {
        if let scenario { c.scenario = c.scenario.choosing(kind: scenario, setting: setting, tasks: tasks) }
        if let setting { c.scenario.setting = setting }
        if let tasks { c.scenario.tasks = tasks }
        if let classOrder { c.scenario.classOrder = classOrder }
        if let validation { c.scenario.validation = validation }
    }

    var keyPaths: [(path: String, flag: String, given: Bool)] {
        [("scenario.kind", "--scenario", scenario != nil), ("scenario.setting", "--setting", setting != nil),
         ("scenario.tasks", "--tasks", tasks != nil), ("scenario.classOrder", "--class-order", classOrder != nil),
         ("scenario.validation", "--validation", validation != nil)]
    }
}

/// How each task is trained: the network, the optimizer and the schedule.
struct TrainingOptions: ConfigOptionGroup {
    @Option(help: "Passes over each task's training set (a comma list sweeps it, as it does for every core or component option that takes one number or name).")
    var epochs: Swept<Int>?
    @Option(help: "Optimizer steps per task (overrides --epochs).")
    var iterations: Swept<Int>?
    @Option(help: "Samples per step from the current task.")
    var batchSize: Swept<Int>?
    @Option(help: "Learning rate (1e-3,1e-4 sweeps it).")
    var lr: Swept<Double>?
    @Option(help: "Stop a cell as diverged when its training loss exceeds this (a non-finite loss always does).")
    var lossLimit: Double?
    @Option(help: "Optimizer: sgd or adam (sgd,adam sweeps it).")
    var optimizer: Swept<OptimizerKind>?
    @Option(help: "Hidden layer widths, e.g. 400,400.")
    var hidden: Widths?

    /// A single value is set; a comma list sets its first value and becomes a sweep axis
    /// (replacing an experiment file's sweep of the same setting).
    func apply(to c: inout ExperimentConfig) {
        var axes = c.sweep ?? []
        func sweep<V>(_ option: Swept<V>?, _ path: String, _ set: (V) -> Void) {
            guard let option else { return }
            set(option.values[0])
            axes.removeAll { $0.path == path }
            if option.values.count > 1 { axes.append(SweepAxis(path: path, values: option.texts)) }
        }
        sweep(epochs, "training.epochs") { c.training.epochs = $0; c.training.iterations = nil }
        sweep(iterations, "training.iterations") { c.training.iterations = $0 }
        sweep(batchSize, "training.batchSize") { c.training.batchSize = $0 }
        sweep(lr, "training.learningRate") { c.training.learningRate = $0 }
        if let lossLimit { c.training.lossLimit = lossLimit }
        sweep(optimizer, "training.optimizer") { c.training.optimizer = $0 }
        if let hidden { c.training.hidden = hidden.widths }
        c.sweep = axes.isEmpty ? nil : axes
    }

    var keyPaths: [(path: String, flag: String, given: Bool)] {
        [("training.epochs", "--epochs", epochs != nil), ("training.iterations", "--iterations", iterations != nil),
         ("training.batchSize", "--batch-size", batchSize != nil), ("training.learningRate", "--lr", lr != nil),
         ("training.optimizer", "--optimizer", optimizer != nil), ("training.hidden", "--hidden", hidden != nil)]
    }
}

/// Evaluations during training (the stability gap).
struct EvaluationOptions: ConfigOptionGroup {
    @Option(help: "Also evaluate every task seen so far every N steps during training (the stability gap; curves.csv).") var evalEvery: Int?
    @Option(help: "With --eval-every: test samples per task in those evaluations (a fixed subset; default 1000).") var evalSubsample: Int?
    @Option(help: "With --eval-every: K, the steps after a task switch in which the stability gap takes its minimum (default 100).") var gapWindow: Int?

    func apply(to c: inout ExperimentConfig) {
        if let evalEvery { c.training.evalEvery = evalEvery }
        if let evalSubsample { c.training.evalSubsample = evalSubsample }
        if let gapWindow { c.training.gapWindow = gapWindow }
    }

    var keyPaths: [(path: String, flag: String, given: Bool)] {
        [("training.evalEvery", "--eval-every", evalEvery != nil),
         ("training.evalSubsample", "--eval-subsample", evalSubsample != nil), ("training.gapWindow", "--gap-window", gapWindow != nil)]
    }
}

/// Where results go and how the cells are run: threads, worker processes, or not at all.
struct RunControlOptions: ConfigOptionGroup {
    @Option(help: "Output folder; results go to <out>/<experiment>/ (default results).")
    var out: String?
    @Option(help: "OpenBLAS threads.")
    var threads: Int?
    @Option(help: "Parallel worker processes, each with --threads BLAS threads (default: the number of cores; 1 runs in this process).")
    var jobs: Int?
    @Flag(help: "Print the configuration as JSON and exit without running.")
    var dryRun = false

    func apply(to c: inout ExperimentConfig) {
        if let threads { c.threads = threads }
    }

    var keyPaths: [(path: String, flag: String, given: Bool)] {
        [("threads", "--threads", threads != nil)]
    }
}
