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
    /// N: also evaluate every task seen so far every N steps during training, for the stability
    /// gap (`LearningCurve`); `nil` (the default) evaluates at task boundaries only.
    public var evalEvery: Int?
    /// Test samples per task in those evaluations (a fixed random subset per task and seed);
    /// `nil` = `defaultEvalSubsample`.
    public var evalSubsample: Int?
    /// K: the steps after a task switch in which the stability gap takes its minimum; `nil` =
    /// `defaultGapWindow`.
    public var gapWindow: Int?

    /// Test samples per task of the curve's evaluations when `evalSubsample` is not given (the
    /// 1,000 of De Lange et al.).
    public static let defaultEvalSubsample = 1_000
    /// K when `gapWindow` is not given.
    public static let defaultGapWindow = 100
    /// A training loss above this stops the run as diverged (a non-finite loss always does);
    /// nil: no bound. Left out of the encoding when nil, so it changes no stamp.
    public var lossLimit: Double?

    public init(hidden: [Int] = [400, 400], optimizer: OptimizerKind = .adam, learningRate: Double = 0.001,
                batchSize: Int = 128, epochs: Int = 1, iterations: Int? = nil, evalBatchSize: Int = 500,
                evalEvery: Int? = nil, evalSubsample: Int? = nil, gapWindow: Int? = nil) {
        self.evalEvery = evalEvery
        self.evalSubsample = evalSubsample
        self.gapWindow = gapWindow
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
    /// R[i][j] per evaluated setting (keyed by `Scenario.evaluationName`): test accuracy on task j after
    /// training task i, every i and j (the upper triangle too).
    public var accuracy: [String: [[Double]]]
    /// b[j] per evaluated setting: accuracy on task j before any training.
    public var initial: [String: [Double]]
    /// Mean training loss over each task's steps.
    public var taskLoss: [Double]
    /// Seconds of training, a component's search (`searchSeconds`) included.
    public var trainSeconds: Double
    public var evalSeconds: Double
    /// Rows trained on: the trainer's steps (current and appended rows) plus a component's search.
    public var trainedSamples: Int
    /// Of `trainedSamples`, the rows a component trained outside the trainer's steps (`pnas`'s
    /// candidates); `nil` when no component searched.
    public var searchSamples: Int?
    /// Of `trainSeconds`, the seconds of a component's search; `nil` when no component searched.
    public var searchSeconds: Double?
    public var trainSamplesPerSecond: Double { trainSeconds > 0 ? Double(trainedSamples) / trainSeconds : 0 }
    /// Parameters the final network uses (a growing network's used part, not its store's size).
    public var parameterCount: Int
    /// Per component: its cost figures and diagnostics.
    public var components: [String: [String: Double]]
    /// The accuracy during training, with `evalEvery`; `nil` otherwise.
    public var curve: LearningCurve?
    /// With a validation split (`ScenarioConfig.validation`): R[i][j] per evaluated setting on
    /// task j's held-out training samples (`ContinualTask.validationIndices`) after training task
    /// i, made like `accuracy`; `nil` (and absent from the JSON) without one.
    public var validationAccuracy: [String: [[Double]]]?
    /// b[j] on the validation samples, with `validationAccuracy`.
    public var validationInitial: [String: [Double]]?
    /// Set when training stopped because the loss diverged; the matrices then hold the rows of
    /// the tasks finished before it. Absent from the JSON otherwise.
    public var divergence: Divergence?
}

/// Where a run's training loss became non-finite (or passed `TrainingConfig.lossLimit`): the
/// task and the step within it, both counted from 1, and the loss. A non-finite loss is stored as
/// the string "nan", "inf" or "-inf", since JSON has no such numbers.
public struct Divergence: Codable, Sendable, Equatable, CustomStringConvertible {
    public var task: Int
    public var step: Int
    public var loss: Double

    public init(task: Int, step: Int, loss: Double) {
        self.task = task
        self.step = step
        self.loss = loss
    }

    public var description: String { "diverged at task \(task), step \(step): loss \(Divergence.text(loss))" }

    public static func text(_ x: Double) -> String { x.isNaN ? "nan" : x == .infinity ? "inf" : x == -.infinity ? "-inf" : "\(x)" }

