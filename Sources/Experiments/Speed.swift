import Continual
import Datasets
import Foundation
import Schema
import NeuralNet

/// Training and evaluation throughput of the real training loop on synthetic data, beside the
/// time of the same step's matrix products alone, measured in one run so they can be compared.
///
/// The bound is the step's own sgemm calls and nothing else: for each layer (D → H) of the MLP,
/// the forward x[N,D]·W[D,H] (no transposes, β = 1 onto the bias rows), the weight gradient
/// xᵀ·δ (A transposed, β = 1), and for every layer but the first the input gradient δ·Wᵀ
/// (B transposed, β = 0) — the calls `Linear.forward` and `Linear.backward` make, with the same
/// shapes, leading dimensions and β, on the trained network's own weight and gradient buffers, in
/// the step's order. Rounds of the bound are interleaved with the training rounds, so load on a
/// shared machine hits both alike.
public struct SpeedReport: Sendable {
    public var hidden: [Int]
    public var batchSize: Int
    public var threads: Int
    /// Median over repeats of samples per second.
    public var trainSamplesPerSecond: Double
    public var evalSamplesPerSecond: Double
    /// Median over repeats of the seconds of one step's sgemm calls alone.
    public var sgemmSecondsPerStep: Double
    /// Floating-point operations of one training sample (forward, weight and input gradients).
    public var flopsPerTrainSample: Double
    /// The sgemm calls' throughput: `flopsPerTrainSample · batchSize / sgemmSecondsPerStep`, in GFLOP/s.
    public var sgemmGFLOPS: Double { flopsPerTrainSample * Double(batchSize) / sgemmSecondsPerStep / 1e9 }
    /// Samples/s if a step were its sgemm calls and nothing else: `batchSize / sgemmSecondsPerStep`.
    public var sgemmBoundSamplesPerSecond: Double { Double(batchSize) / sgemmSecondsPerStep }
    /// The training throughput over the bound: the share of a step's time that is its sgemm calls.
    public var ratioToBound: Double { trainSamplesPerSecond / sgemmBoundSamplesPerSecond }

