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

let output = FileManager.default.temporaryDirectory.appendingPathComponent("turritopsis-example-\(getpid())")
defer { try? FileManager.default.removeItem(at: output) }
do {
    try config.validate()
    var runner = Runner(config: config, outputDirectory: output, dataDirectory: "../datasets")
    runner.workers = 1
    let outcome = try runner.run()
    print(outcome.aggregate.markdown)
    let figures = try FigureRenderer.render(resultsDirectory: outcome.directory.path)
    if !outcome.ablation.isEmpty { print(outcome.ablation.markdown(experiment: config.name)) }
    print("\(outcome.ran.count) cells run; \(figures.files.count) figure and table files written")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
