import Continual
import Datasets
import Foundation
import Schema
import NeuralNet

/// Training and evaluation throughput of the real training loop on synthetic data, beside the
/// sgemm throughput of the same machine, measured in one run so they can be compared.
public struct SpeedReport: Sendable {
    public var hidden: [Int]
    public var batchSize: Int
    public var threads: Int
    /// Median over repeats of samples per second.
    public var trainSamplesPerSecond: Double
    public var evalSamplesPerSecond: Double
    /// Median sgemm GFLOP/s over the forward, weight-gradient and input-gradient shapes of the MLP.
    public var sgemmGFLOPS: Double
    /// Floating-point operations of one training sample (forward, weight and input gradients).
    public var flopsPerTrainSample: Double
    /// Samples/s if every step were sgemm at `sgemmGFLOPS` and nothing else.
    public var sgemmBoundSamplesPerSecond: Double { sgemmGFLOPS * 1e9 / flopsPerTrainSample }

    /// Measures `repeats` rounds of `steps` SGD steps and one pass over 4,096 test samples, on
    /// 28×28 synthetic images with 10 classes, taking the median of the rounds.
    public static func measure(hidden: [Int], batchSize: Int, threads: Int, steps: Int = 100, repeats: Int = 5) throws -> SpeedReport {
        BLAS.setThreads(threads)
        let dataset = Workload.syntheticDataset(train: 8192, test: 4096)
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .domain, tasks: 1), dataset: dataset, seed: 1)
        let config = TrainingConfig(hidden: hidden, optimizer: .sgd, learningRate: 0.01, batchSize: batchSize, iterations: steps, evalBatchSize: 512)
        let trainer = Trainer(scenario: scenario, config: config, seed: 1)
        let network = trainer.makeNetwork()
        let optimizer = SGD(learningRate: 0.01, parameterCount: network.parameters.count)
        let evaluator = Evaluator(scenario: scenario, capacity: 512)
        var train: [Double] = [], eval: [Double] = []
        _ = trainer.run(network: network, optimizer: optimizer)  // warm-up
        for _ in 0..<repeats {
            train.append(trainer.run(network: network, optimizer: optimizer).trainSamplesPerSecond)
            let t0 = now()
            _ = evaluator.evaluate(network)
            eval.append(4096 / (now() - t0))
        }
        let widths = [784] + hidden + [10]
        var flops = 0.0, gemm: [Double] = []
        for l in 0..<(widths.count - 1) {
            let d = widths[l], h = widths[l + 1]
            flops += 2 * Double(d * h) * (l == 0 ? 2 : 3)
            gemm.append(sgemmGFLOPS(m: batchSize, n: h, k: d, transA: false, transB: false))
            gemm.append(sgemmGFLOPS(m: d, n: h, k: batchSize, transA: true, transB: false))
            if l > 0 { gemm.append(sgemmGFLOPS(m: batchSize, n: d, k: h, transA: false, transB: true)) }
        }
        return SpeedReport(hidden: hidden, batchSize: batchSize, threads: threads,
                           trainSamplesPerSecond: median(train), evalSamplesPerSecond: median(eval),
                           sgemmGFLOPS: median(gemm), flopsPerTrainSample: flops)
    }

    static func sgemmGFLOPS(m: Int, n: Int, k: Int, transA: Bool, transB: Bool) -> Double {
        let a = Matrix(rows: transA ? k : m, columns: transA ? m : k)
        let b = Matrix(rows: transB ? n : k, columns: transB ? k : n)
        let c = Matrix(rows: m, columns: n)
        for i in 0..<a.count { a.data[i] = Float(i % 7) * 0.1 }
        for i in 0..<b.count { b.data[i] = Float(i % 5) * 0.1 }
        var times: [Double] = []
        for _ in 0..<25 {
            let t0 = now()
            BLAS.gemm(a, transposed: transA, b, transposed: transB, into: c)
            times.append(now() - t0)
        }
        return 2 * Double(m * n * k) / median(Array(times.dropFirst(5))) / 1e9
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