    /// Measures `repeats` rounds of `steps` SGD steps, `steps` repetitions of the step's sgemm calls
    /// and one pass over 4,096 test samples, on 28×28 synthetic images with 10 classes, taking the
    /// median of the rounds.
    public static func measure(hidden: [Int], batchSize: Int, threads: Int, steps: Int = 100, repeats: Int = 5) throws -> SpeedReport {
        BLAS.setThreads(threads)
        let dataset = Workload.syntheticDataset(train: 8192, test: 4096)
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .domain, tasks: 1), dataset: dataset, seed: 1)
        let config = TrainingConfig(hidden: hidden, optimizer: .sgd, learningRate: 0.01, batchSize: batchSize, iterations: steps, evalBatchSize: 512)
        let trainer = Trainer(scenario: scenario, config: config, seed: 1)
        let network = trainer.makeNetwork()
        guard let mlp = network as? MLP else { throw ConfigError("bench speed times the plain MLP") }
        let products = StepProducts(mlp, rows: batchSize)
        let optimizer = SGD(learningRate: 0.01, parameterCount: network.parameters.count)
        let evaluator = Evaluator(scenario: scenario, capacity: 512)
        var train: [Double] = [], eval: [Double] = [], gemm: [Double] = []
        _ = trainer.run(network: network, optimizer: optimizer)  // warm-up
        _ = products.seconds(repetitions: steps)
        for _ in 0..<repeats {
            train.append(trainer.run(network: network, optimizer: optimizer).trainSamplesPerSecond)
            gemm.append(products.seconds(repetitions: steps) / Double(steps))
            let t0 = now()
            _ = evaluator.evaluate(network)
            eval.append(4096 / (now() - t0))
        }
        let widths = [784] + hidden + [10]
        var flops = 0.0
        for l in 0..<(widths.count - 1) { flops += 2 * Double(widths[l] * widths[l + 1]) * (l == 0 ? 2 : 3) }
        return SpeedReport(hidden: hidden, batchSize: batchSize, threads: threads,
                           trainSamplesPerSecond: median(train), evalSamplesPerSecond: median(eval),
                           sgemmSecondsPerStep: median(gemm), flopsPerTrainSample: flops)
    }

    /// A training step's sgemm calls on an MLP's own weight and gradient buffers, with activation
    /// and gradient buffers of its shapes, and nothing else (no bias, ReLU, loss or update).
    final class StepProducts {
        let mlp: MLP
        let rows: Int
        let input: Matrix
        let activations: [Matrix]
        let gradients: (Matrix, Matrix)

        init(_ mlp: MLP, rows: Int) {
            self.mlp = mlp
            self.rows = rows
            input = Matrix(rows: rows, columns: mlp.inputCount)
            for i in 0..<input.count { input.data[i] = Float(i % 13) / 13 }
            activations = mlp.layers.map { Matrix(rows: rows, columns: $0.outputs) }
            let widest = ([mlp.inputCount] + mlp.layers.map(\.outputs)).max()!
            gradients = (Matrix(rows: rows, columns: widest), Matrix(rows: rows, columns: widest))
            for m in activations { m.data.update(repeating: 0.5, count: m.count) }
            gradients.0.data.update(repeating: 0.01, count: gradients.0.count)
            gradients.1.data.update(repeating: 0.01, count: gradients.1.count)
        }

        /// Wall-clock seconds of `repetitions` steps' worth of sgemm calls.
        func seconds(repetitions: Int) -> Double {
            let store = mlp.parameters, layers = mlp.layers, n = rows
            let t0 = SpeedReport.now()
            for _ in 0..<repetitions {
                var x = UnsafePointer(input.data)
                for (l, layer) in layers.enumerated() {
                    BLAS.sgemm(transA: false, transB: false, m: n, n: layer.outputs, k: layer.inputs, a: x, lda: layer.inputs,
                               b: store.values(layer.weight), ldb: layer.outputs, beta: 1, c: activations[l].data, ldc: layer.outputs)
                    x = UnsafePointer(activations[l].data)
                }
                var dy = UnsafePointer(gradients.0.data)
                var spare = (gradients.1.data, gradients.0.data)
                for l in stride(from: layers.count - 1, through: 0, by: -1) {
                    let layer = layers[l]
                    let x = l == 0 ? UnsafePointer(input.data) : UnsafePointer(activations[l - 1].data)
                    BLAS.sgemm(transA: true, transB: false, m: layer.inputs, n: layer.outputs, k: n, a: x, lda: layer.inputs,
                               b: dy, ldb: layer.outputs, beta: 1, c: store.gradients(layer.weight), ldc: layer.outputs)
                    if l > 0 {
                        BLAS.sgemm(transA: false, transB: true, m: n, n: layer.inputs, k: layer.outputs, a: dy, lda: layer.outputs,
                                   b: store.values(layer.weight), ldb: layer.outputs, beta: 0, c: spare.0, ldc: layer.inputs)
                        dy = UnsafePointer(spare.0)
                        spare = (spare.1, spare.0)
                    }
                }
            }
            let seconds = SpeedReport.now() - t0
            store.zeroGradients()
            return seconds
        }
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func now() -> Double { MonotonicClock.seconds() }
}

