import Continual
import Experiments
import Figures
import Foundation

// The components this program knows, in hook order: the registry is the only place that lists
// them. (`ComponentRegistry.standard.adding(WeightDecayConfig.self)` would add ours to all of the
// package's; two keep the example's ablation small.)
let registry = ComponentRegistry([EWCConfig.self, WeightDecayConfig.self])

// A small split mnist-mini experiment (the repository's committed dataset): finetune, joint,
// weight decay alone and beside EWC, and the leave-one-out comparison of weight decay in
// ewc+weight-decay, the full model of this registry.
var config = Preset.quick.config
config.registry = registry
config.name = "weight-decay-example"
config.training.hidden = [64]
config.training.epochs = 1
config.seeds = [1, 2]
config.methods = ["finetune", "joint", "weight-decay", "ewc+weight-decay"]
config.components[WeightDecayConfig.self] = WeightDecayConfig(lambda: 1e-3)
config.ablation = .leaveOneOut([.weightDecay])

// Run from Examples/ (as `.ci/run` does): the dataset is the repository's, and the baseline this
// experiment is checked against is committed beside this package. `--update-baseline` records it
// afresh instead of comparing, as `bench check --update` does for the ci preset.
let dataDirectory = "../datasets"
let baselineURL = URL(fileURLWithPath: "baseline.json")
let update = CommandLine.arguments.dropFirst().contains("--update-baseline")

/// Runs the experiment, its figures and its check; returns the exit status.
@MainActor func runAndCheck() -> Int32 {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("turritopsis-example-\(getpid())")
    defer { try? FileManager.default.removeItem(at: output) }
    do {
        try config.validate()
        // Read the baseline, and check it was recorded with this program version and dataset,
        // before the run.
        let recorded = update ? nil : try Baseline.load(baselineURL)
        try recorded?.checkComparable(with: config, dataDirectory: dataDirectory)
        // The run `bench check` makes (every cell afresh, in this process: a worker process would
        // know only the package's registry), then the same comparison.
        let (current, outcome) = try Baseline.run(preset: config.name, config: config, folder: config.name,
                                                  outputDirectory: output, dataDirectory: dataDirectory)
        print(outcome.aggregate.markdown)
        let figures = try FigureRenderer.render(resultsDirectory: outcome.directory.path)
        if !outcome.ablation.isEmpty { print(outcome.ablation.markdown(experiment: config.name)) }
        print("\(outcome.ran.count) cells run; \(figures.files.count) figure and table files written")

        guard let recorded else {
            try current.write(to: baselineURL)
            print("baseline recorded: \(baselineURL.path) (\(current.entries.count) metrics); commit it")
            return 0
        }
        let report = try CheckReport(baseline: recorded, current: current)
        print(report.markdown)
        print("bit-identical to the baseline: \(report.bitIdentical ? "yes" : "no") (baseline: \(recorded.blasThreads) BLAS thread(s), \(recorded.blasCore); this run: \(current.blasThreads), \(current.blasCore))")
        // Stricter than `bench check`, which only reports it: with the baseline's BLAS core and
        // thread count the run is deterministic, so any change of an accuracy matrix is a drift,
        // however small beside the tolerance (2 seeds make the tolerances wide).
        if !report.bitIdentical && recorded.blasCore == current.blasCore && recorded.blasThreads == current.blasThreads {
            FileHandle.standardError.write(Data("error: the accuracy matrices differ from the baseline's (digest \(recorded.digest), now \(current.digest)) with the same BLAS core and threads; rerun with --update-baseline if the change is meant\n".utf8))
            return 1
        }
        guard report.passed else {
            let names = report.failures.map { "\($0.method)/\($0.setting)/\($0.metric)" }
            FileHandle.standardError.write(Data("error: \(report.failures.count) metric(s) moved beyond tolerance or are missing: \(names.joined(separator: ", ")) (compared with \(baselineURL.path); rerun with --update-baseline if the change is meant)\n".utf8))
            return 1
        }
        print("check passed: \(report.rows.count) metrics within tolerance")
        return 0
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        return 1
    }
}

exit(runAndCheck())