    enum CodingKeys: String, CodingKey { case task, step, loss }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        task = try c.decode(Int.self, forKey: .task)
        step = try c.decode(Int.self, forKey: .step)
        if let text = try? c.decode(String.self, forKey: .loss) {
            guard let x = ["nan": Double.nan, "inf": .infinity, "-inf": -.infinity][text] else {
                throw DecodingError.dataCorruptedError(forKey: .loss, in: c, debugDescription: "expected a number, nan, inf or -inf")
            }
            loss = x
        } else {
            loss = try c.decode(Double.self, forKey: .loss)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(task, forKey: .task)
        try c.encode(step, forKey: .step)
        if loss.isFinite { try c.encode(loss, forKey: .loss) } else { try c.encode(Divergence.text(loss), forKey: .loss) }
    }
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
        for (setting, row) in evaluator.evaluate(session.networkForEvaluation()) { initial[scenario.evaluationName(setting)] = row; accuracy[scenario.evaluationName(setting)] = [] }
        // The validation matrices, with a validation split: the same evaluations on the held-out samples.
        let validating = scenario.config.validation != nil
        var validationInitial: [String: [Double]] = [:], validationAccuracy: [String: [[Double]]] = [:]
        func evaluateValidation(initial: Bool) {
            for (setting, row) in evaluator.evaluateValidation(session.networkForEvaluation()) {
                let name = scenario.evaluationName(setting)
                if initial { validationInitial[name] = row; validationAccuracy[name] = [] } else { validationAccuracy[name]!.append(row) }
            }
        }
        if validating { evaluateValidation(initial: true) }
        evalSeconds += clock.lap()

        // The curve's evaluations (with `evalEvery`): their time counts as evaluation, not training.
        let every = config.evalEvery ?? 0
        let subsample = every > 0 ? Self.subsample(scenario, seed: seed, count: config.evalSubsample ?? TrainingConfig.defaultEvalSubsample) : []
        var curve = every > 0 ? LearningCurve(every: every, subsample: config.evalSubsample ?? TrainingConfig.defaultEvalSubsample,
                                                  gapWindow: config.gapWindow ?? TrainingConfig.defaultGapWindow) : nil
        var curveSeconds = 0.0
        func evaluateCurve(step: Int, task: Int) {
            let started = clock.now
            curve!.steps.append(step)
            curve!.tasks.append(task)
            for (setting, row) in evaluator.evaluate(network, tasks: task + 1, indices: subsample) {
                curve!.accuracy[scenario.evaluationName(setting), default: []].append(row)
            }
            curveSeconds += clock.now - started
        }
        if every > 0 { evaluateCurve(step: 0, task: 0) }

        var taskLoss: [Double] = []
        var globalStep = 0
        var divergence: Divergence?
        tasks: for t in 0..<T {
            session.beginTask(t)
            curve?.taskStarts.append(globalStep)
            let steps = config.steps(forTaskOf: scenario.tasks[t].trainIndices.count)
            var lossSum = 0.0
            let started = clock.now
            for step in 0..<steps {
                let loss = Double(session.step())
                if !loss.isFinite || loss > (config.lossLimit ?? .infinity) {
                    divergence = Divergence(task: t + 1, step: step + 1, loss: loss)
                    trainSeconds += clock.lap() - curveSeconds
                    evalSeconds += curveSeconds
                    break tasks
                }
                lossSum += loss
                globalStep += 1
                if every > 0 && globalStep % every == 0 && step < steps - 1 { evaluateCurve(step: globalStep, task: t) }
                if let progress, step % 50 == 49 || step == steps - 1 {
                    let rate = Double(config.batchSize * (step + 1)) / max(clock.now - started, 1e-9)
                    progress(TrainingProgress(task: t, tasks: T, step: step + 1, steps: steps, samplesPerSecond: rate))
                }
            }
            taskLoss.append(steps > 0 ? lossSum / Double(steps) : 0)
            session.endTask()
            if every > 0 { evaluateCurve(step: globalStep, task: t) }
            trainSeconds += clock.lap() - curveSeconds
            evalSeconds += curveSeconds
            curveSeconds = 0
            for (setting, row) in evaluator.evaluate(session.networkForEvaluation()) { accuracy[scenario.evaluationName(setting)]!.append(row) }
            if validating { evaluateValidation(initial: false) }
            evalSeconds += clock.lap()
        }
        curve?.taskStarts.append(globalStep)
        var reports: [String: [String: Double]] = [:]
        // A diverged run's reports may hold non-finite values, which JSON cannot store.
        for c in components { reports[c.key] = c.report().filter { divergence == nil || $0.value.isFinite } }
        let search = components.reduce(SearchCost()) { SearchCost(samples: $0.samples + $1.search.samples, seconds: $0.seconds + $1.search.seconds) }
        var result = RunResult(accuracy: accuracy, initial: initial, taskLoss: taskLoss, trainSeconds: trainSeconds,
                               evalSeconds: evalSeconds, trainedSamples: session.trainedSamples + search.samples,
                               parameterCount: (network as? any GrowingNetwork)?.parametersInUse ?? network.parameters.count,
                               components: reports, divergence: divergence)
        result.curve = curve
        if validating {
            result.validationAccuracy = validationAccuracy
            result.validationInitial = validationInitial
        }
        if search.samples > 0 || search.seconds > 0 {
            result.searchSamples = search.samples
            result.searchSeconds = search.seconds
        }
        return result
    }
}

