import ArgumentParser
import Continual
import Experiments
import Figures
import Foundation
import NeuralNet

/// Seeds given as a count (`3` → 1,2,3), a range (`4..8`) or a list (`1,5,9`).
struct SeedList: ExpressibleByArgument {
    var seeds: [Int]
    init?(argument: String) {
        if argument.contains(",") {
            let parts = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.allSatisfy({ $0 != nil }), !parts.isEmpty else { return nil }
            seeds = parts.map { $0! }
        } else if let r = argument.range(of: "..") {
            guard let lo = Int(argument[..<r.lowerBound]), let hi = Int(argument[r.upperBound...]), lo <= hi else { return nil }
            seeds = Array(lo...hi)
        } else {
            guard let n = Int(argument), n >= 1 else { return nil }
            seeds = Array(1...n)
        }
    }
}

/// Hidden widths such as `400,400`.
struct Widths: ExpressibleByArgument {
    var widths: [Int]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Int($0) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
        widths = parts.map { $0! }
    }
}

/// One value or a comma list of values of a sweepable core option (`--lr 1e-3,1e-4`): a list
/// sweeps the option (`ExperimentConfig.sweep`).
struct Swept<V: OptionValue>: ExpressibleByArgument {
    var values: [V]
    var texts: [String]
    init?(argument: String) {
        texts = argument.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let parsed = texts.map { V(optionText: $0) }
        guard !texts.isEmpty, parsed.allSatisfy({ $0 != nil }) else { return nil }
        values = parsed.map { $0! }
    }
}

extension Setting: ExpressibleByArgument {}

extension ScenarioKind: ExpressibleByArgument {}
extension ClassOrder: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension Preset: ExpressibleByArgument {}

