import Foundation
import NeuralNet
import Schema

/// How a network is trained on each task.
public struct TrainingConfig: Codable, Sendable, Hashable {
    /// Hidden layer widths of the MLP.
    public var hidden: [Int]
    public var optimizer: OptimizerKind
    public var learningRate: Double
    /// Samples from the current task per step.
    public var batchSize: Int
    /// Passes over the task's training set (the step count is epochs · ⌈n_task / batch⌉) …
    public var epochs: Int
    /// … unless a fixed number of steps per task is given.
    public var iterations: Int?
    /// Rows per forward pass when evaluating.
    public var evalBatchSize: Int

    public init(hidden: [Int] = [400, 400], optimizer: OptimizerKind = .adam, learningRate: Double = 0.001,
                batchSize: Int = 128, epochs: Int = 1, iterations: Int? = nil, evalBatchSize: Int = 500) {
        self.hidden = hidden
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.epochs = epochs
        self.iterations = iterations
        self.evalBatchSize = evalBatchSize
    }

    /// Optimizer steps for a task with `samples` training samples.
    public func steps(forTaskOf samples: Int) -> Int {
        iterations ?? epochs * ((samples + batchSize - 1) / batchSize)
    }
}

/// The accuracy matrices and cost figures of one run.
public struct RunResult: Codable, Sendable {
    /// R[i][j] per evaluated setting (keyed by `Setting.rawValue`): test accuracy on task j after
    /// training task i, every i and j (the upper triangle too).
    public var accuracy: [String: [[Double]]]
    /// b[j] per evaluated setting: accuracy on task j before any training.
    public var initial: [String: [Double]]
    /// Mean training loss over each task's steps.
    public var taskLoss: [Double]
    public var trainSeconds: Double
    public var evalSeconds: Double
    public var trainedSamples: Int
    public var trainSamplesPerSecond: Double { trainSeconds > 0 ? Double(trainedSamples) / trainSeconds : 0 }
    /// Parameters the final network uses (a growing network's used part, not its store's size).
    public var parameterCount: Int
    /// Per component: its cost figures and diagnostics.
    public var components: [String: [String: Double]]
}

/// Progress of a run, for the command line.
public struct TrainingProgress: Sendable {
    public let task: Int
    public let tasks: Int
    public let step: Int
    public let steps: Int
    public let samplesPerSecond: Double

    public init(task: Int, tasks: Int, step: Int, steps: Int, samplesPerSecond: Double) {
        self.task = task
        self.tasks = tasks
        self.step = step
        self.steps = steps
        self.samplesPerSecond = samplesPerSecond
    }
}

/// Trains a network on the tasks of a scenario in order and records the full accuracy matrix.
///
/// Before any training it evaluates every task (the b row); after each task it evaluates every
/// task again (row i of R, upper triangle included). `joint` is the upper-bound baseline: at task
/// t it trains, with the same number of steps, on batches drawn from the union of tasks 1…t, so
/// its last row is a model trained on all tasks at once.
public struct Trainer {
    public let scenario: Scenario
    public let config: TrainingConfig
    public let seed: UInt64
    /// The components: they build the network and the optimizer, and give the hooks.
    public let settings: ComponentSettings
    public var joint = false
    /// The hooks, in call order; `settings.makeComponents` unless replaced.
    public var components: [any Component]
    public var progress: (@Sendable (TrainingProgress) -> Void)?

    public init(scenario: Scenario, config: TrainingConfig, seed: UInt64, settings: ComponentSettings = ComponentSettings()) {
        self.scenario = scenario
        self.config = config
        self.seed = seed
        self.settings = settings
        components = settings.makeComponents(scenario: scenario)
    }

    /// Rows a batch may hold: the task's batch and as many appended rows.
    var batchCapacity: Int { 2 * config.batchSize }

    /// Builds the network every method of this seed starts from (same weights for the same seed).
    /// The plain MLP unless a component builds another network (`ComponentSettings.makeNetwork`).
    public func makeNetwork() -> any Network {
        settings.makeNetwork(scenario: scenario, training: config, capacity: max(batchCapacity, config.evalBatchSize), seed: seed)
    }

    public func run() -> RunResult {
        let network = makeNetwork()
        return run(network: network, optimizer: settings.makeOptimizer(for: network, training: config))
    }