extension Trainer {
    /// The test indices of each task the curve evaluates: all of them when a task has at most
    /// `count`, else the first `count` of a shuffle drawn from (seed, "eval-subsample", task) — the
    /// same subset at every evaluation, independent of every other random stream.
    static func subsample(_ scenario: Scenario, seed: UInt64, count: Int) -> [[Int32]] {
        scenario.tasks.map { task in
            guard task.testIndices.count > count else { return task.testIndices }
            var indices = task.testIndices
            var random = RandomStream(seed: seed, purpose: "eval-subsample", index: task.index)
            random.shuffle(&indices)
            return Array(indices.prefix(count))
        }
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
        network.parameters.zeroGradients()
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
        network.parameters.zeroGradients()
    }

    /// One optimizer step; returns the loss (task loss plus penalties).
    ///
    /// The gradients are zero when a step begins: `init` and `beginTask` clear them, and each step
    /// leaves them clear — the optimizer's pass clears them (`stepAndClearGradients`), or, when a
    /// component observes updates (`afterUpdate` reads the step's gradient), the next step does.
    /// Hooks after the optimizer step that write gradients (nested's hypergradient) zero them
    /// when done.
    public func step() -> Float {
        let scenario = trainer.scenario, components = trainer.components, t = context.task
        for c in components { c.beforeStep(context) }
        batch.count = 0
        sampler.fill(batch, rows: trainer.config.batchSize)
        batch.current = batch.count
        batch.weigh(currentShare: 1)
        for c in components { c.augment(batch, context) }
        scenario.gather(batch.refs, rows: batch.count, test: false, currentTask: t, x: batch.inputs.data, labels: batch.labels, masks: batch.masks)

        if previous != nil { network.parameters.zeroGradients() }
        let logits = network.forward(batch.inputs.data, rows: batch.count)
        var taskScale: Float = 1
        for c in components { taskScale *= c.taskLossScale(context) }
        var loss: Float = 0
        if taskScale == 0 {
            dLogits.data.update(repeating: 0, count: batch.count * scenario.outputCount)
        } else {
            loss = SoftmaxCrossEntropy.lossAndGradient(
                logits: logits, labels: batch.labels, mask: batch.masks, weights: batch.weights,
                rows: batch.count, classes: scenario.outputCount, gradient: dLogits.data)
            if taskScale != 1 {
                loss *= taskScale
                let g = dLogits.data
                for i in 0..<(batch.count * scenario.outputCount) { g[i] *= taskScale }
            }
        }
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
            optimizer.stepAndClearGradients(network.parameters)
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

    /// Ends the current task: the optimizer's `endTask` (a nested optimizer applies its partial
    /// chunks, so none crosses into the next task), then every `afterTask` hook.
    public func endTask() {
        optimizer.endTask(network.parameters)
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
        evaluate(network, tasks: scenario.tasks.count, indices: scenario.tasks.map(\.testIndices))
    }

    /// Per setting, the accuracy on every task's validation samples (`validationIndices`, held-out
    /// training samples): the same count as `evaluate(_:)`, over the train split.
    public func evaluateValidation(_ network: any Network) -> [(Setting, [Double])] {
        evaluate(network, tasks: scenario.tasks.count, indices: scenario.tasks.map(\.validationIndices), test: false)
    }

    /// Per setting, the accuracy on the first `tasks` tasks, each over `indices[task]` (a subset of
    /// its test indices, or with `test` false of its training split's indices).
    public func evaluate(_ network: any Network, tasks: Int, indices: [[Int32]], test: Bool = true) -> [(Setting, [Double])] {
        let K = scenario.outputCount
        var correct = [[Int]](repeating: [Int](repeating: 0, count: tasks), count: scenario.evalSettings.count)
        for task in scenario.tasks[..<tasks] {
            var start = 0
            let indices = indices[task.index]
            while start < indices.count {
                let rows = min(batch.capacity, indices.count - start)
                for r in 0..<rows { batch.refs[r] = SampleRef(task: task.index, index: indices[start + r]) }
                scenario.gather(batch.refs, rows: rows, test: test, x: batch.inputs.data, labels: batch.labels, masks: nil)
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
            (setting, (0..<tasks).map { Double(correct[s][$0]) / Double(indices[$0].count) })
        }
    }
}