/// The training cost of several component sets measured side by side: the same synthetic data,
/// network widths, batch and thread count, rounds interleaved (set 1, set 2, …, set 1, …) so that
/// a change in machine load hits every set alike; medians over the rounds.
///
/// Each round of each set builds a `Workload`: a first task trained and finished, a second begun,
/// so every hook is active (EWC's penalty, replay's extra rows, LwF's previous model, A-GEM's and
/// GEM's memories). A step is a steady-state step of the second task; the switch between the
/// tasks (Fisher, buffer updates, herding, architecture search) is timed on its own and never
/// divided into the steps.
public struct ComponentSpeedReport: Sendable {
    public struct Entry: Sendable {
        /// `plain` (no component) or the component keys joined by `+`.
        public var name: String
        public var parameterCount: Int
        /// Median over rounds of the mean wall-clock time of one steady-state training step, in seconds.
        public var secondsPerStep: Double
        /// The median step time over the first set's.
        public var ratio: Double
        /// Median over rounds of the wall-clock seconds of the switch from task 1 to task 2.
        public var taskSwitchSeconds: Double
        /// Time components report spending inside the steps (their `*_seconds` counters that moved
        /// during the timed steps, e.g. GEM's `gem_qp_seconds`), per step, median over rounds.
        public var insideStep: [String: Double]
    }
    public var hidden: [Int]
    public var batchSize: Int
    public var threads: Int
    public var setting: Setting
    public var trainSamples: Int
    public var entries: [Entry]

    /// Times `repeats` rounds of `steps` SGD steps per set, after one warm-up round. The
    /// components' usage reports are switched off (they read samples after the task, which is
    /// neither a step nor part of the switch). Names are `plain` or component keys joined by `+`.
    /// Throws when a set cannot run in `setting`.
    public static func measure(sets: [(name: String, settings: ComponentSettings)], hidden: [Int], batchSize: Int, threads: Int,
                               setting: Setting = .domain, trainSamples: Int = 2048, steps: Int = 100,
                               repeats: Int = 5) throws -> ComponentSpeedReport {
        BLAS.setThreads(threads)
        let dataset = Workload.syntheticDataset(train: trainSamples, test: 256)
        let training = TrainingConfig(hidden: hidden, optimizer: .sgd, batchSize: batchSize)
        let prepared = try sets.map { set -> ComponentSettings in
            if let reason = set.settings.incompatibility(in: setting, training: training) {
                throw ConfigError("\(set.name) cannot run in \(setting.rawValue)-IL: \(reason)")
            }
            var settings = set.settings
            settings.memory?.reportSamples = 0
            settings.moe?.reportSamples = 0
            return settings
        }
        var stepTimes = [[Double]](repeating: [], count: sets.count)
        var switchTimes = [[Double]](repeating: [], count: sets.count)
        var inside = [[String: [Double]]](repeating: [:], count: sets.count)
        var parameters = [Int](repeating: 0, count: sets.count)
        for round in 0...repeats {
            for (i, settings) in prepared.enumerated() {
                let workload = try Workload(hidden: hidden, batchSize: batchSize, components: settings, setting: setting,
                                            dataset: dataset)
                let before = secondsCounters(workload)
                let t0 = SpeedReport.now()
                for _ in 0..<steps { workload.step() }
                let seconds = SpeedReport.now() - t0
                guard round > 0 else { continue }  // the warm-up round
                parameters[i] = workload.session.network.parameters.count
                stepTimes[i].append(seconds / Double(steps))
                switchTimes[i].append(workload.taskSwitchSeconds)
                for (key, value) in secondsCounters(workload) where value != before[key] {
                    inside[i][key, default: []].append((value - (before[key] ?? 0)) / Double(steps))
                }
            }
        }
        let medians = stepTimes.map(SpeedReport.median)
        let entries = sets.indices.map {
            Entry(name: sets[$0].name, parameterCount: parameters[$0], secondsPerStep: medians[$0], ratio: medians[$0] / medians[0],
                  taskSwitchSeconds: SpeedReport.median(switchTimes[$0]), insideStep: inside[$0].mapValues(SpeedReport.median))
        }
        return ComponentSpeedReport(hidden: hidden, batchSize: batchSize, threads: threads, setting: setting,
                                    trainSamples: trainSamples, entries: entries)
    }

    /// Every component's `*_seconds` report entries, prefixed with the component's key.
    static func secondsCounters(_ workload: Workload) -> [String: Double] {
        var out: [String: Double] = [:]
        for component in workload.trainer.components {
            for (key, value) in component.report() where key.hasSuffix("_seconds") {
                out[key.hasPrefix(component.key) ? key : "\(component.key).\(key)"] = value
            }
        }
        return out
    }
}