    public func run(network: any Network, optimizer: any Optimizer) -> RunResult {
        let T = scenario.tasks.count
        let session = TrainingSession(self, network: network, optimizer: optimizer)
        let evaluator = Evaluator(scenario: scenario, capacity: min(network.capacity, config.evalBatchSize))

        var evalSeconds = 0.0, trainSeconds = 0.0
        var clock = MonotonicClock()
        var initial: [String: [Double]] = [:]
        var accuracy: [String: [[Double]]] = [:]
        for (setting, row) in evaluator.evaluate(session.networkForEvaluation()) { initial[setting.rawValue] = row; accuracy[setting.rawValue] = [] }
        evalSeconds += clock.lap()

        var taskLoss: [Double] = []
        for t in 0..<T {
            session.beginTask(t)
            let steps = config.steps(forTaskOf: scenario.tasks[t].trainIndices.count)
            var lossSum = 0.0
            let started = clock.now
            for step in 0..<steps {
                lossSum += Double(session.step())
                if let progress, step % 50 == 49 || step == steps - 1 {
                    let rate = Double(config.batchSize * (step + 1)) / max(clock.now - started, 1e-9)
                    progress(TrainingProgress(task: t, tasks: T, step: step + 1, steps: steps, samplesPerSecond: rate))
                }
            }
            taskLoss.append(steps > 0 ? lossSum / Double(steps) : 0)
            session.endTask()
            trainSeconds += clock.lap()
            for (setting, row) in evaluator.evaluate(session.networkForEvaluation()) { accuracy[setting.rawValue]!.append(row) }
            evalSeconds += clock.lap()
        }
        var reports: [String: [String: Double]] = [:]
        for c in components { reports[c.key] = c.report() }
        return RunResult(accuracy: accuracy, initial: initial, taskLoss: taskLoss, trainSeconds: trainSeconds,
                         evalSeconds: evalSeconds, trainedSamples: session.trainedSamples,
                         parameterCount: (network as? any GrowingNetwork)?.parametersInUse ?? network.parameters.count,
                         components: reports)
    }
}

/// The training loop of one run, a step at a time: `beginTask`, `step` as often as wanted,
/// `endTask`. `Trainer.run` drives it; the benchmarks time a single `step`, which allocates
/// nothing.
public final class TrainingSession {
    public let trainer: Trainer
    public let network: any Network
    public let optimizer: any Optimizer
    public let context: TrainingContext
    let batch: Batch
    let dLogits: Matrix
    var sampler = BatchSampler(pool: [], random: RandomStream(seed: 0, purpose: "unused"))
    /// The parameters before the current step, kept only when a component observes updates.
    private var previous: UnsafeMutablePointer<Float>?
    /// Rows trained so far (current and appended).
    public private(set) var trainedSamples = 0

    public init(_ trainer: Trainer, network: any Network, optimizer: any Optimizer) {
        let scenario = trainer.scenario
        self.trainer = trainer
        self.network = network
        self.optimizer = optimizer
        context = TrainingContext(scenario: scenario, network: network, optimizer: optimizer, seed: trainer.seed)
        batch = Batch(capacity: trainer.batchCapacity, inputCount: scenario.inputCount, outputCount: scenario.outputCount)
        dLogits = Matrix(rows: trainer.batchCapacity, columns: scenario.outputCount)
        if trainer.components.contains(where: \.observesUpdates) {
            previous = .allocate(capacity: network.parameters.count)
            previous!.initialize(repeating: 0, count: network.parameters.count)
        }
    }

    deinit { previous?.deallocate() }

    /// Starts task `t`: the batch pool (tasks 1…t for `joint`), then every `beforeTask` hook.
    public func beginTask(_ t: Int) {
        let scenario = trainer.scenario
        var pool: [SampleRef] = []
        for s in (trainer.joint ? 0...t : t...t) {
            pool += scenario.tasks[s].trainIndices.map { SampleRef(task: s, index: $0) }
        }
        context.task = t
        context.taskStep = 0
        context.taskSamples = scenario.tasks[t].trainIndices.map { SampleRef(task: t, index: $0) }
        for c in trainer.components { c.beforeTask(context) }
        sampler = BatchSampler(pool: pool, random: RandomStream(seed: trainer.seed, purpose: "batches", index: t))
    }

