import Continual
import Datasets
import NeuralNet
import Schema

/// A training run stopped in steady state, for timing one step, one evaluation pass or one
/// Fisher computation in isolation (the `Benchmarks/` package and `bench speed --compare` use it).
///
/// The data are synthetic 28×28 images with 10 classes (uniform random pixels and labels, from a
/// fixed seed), in a permuted scenario of two tasks (domain-IL unless `setting` says otherwise).
/// The first task is trained for `warmupSteps` and finished (so EWC holds a Fisher, replay a full
/// buffer, LwF a previous model, A-GEM and GEM a memory), the second is begun and trained for a
/// few steps; every later `step()` is a steady-state step of task 2 with every hook of the chosen
/// components active. The switch between the tasks — the first task's `afterTask` hooks (Fisher,
/// buffer update) and the second's `beforeTask` hooks (architecture search) — is timed once, in
/// `taskSwitchSeconds`.
public final class Workload {
    public let scenario: Scenario
    public let trainer: Trainer
    public let session: TrainingSession
    public let evaluator: Evaluator
    /// Wall-clock seconds of `endTask()` of task 1 and `beginTask(1)`, measured once.
    public let taskSwitchSeconds: Double

    public init(hidden: [Int] = [400, 400], batchSize: Int = 128, optimizer: OptimizerKind = .sgd,
                components: ComponentSettings = ComponentSettings(), setting: Setting = .domain, trainSamples: Int = 8192,
                testSamples: Int = 4096, warmupSteps: Int = 20, dataset: Dataset? = nil) throws {
        let dataset = dataset ?? Workload.syntheticDataset(train: trainSamples, test: testSamples)
        scenario = try Scenario(ScenarioConfig(kind: .permuted, setting: setting, tasks: 2), dataset: dataset, seed: 1)
        let config = TrainingConfig(hidden: hidden, optimizer: optimizer, learningRate: optimizer == .sgd ? 0.01 : 0.001,
                                    batchSize: batchSize, iterations: warmupSteps, evalBatchSize: 512)
        trainer = Trainer(scenario: scenario, config: config, seed: 1, settings: components)
        let network = trainer.makeNetwork()
        session = TrainingSession(trainer, network: network, optimizer: components.makeOptimizer(for: network, training: config))
        evaluator = Evaluator(scenario: scenario, capacity: min(network.capacity, config.evalBatchSize))
        session.beginTask(0)
        for _ in 0..<warmupSteps { _ = session.step() }
        var clock = MonotonicClock()
        session.endTask()
        session.beginTask(1)
        taskSwitchSeconds = clock.lap()
        for _ in 0..<3 { _ = session.step() }
    }

    /// One steady-state training step; returns its loss.
    @discardableResult
    public func step() -> Float { session.step() }

    /// One pass over both tasks' test sets; returns the mean accuracy (so it cannot be optimised
    /// away).
    @discardableResult
    public func evaluate() -> Double {
        let rows = evaluator.evaluate(session.network)
        return rows[0].1.reduce(0, +) / Double(rows[0].1.count)
    }

    /// The exact diagonal Fisher of task 1 over its first `samples` training samples.
    public func fisher(samples: Int = 1024, labels: EWCConfig.FisherLabels = .exact) -> [Float] {
        let refs = scenario.tasks[0].trainIndices.prefix(samples).map { SampleRef(task: 0, index: $0) }
        var random = RandomStream(seed: 1, purpose: "fisher")
        return EWC.diagonalFisher(session.network, scenario: scenario, samples: Array(refs), task: 0, labels: labels, random: &random)
    }

    /// Uniform random 28×28 images and labels 0…9 from a fixed seed.
    public static func syntheticDataset(train: Int, test: Int) -> Dataset {
        var random = RandomStream(seed: 1, purpose: "synthetic-data")
        func split(_ n: Int) -> DatasetSplit {
            DatasetSplit(images: (0..<(n * 784)).map { _ in UInt8(random.nextInt(below: 256)) },
                         labels: (0..<n).map { _ in UInt8(random.nextInt(below: 10)) }, count: n)
        }
        return Dataset(name: "synthetic", directory: "", train: split(train), test: split(test),
                       height: 28, width: 28, classCount: 10, sha256: "synthetic", files: [])
    }
}
