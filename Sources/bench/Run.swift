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

    @OptionGroup(title: "Experiment") var experiment: ExperimentOptions
    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Scenario") var scenario: ScenarioOptions
    @OptionGroup(title: "Training") var training: TrainingOptions
    @OptionGroup(title: "Evaluation during training") var evaluation: EvaluationOptions
    @OptionGroup(title: "Ablation") var study: StudyOptions
    @OptionGroup(title: "Output and run control") var control: RunControlOptions
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
        do { return try ExperimentFile.load(file, preset: experiment.preset) } catch let error as ConfigError { throw ValidationError(error.description) }
    }

    /// The option groups that set parts of the configuration (the ablation design aside).
    var configGroups: [any ConfigOptionGroup] { [experiment, data, scenario, training, evaluation, control] }

    /// The preset (or the experiment file) with every given option applied.
    func makeConfig() throws -> ExperimentConfig {
        var c = try experimentFile()?.config ?? (experiment.preset ?? .quick).config
        if let tuned = experiment.tuned {
            do { c = try TunedFile.read(tuned).apply(to: c, path: tuned) } catch let error as ConfigError { throw ValidationError(error.description) }
        }
        for group in configGroups { group.apply(to: &c) }
        // A comma list to a component option sweeps it, as to a core option (`TrainingOptions`).
        var axes = c.sweep ?? []
        try arguments().apply(to: &c.components, sweep: &axes)
        c.sweep = axes.isEmpty ? nil : axes
        if let design = try study.design() { c.ablation = design }
        return c
    }

    /// Key paths of the settings given on the command line, with their flags: a validation
    /// message names the flag of a setting given as a flag, and the key path of one from a file.
    func givenFlags() throws -> [String: String] {
        var given: [String: String] = [:]
        let fromFile = try arguments().file != nil
        for group in configGroups {
            for (path, flag, set) in group.keyPaths where set || !fromFile { given[path] = flag }
        }
        let flagsGiven = try arguments().flags
        for option in ComponentRegistry.standard.options where flagsGiven.contains(option.flag) || !fromFile {
            given[option.path] = "--" + option.flag
        }
        return given
    }

    func validate() throws {
        _ = try arguments()
        if control.out?.isEmpty == true { throw ValidationError("--out must name a folder; an empty path would write into the current folder") }
        do { try makeConfig().validatedPlan() } catch let error as ConfigError {
            throw ValidationError(ComponentArguments.flagged(error, flags: try givenFlags()))
        }
        if let jobs = control.jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
    }

    func run() throws {
        let config = try makeConfig()
        if control.dryRun {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return try reportingErrors { try say(String(decoding: try encoder.encode(config), as: UTF8.self)) }
        }
        try reportingErrors {
            let fileSettings = try experimentFile()
            if data.fetch { try fetchIfMissing(config.dataset, dataDir: data.dataDir ?? fileSettings?.dataDir) }
            var runner = Runner(config: config, outputDirectory: URL(fileURLWithPath: control.out ?? fileSettings?.out ?? "results"),
                                dataDirectory: data.dataDir ?? fileSettings?.dataDir)
            runner.workers = control.jobs ?? fileSettings?.jobs ?? ProcessInfo.processInfo.activeProcessorCount
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