struct Run: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            abstract: "Run an experiment (the default command) and write results/<experiment>/.",
            usage: "bench [run] [<file>] [<options>] [<component options>]",
            discussion: """
                Starts from a preset (default: quick — split mnist-mini, class-IL, 5 tasks, 3 seeds) or an \
                experiment file (experiments/NAME.yaml, the <file> argument; the options given override it) and \
                applies the options given. Prints a table of ACC, BWT, FWT and forgetting (mean ± 95% CI \
                over seeds), writes runs/*.json, matrix.csv and summary.csv, then figures/ and tables/. \
                Cells whose result file \
                exists are not run again. --ablate, --add-one and --factorial add the methods of an \
                ablation design and print the paired differences over seeds (ablation.csv). Cells run \
                in --jobs worker processes; Ctrl-C stops cleanly, and the same command resumes.

                """ + ComponentArguments.help(registry: .standard))
    }

    @Option(help: "Starting configuration: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")) (default quick, or the file's preset).")
    var preset: Preset?
    @Option(help: "Experiment name: the folder under --out (default: the preset's name).")
    var name: String?
    @Option(help: "Dataset: a catalog name (mnist-mini, mnist-partial, mnist, fashion-mnist, kmnist) or a folder holding the four IDX files.")
    var dataset: String?
    @Option(help: "Folder to look for datasets in first (DIR/<name>/ or DIR itself).")
    var dataDir: String?
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
    @Option(help: "Seeds: a count (3 → 1,2,3), a range (4..8) or a list (1,5,9).")
    var seeds: SeedList?
    @Option(parsing: .upToNextOption, help: "Methods to run: finetune, joint, or components joined by + (\(ComponentRegistry.standard.keys.map(\.rawValue).joined(separator: ", ")), e.g. memory+moe+replay); several allowed.")
    var method: [String] = []
    @Option(help: "Add a method made of these components (comma-separated: \(ComponentRegistry.standard.keys.map(\.rawValue).joined(separator: ","))); repeatable.")
    var components: [String] = []
    @Option(help: "Also evaluate every task seen so far every N steps during training (the stability gap; curves.csv).") var evalEvery: Int?
    @Option(help: "With --eval-every: test samples per task in those evaluations (a fixed subset; default 1000).") var evalSubsample: Int?
    @Option(help: "With --eval-every: K, the steps after a task switch in which the stability gap takes its minimum (default 100).") var gapWindow: Int?
    @Option(help: "Apply the values chosen by `bench tune` (its tuned.yaml) before the options given here.")
    var tuned: String?
    @Option(help: "OpenBLAS threads.")
    var threads: Int?
    @Option(help: "Output folder; results go to <out>/<experiment>/ (default results).")
    var out: String?
    @OptionGroup var study: StudyOptions
    @Flag(help: "Print the configuration as JSON and exit without running.")
    var dryRun = false
    @Flag(help: "Download the dataset first when it is missing (as `bench datasets fetch`, verified); off by default.")
    var fetch = false
    /// The experiment file and the component options (`--ewc-lambda 100`), which the component
    /// declarations define (`ComponentArguments`).
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var remaining: [String] = []

    /// The experiment file and the component options, parsed.
    func arguments() throws -> ComponentArguments {
        try ComponentArguments(remaining, registry: .standard)
    }

    /// The experiment file, if one was given.
    func experimentFile() throws -> ExperimentFile? {
        guard let file = try arguments().file else { return nil }
        do { return try ExperimentFile.load(file, preset: preset) } catch let error as ConfigError { throw ValidationError(error.description) }
    }

    /// The preset (or the experiment file) with every given option applied.
    func makeConfig() throws -> ExperimentConfig {
        var c = try experimentFile()?.config ?? (preset ?? .quick).config
        if let tuned {
            do { c = try TunedFile.read(tuned).apply(to: c, path: tuned) } catch let error as ConfigError { throw ValidationError(error.description) }
        }
        if let name { c.name = name }
        if let dataset { c.dataset = dataset }
        if let scenario { c.scenario = c.scenario.choosing(kind: scenario, setting: setting, tasks: tasks) }
        if let setting { c.scenario.setting = setting }
        if let tasks { c.scenario.tasks = tasks }
        if let classOrder { c.scenario.classOrder = classOrder }
        if let validation { c.scenario.validation = validation }
        // A core option's single value is set; a list also becomes a sweep axis (replacing the file's).
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
        if let seeds { c.seeds = seeds.seeds }
        if !method.isEmpty { c.methods = method.flatMap { $0.split(separator: ",").map(String.init) } }
        for set in components {
            let name = set.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "+")
            if !c.methods.contains(name) { c.methods.append(name) }
        }
        try arguments().apply(to: &c.components, sweep: &axes)
        c.sweep = axes.isEmpty ? nil : axes
        if let evalEvery { c.training.evalEvery = evalEvery }
        if let evalSubsample { c.training.evalSubsample = evalSubsample }
        if let gapWindow { c.training.gapWindow = gapWindow }
        if let threads { c.threads = threads }
        if let design = try study.design() { c.ablation = design }
        return c
    }

    /// Key paths of the settings given on the command line, with their flags: a validation
    /// message names the flag of a setting given as a flag, and the key path of one from a file.
    func givenFlags() throws -> [String: String] {
        var given: [String: String] = [:]
        let core: [(String, String, Bool)] = [
            ("name", "--name", name != nil), ("dataset", "--dataset", dataset != nil),
            ("scenario.kind", "--scenario", scenario != nil), ("scenario.setting", "--setting", setting != nil),
            ("scenario.tasks", "--tasks", tasks != nil), ("scenario.classOrder", "--class-order", classOrder != nil),
            ("scenario.validation", "--validation", validation != nil),
            ("training.epochs", "--epochs", epochs != nil), ("training.iterations", "--iterations", iterations != nil),
            ("training.batchSize", "--batch-size", batchSize != nil), ("training.learningRate", "--lr", lr != nil),
            ("training.optimizer", "--optimizer", optimizer != nil), ("training.hidden", "--hidden", hidden != nil),
            ("seeds", "--seeds", seeds != nil), ("methods", "--method", !method.isEmpty || !components.isEmpty),
            ("threads", "--threads", threads != nil), ("training.evalEvery", "--eval-every", evalEvery != nil),
            ("training.evalSubsample", "--eval-subsample", evalSubsample != nil), ("training.gapWindow", "--gap-window", gapWindow != nil),
        ]
        let fromFile = try arguments().file != nil
        for (path, flag, set) in core where set || !fromFile { given[path] = flag }
        let flagsGiven = try arguments().flags
        for option in ComponentRegistry.standard.options where flagsGiven.contains(option.flag) || !fromFile {
            given[option.path] = "--" + option.flag
        }
        return given
    }

    func validate() throws {
        _ = try arguments()
        if out?.isEmpty == true { throw ValidationError("--out must name a folder; an empty path would write into the current folder") }
        do { try makeConfig().validatedPlan() } catch let error as ConfigError {
            throw ValidationError(ComponentArguments.flagged(error, flags: try givenFlags()))
        }
        if let jobs = study.jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
    }

    func run() throws {
        let config = try makeConfig()
        if dryRun {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            // The per-scenario defaults (EWC's λ) written in: the values a run would use.
            var shown = config
            shown.components = config.components.resolved(for: config.scenario)
            return try reportingErrors { try say(String(decoding: try encoder.encode(shown), as: UTF8.self)) }
        }
        try reportingErrors {
            let fileSettings = try experimentFile()
            if fetch { try fetchIfMissing(config.dataset, dataDir: dataDir ?? fileSettings?.dataDir) }
            var runner = Runner(config: config, outputDirectory: URL(fileURLWithPath: out ?? fileSettings?.out ?? "results"),
                                dataDirectory: dataDir ?? fileSettings?.dataDir)
            runner.workers = study.jobs ?? fileSettings?.jobs ?? ProcessInfo.processInfo.activeProcessorCount
            runner.workerExecutable = currentExecutable()
            runner.interval = study.interval
            let display = ProgressDisplay(terminal: isatty(STDERR_FILENO) != 0) { _ = try? StandardStream.write($0, to: STDERR_FILENO) }
            runner.events = { display.handle($0) }
            let plan = try config.validatedPlan()
            if !plan.full.isEmpty && config.ablation != .addOne {
                printError("full model: \(ExperimentConfig.methodName(plan.full)) (every component valid together for \(config.scenario.kind.rawValue) \(config.scenario.setting.rawValue))")
            }
            for note in plan.notes { printError("note: \(note)") }
            let started = Date()
            let outcome: Runner.Outcome
            do { outcome = try runner.run() } catch let error as Interrupted {
                display.finish()
                printError(error.description)
                throw ExitCode(130)
            } catch {
                display.finish()
                throw error
            }
            display.finish()
            try say(outcome.aggregate.markdown)
            if !outcome.ablation.isEmpty { try say(outcome.ablation.markdown(experiment: config.name)) }
            try printFigureReport(try FigureRenderer.render(resultsDirectory: outcome.directory.path))
            try say("results: \(outcome.directory.path) (\(outcome.ran.count) cells run, \(outcome.skipped.count) already done, \(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
        }
    }
}
