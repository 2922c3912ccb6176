import ArgumentParser
import Continual
import Experiments
import Foundation
import NeuralNet

extension AttentionMemory.Query: ExpressibleByArgument {}
extension MixtureOfExperts.GateInput: ExpressibleByArgument {}

struct Speed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training and evaluation throughput on synthetic 28×28 data.",
        discussion: """
            Trains an MLP with SGD through the same training loop as real runs, on synthetic data, \
            and times the step's own sgemm calls alone (same shapes, transposes and β, on the \
            network's buffers), rounds interleaved, in the same process: sgemm_bound_samples_per_s \
            is the batch over that time, ratio_to_bound the share of a step that is sgemm. The \
            last two lines are train_samples_per_s and eval_samples_per_s (medians over the rounds).
            """)

    @Option(help: "Hidden layer widths.") var hidden: Widths = Widths(argument: "400,400")!
    @Option(help: "Samples per step.") var batchSize: Int = 128
    @Option(help: "OpenBLAS threads.") var threads: Int = 1
    @Option(help: "Steps per round.") var steps: Int = 100
    @Option(help: "Rounds (the median is reported).") var repeats: Int = 5
    @Option(parsing: .upToNextOption, help: "Instead: time these component sets side by side, e.g. plain memory moe memory+moe (plain = no component; the first is the reference of the ratios).")
    var compare: [String] = []
    @Option(help: "With --compare: hidden widths of each expert (default: --hidden).") var expertHidden: Widths?
    @Option(help: "With --compare: experts (default 4).") var experts: Int?
    @Option(help: "With --compare: memory slots (default 64).") var memorySlots: Int?
    @Option(help: "With --compare: memory query, identity or projection.") var memoryQuery: AttentionMemory.Query?
    @Option(help: "With --compare: top-k routing (default dense).") var moeTopK: Int?
    @Option(help: "With --compare: the gate reads the input or a shared layer.") var moeGate: MixtureOfExperts.GateInput?
    @Option(help: "With --compare: the setting of the two-task permuted workload (task, domain or class; iCaRL needs class).")
    var setting: Setting = .domain
    @Option(help: "With --compare: training samples per task (the task switch reads them).") var trainSamples: Int = 2048

    func validate() throws {
        guard batchSize >= 1, threads >= 1, steps >= 1, repeats >= 1, trainSamples >= batchSize else {
            throw ValidationError("--batch-size, --threads, --steps and --repeats must be at least 1, and --train-samples at least --batch-size")
        }
    }

    func run() throws {
        if !compare.isEmpty { return try runComparison() }
        try reportingErrors {
            let r = try SpeedReport.measure(hidden: hidden.widths, batchSize: batchSize, threads: threads, steps: steps, repeats: repeats)
            try say("mlp: 784-\(r.hidden.map(String.init).joined(separator: "-"))-10, batch \(r.batchSize), SGD, \(r.threads) BLAS thread(s)")
            try say(String(format: "sgemm_ms_per_step: %.3f", r.sgemmSecondsPerStep * 1000))
            try say(String(format: "train_ms_per_step: %.3f", Double(r.batchSize) / r.trainSamplesPerSecond * 1000))
            try say(String(format: "sgemm_gflops: %.1f", r.sgemmGFLOPS))
            try say(String(format: "sgemm_bound_samples_per_s: %.0f", r.sgemmBoundSamplesPerSecond))
            try say(String(format: "ratio_to_bound: %.2f", r.ratioToBound))
            try say(String(format: "train_samples_per_s: %.0f", r.trainSamplesPerSecond))
            try say(String(format: "eval_samples_per_s: %.0f", r.evalSamplesPerSecond))
        }
    }

    /// `--compare`: one line per set with its parameter count, median step time and ratio.
    func runComparison() throws {
        try reportingErrors {
            let sets = try compare.map { name -> (name: String, settings: ComponentSettings) in
                let keys = name == "plain" ? [] : try ExperimentConfig.componentKeys(of: name)
                var settings = ComponentSettings(enabling: keys)
                if let expertHidden { settings.moe?.hidden = expertHidden.widths }
                if let experts { settings.moe?.experts = experts }
                if let memorySlots { settings.memory?.slots = memorySlots }
                if let memoryQuery { settings.memory?.query = memoryQuery }
                if let moeTopK { settings.moe?.topK = moeTopK }
                if let moeGate { settings.moe?.gate = moeGate }
                return (name, settings)
            }
            let r = try ComponentSpeedReport.measure(sets: sets, hidden: hidden.widths, batchSize: batchSize, threads: threads,
                                                     setting: setting, trainSamples: trainSamples, steps: steps, repeats: repeats)
            try say("784-\(r.hidden.map(String.init).joined(separator: "-"))-10, batch \(r.batchSize), SGD, \(r.threads) BLAS thread(s); "
                    + "steady-state steps of task 2 of a permuted \(r.setting.rawValue) workload (\(r.trainSamples) samples per task), "
                    + "median of \(repeats) interleaved rounds of \(steps) steps; task switch = end of task 1 + start of task 2")
            try say("| set | parameters | ms/step | ratio | task switch ms | inside the step, ms/step |")
            try say("|---|---|---|---|---|---|")
            for e in r.entries {
                let inside = e.insideStep.sorted { $0.key < $1.key }.map { "\($0.key) " + String(format: "%.3f", $0.value * 1000) }
                try say("| \(e.name) | \(e.parameterCount) | " + String(format: "%.3f | %.2f | %.1f | ", e.secondsPerStep * 1000, e.ratio, e.taskSwitchSeconds * 1000)
                        + (inside.isEmpty ? "" : inside.joined(separator: ", ")) + " |")
            }
        }
    }
}