    /// One optimizer step; returns the loss (task loss plus penalties).
    public func step() -> Float {
        let scenario = trainer.scenario, components = trainer.components, t = context.task
        for c in components { c.beforeStep(context) }
        batch.count = 0
        sampler.fill(batch, rows: trainer.config.batchSize)
        batch.current = batch.count
        batch.weigh(currentShare: 1)
        for c in components { c.augment(batch, context) }
        scenario.gather(batch.refs, rows: batch.count, test: false, currentTask: t, x: batch.inputs.data, labels: batch.labels, masks: batch.masks)

        network.parameters.zeroGradients()
        let logits = network.forward(batch.inputs.data, rows: batch.count)
        var loss = SoftmaxCrossEntropy.lossAndGradient(
            logits: logits, labels: batch.labels, mask: batch.masks, weights: batch.weights,
            rows: batch.count, classes: scenario.outputCount, gradient: dLogits.data)
        for c in components { loss += c.addOutputLoss(logits: logits, gradient: dLogits.data, batch: batch, context) }
        network.backward(batch.inputs.data, outputGradient: dLogits.data, rows: batch.count)
        context.loss = loss
        for c in components { loss += c.addPenalty(context) }
        for c in components { c.adjustGradient(context) }
        if let previous {
            previous.update(from: network.parameters.values, count: network.parameters.count)
            optimizer.step(network.parameters)
            for c in components where c.observesUpdates { c.afterUpdate(previous: previous, context) }
        } else {
            optimizer.step(network.parameters)
        }
        context.step += 1
        context.taskStep += 1
        for c in components { c.afterStep(context) }
        trainedSamples += batch.count
        return loss
    }

    /// The network to evaluate: the first component's replacement (`networkForEvaluation`), else
    /// the trained network.
    public func networkForEvaluation() -> any Network {
        for c in trainer.components {
            if let replacement = c.networkForEvaluation(context) { return replacement }
        }
        return network
    }

    /// Ends the current task: every `afterTask` hook.
    public func endTask() {
        for c in trainer.components { c.afterTask(context) }
    }
}

/// Draws batches by cycling through the pool in a fresh random order each pass.
struct BatchSampler {
    var pool: [SampleRef]
    var random: RandomStream
    var position = 0

    init(pool: [SampleRef], random: RandomStream) {
        self.pool = pool
        self.random = random
        self.random.shuffle(&self.pool)
    }

    mutating func fill(_ batch: Batch, rows: Int) {
        for _ in 0..<rows {
            if position == pool.count {
                random.shuffle(&pool)
                position = 0
            }
            batch.append(pool[position])
            position += 1
        }
    }
}

/// Accuracy of a network on every task's test set, under each of the scenario's settings.
public struct Evaluator {
    public let scenario: Scenario
    let batch: Batch

    public init(scenario: Scenario, capacity: Int) {
        self.scenario = scenario
        batch = Batch(capacity: capacity, inputCount: scenario.inputCount, outputCount: scenario.outputCount)
    }

    /// Per setting, the accuracy on each task (fraction of test samples whose arg-max over the
    /// setting's active outputs is the target).
    public func evaluate(_ network: any Network) -> [(Setting, [Double])] {
        let K = scenario.outputCount
        var correct = [[Int]](repeating: [Int](repeating: 0, count: scenario.tasks.count), count: scenario.evalSettings.count)
        for task in scenario.tasks {
            var start = 0
            let indices = task.testIndices
            while start < indices.count {
                let rows = min(batch.capacity, indices.count - start)
                for r in 0..<rows { batch.refs[r] = SampleRef(task: task.index, index: indices[start + r]) }
                scenario.gather(batch.refs, rows: rows, test: true, x: batch.inputs.data, labels: batch.labels, masks: nil)
                let logits = network.forward(batch.inputs.data, rows: rows)
                for (s, setting) in scenario.evalSettings.enumerated() {
                    let mask = task.evalMasks[setting]!
                    var hits = 0
                    mask.withUnsafeBufferPointer { m in
                        for r in 0..<rows where Kernels.argmax(logits + r * K, K, mask: m.baseAddress!) == Int(batch.labels[r]) {
                            hits += 1
                        }
                    }
                    correct[s][task.index] += hits
                }
                start += rows
            }
        }
        return scenario.evalSettings.enumerated().map { s, setting in
            (setting, scenario.tasks.map { Double(correct[s][$0.index]) / Double($0.testIndices.count) })
        }
    }
}
