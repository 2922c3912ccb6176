import NeuralNet
import Schema

extension ComponentKey {
    public static let pnas = ComponentKey("pnas")
}

extension ComponentSettings {
    /// The `pnas` config, if enabled; nil disables it.
    public var pnas: PNASConfig? {
        get { self[PNASConfig.self] }
        set { self[PNASConfig.self] = newValue }
    }
}

/// Settings of `pnas`: progressive columns whose depth (and optionally width) an LSTM controller
/// chooses per task.
public struct PNASConfig: ComponentConfig {
    /// L: slots the controller decides on; a column has 0 … L hidden layers (5 in the source text).
    public var slots: Int
    /// C: candidate architectures sampled and trained per task (4 in the issue).
    public var candidates: Int
    /// Optimizer steps each candidate is trained for during the search.
    public var searchSteps: Int
    /// Rows per search step.
    public var searchBatchSize: Int
    /// Training samples of the task held out to score candidates (at most half the task's).
    public var validationSamples: Int
    /// β in reward = validation accuracy − β · (parameters / parameters of the first column).
    public var beta: Double
    /// b ← decay · b + (1 − decay) · mean reward of the task's candidates.
    public var baselineDecay: Double
    /// Adam's learning rate for the controller.
    public var controllerLearningRate: Double
    /// Hidden units of the controller's LSTM.
    public var controllerHidden: Int
    /// The width menu; empty = every column has the first width of `--hidden`. With more than one
    /// width the controller also picks a width per column.
    public var widths: [Int]
    /// A learned softmax gate over the columns (every head covers all outputs): needed for
    /// domain-IL and class-IL, where there is no task id to pick a column.
    public var gate: Bool

    public init(slots: Int = 5, candidates: Int = 4, searchSteps: Int = 100, searchBatchSize: Int = 128,
                validationSamples: Int = 500, beta: Double = 0.02, baselineDecay: Double = 0.9,
                controllerLearningRate: Double = 0.05, controllerHidden: Int = 32, widths: [Int] = [], gate: Bool = false) {
        self.slots = slots
        self.candidates = candidates
        self.searchSteps = searchSteps
        self.searchBatchSize = searchBatchSize
        self.validationSamples = validationSamples
        self.beta = beta
        self.baselineDecay = baselineDecay
        self.controllerLearningRate = controllerLearningRate
        self.controllerHidden = controllerHidden
        self.widths = widths
        self.gate = gate
    }

    public static let key = ComponentKey.pnas
    public static let isModelComponent = true
    public static let summary = "progressive networks whose new column's depth an LSTM controller picks per task, trained with REINFORCE"
    public static let citation = "Rusu et al. 2016; Williams 1992"
    public static var defaults: PNASConfig { PNASConfig() }
    public static var options: [ConfigOption<PNASConfig>] {
        [
            .init(\.slots, "slots", flag: "pnas-slots", help: "slots L, the most hidden layers a column may get", range: .closed(1, 16)),
            .init(\.candidates, "candidates", flag: "pnas-candidates", help: "candidate architectures C sampled and trained per task", range: .atLeast(1)),
            .init(\.searchSteps, "searchSteps", flag: "pnas-search-steps", help: "optimizer steps each candidate is trained for", range: .atLeast(1)),
            .init(\.searchBatchSize, "searchBatchSize", flag: "pnas-search-batch", help: "rows per search step", range: .atLeast(1)),
            .init(\.validationSamples, "validationSamples", flag: "pnas-validation",
                  help: "training samples held out to score candidates (at most half the task)", range: .atLeast(1)),
            .init(\.beta, "beta", flag: "pnas-beta", help: "β in reward = validation accuracy − β·parameters/first column's", range: .atLeast(0)),
            .init(\.baselineDecay, "baselineDecay", flag: "pnas-baseline-decay", help: "decay of the controller's moving-average baseline",
                  range: .closedOpen(0, 1)),
            .init(\.controllerLearningRate, "controllerLearningRate", flag: "pnas-controller-lr", help: "the controller's Adam learning rate",
                  range: .above(0)),
            .init(\.controllerHidden, "controllerHidden", flag: "pnas-controller-hidden", help: "the controller LSTM's hidden units", range: .atLeast(1)),
            .init(\.widths, "widths", flag: "pnas-widths", help: "width menu the controller picks from (empty: the first --hidden width)",
                  each: .atLeast(1)),
            .init(\.gate, "gate", flag: "pnas-gate", help: "a learned softmax gate over the columns (needed for domain-IL and class-IL)"),
        ]
    }
    /// First: the progressive network holds every column (`moe` then gates the columns).
    public static let networkPriority: Int? = 0

    /// `memory` and `nested` build the network too. (`moe` combines: its gate routes among the
    /// columns.)
    public var conflicts: [Conflict] {
        [Conflict(.memory, because: "both build the network"), Conflict(.nested, because: "both build the network")]
    }

    public func problems(in environment: ComponentEnvironment) -> [String] {
        environment.training.hidden.isEmpty && widths.isEmpty
            ? ["pnas needs a width: give training.hidden or \(Self.path("widths"))"] : []
    }

    /// Without the gate (or `moe`) only task-IL: `forward` picks each task's output units through
    /// its column's head, which needs every task to own its outputs. Domain-IL shares the outputs
    /// between tasks and class-IL has no task id, so both need a gate to pick a column per input.
    public func unsupported(in environment: ComponentEnvironment) -> String? {
        if supports(environment.setting) || environment.others.contains(.moe) { return nil }
        return "pnas without \(Self.path("gate")) supports only the task setting: in \(environment.setting.rawValue) there is no task id to pick a column (each column's head owns its task's outputs); set \(Self.path("gate")), or combine with moe, for a learned gate over the columns"
    }

    /// A `ProgressiveNetwork` with slots for one column per task, each up to `slots` hidden layers
    /// of the widest menu width; column k's head writes task k's own output units (the task-IL
    /// mask), or all units with the gate (switched on by `moe` too).
    public func buildNetwork(_ request: NetworkRequest, random: inout RandomStream) -> (any Network)? {
        let heads = request.scenario.tasks.map { task in
            (task.evalMasks[.task] ?? task.trainMask).enumerated().compactMap { $0.element != 0 ? $0.offset : nil }
        }
        return ProgressiveNetwork(inputs: request.scenario.inputCount, outputs: request.scenario.outputCount, heads: heads,
                                  maxDepth: slots, maxWidth: widthMenu(hidden: request.training.hidden).max()!,
                                  gated: gate || request.settings.contains(.moe), capacity: request.capacity, random: &random)
    }

    public func makeComponent(scenario: Scenario) -> any Component { PNAS(self) }

    /// The width menu for a run whose `--hidden` is `hidden`.
    public func widthMenu(hidden: [Int]) -> [Int] { widths.isEmpty ? [hidden.first ?? 100] : widths }

    /// The settings this component works in, and why: without the gate, `forward` picks each
    /// task's output units through its column's head, which needs every task to own its outputs:
    /// true in task-IL only. Domain-IL shares the outputs between tasks and class-IL has no task
    /// id, so both need the gate (or `moe`, once merged) to pick a column per input.
    public func supports(_ setting: Setting) -> Bool { gate || setting == .task }
}

/// Progressive networks (Rusu et al. 2016) grown per task, each new column's depth chosen by an
/// LSTM controller trained with REINFORCE (Williams 1992).
///
/// The source text calls this "Progressive Neural Architecture Search"; it is not PNAS of Liu et
/// al. 2018 (an architecture-search method unrelated to continual learning) but Rusu's
/// progressive networks with the source's controller sketch deciding each column's shape. The CLI
/// key stays `pnas`.
///
/// For task k (`beforeTask`), with the task's training samples split into a held-out validation
/// slice (the first `validationSamples` of a shuffle, at most half) and a search slice:
/// 1. sample C decisions d_c from the controller (`RandomStream(seed, "pnas-controller", k)`);
/// 2. for each, build column k with that depth/width (weights from `"pnas-column-k"`, index c),
///    train it alone (earlier columns frozen) for `searchSteps` Adam steps on the search slice,
///    the same batches for every candidate, and score it:
///    R_c = validation accuracy − β · P_c / P_1, where P_c is the candidate's parameters
///    (layers, adapters, head) and P_1 those of the first column (so R_c = acc − β at task 1);
/// 3. update the controller with REINFORCE, advantages R_c − b, where b is the moving average of
///    earlier tasks' mean rewards (the first task's mean at task 1); then
///    b ← decay · b + (1 − decay) · mean_c R_c;
/// 4. keep the best candidate (its trained weights) as column k; the trainer's optimizer then
///    trains only column k's used parameters (and the gate), so every other parameter is
///    bit-identical to what it was.
/// Never the test set: validation accuracy is on training samples of the task.
///
/// Supports task-IL; domain-IL and class-IL only with `gate` (see `PNASConfig.supports`). The
/// network it needs is built by `ComponentSettings.makeNetwork`.
public final class PNAS: Component {
    /// What the search did for one task.
    public struct TaskReport: Sendable, Codable {
        public var depth: Int
        public var width: Int
        public var parameters: Int
        public var parametersInUse: Int
        /// p_t along the chosen decision, before this task's controller update.
        public var slotProbabilities: [Double]
        public var widthProbabilities: [Double]
        public var validationAccuracy: Double
        public var reward: Double
        public var rewards: [Double]
        public var depths: [Int]
        public var baseline: Double
        public var searchSeconds: Double
    }

    public let config: PNASConfig
    public var key: String { PNASConfig.key.rawValue }
    public private(set) var controller: ArchitectureController?
    public private(set) var baseline: Double?
    public private(set) var tasks: [TaskReport] = []
    private var searchOptimizer: Adam?
    private var batch: Batch?
    private var dLogits: Matrix?
    private var learningRate: Float?
    private var widthMenu: [Int] = []
    /// Rows trained by the candidates of every task so far.
    private var searchSamples = 0

    /// The candidates' training (rows of every search step) and the searches' seconds (training,
    /// scoring and the controller update), which the trainer adds to the run's costs.
    public var search: SearchCost { SearchCost(samples: searchSamples, seconds: tasks.reduce(0) { $0 + $1.searchSeconds }) }

    public init(_ config: PNASConfig) { self.config = config }

    public func beforeTask(_ context: TrainingContext) {
        guard let network = context.network as? ProgressiveNetwork else {
            preconditionFailure("pnas needs the ProgressiveNetwork that ComponentSettings.makeNetwork builds")
        }
        var clock = MonotonicClock()
        let k = context.task
        let store = network.parameters
        if controller == nil {
            widthMenu = config.widths.isEmpty ? [network.maxWidth] : config.widths
            var random = RandomStream(seed: context.seed, purpose: "pnas-controller-init")
            controller = ArchitectureController(slots: config.slots, widthChoices: widthMenu.count, hidden: config.controllerHidden,
                                                learningRate: Float(config.controllerLearningRate), random: &random)
            searchOptimizer = Adam(learningRate: context.optimizer.learningRate, parameterCount: store.count)
            let rows = min(config.searchBatchSize, network.capacity)
            batch = Batch(capacity: rows, inputCount: context.scenario.inputCount, outputCount: context.scenario.outputCount)
            dLogits = Matrix(rows: rows, columns: context.scenario.outputCount)
            learningRate = context.optimizer.learningRate
        }
        let controller = controller!, optimizer = searchOptimizer!
        optimizer.learningRate = learningRate!
        network.trainableFrom = k

        var samples = context.taskSamples
        var split = RandomStream(seed: context.seed, purpose: "pnas-validation", index: k)
        split.shuffle(&samples)
        let held = min(config.validationSamples, samples.count / 2)
        let validation = Array(samples[..<held]), search = Array(samples[held...])

        let gateSnapshot = snapshot(network, ranges: network.gateRanges)
        var sampling = RandomStream(seed: context.seed, purpose: "pnas-controller", index: k)
        var decisions: [ArchitectureController.Decision] = [], rewards: [Double] = [], depths: [Int] = []
        var best: (reward: Double, accuracy: Double, decision: ArchitectureController.Decision,
                   probabilities: ArchitectureController.Probabilities, values: [Float])?
        for c in 0..<max(1, config.candidates) {
            let (decision, probabilities) = controller.sample(&sampling)
            let architecture = ProgressiveNetwork.Architecture(depth: decision.depth, width: widthMenu[decision.width])
            network.setColumn(k, architecture)
            var initial = RandomStream(seed: context.seed, purpose: "pnas-column-\(k)", index: c)
            network.initializeColumn(k, random: &initial)
            let ranges = network.trainableRanges(column: k)
            restore(network, ranges: network.gateRanges, values: gateSnapshot)
            optimizer.reset()
            optimizer.trainable = ranges
            train(network, optimizer: optimizer, samples: search, context: context)
            let accuracy = validationAccuracy(network, samples: validation, context: context)
            let own = Double(network.parameterCount(column: k))
            let first = k == 0 ? own : Double(network.parameterCount(column: 0))
            let reward = accuracy - config.beta * own / first
            decisions.append(decision)
            rewards.append(reward)
            depths.append(decision.depth)
            if best == nil || reward > best!.reward {
                best = (reward, accuracy, decision, probabilities, snapshot(network, ranges: ranges))
            }
        }
        let mean = rewards.reduce(0, +) / Double(rewards.count)
        let b = baseline ?? mean
        controller.reinforce(decisions, advantages: rewards.map { $0 - b })
        baseline = config.baselineDecay * b + (1 - config.baselineDecay) * mean

        let chosen = best!
        network.setColumn(k, ProgressiveNetwork.Architecture(depth: chosen.decision.depth, width: widthMenu[chosen.decision.width]))
        let ranges = network.trainableRanges(column: k)
        restore(network, ranges: ranges, values: chosen.values)
        context.optimizer.trainable = ranges
        tasks.append(TaskReport(
            depth: chosen.decision.depth, width: widthMenu[chosen.decision.width], parameters: network.parameterCount(column: k),
            parametersInUse: network.parametersInUse, slotProbabilities: chosen.probabilities.slots,
            widthProbabilities: chosen.probabilities.widths, validationAccuracy: chosen.accuracy, reward: chosen.reward,
            rewards: rewards, depths: depths, baseline: b, searchSeconds: clock.lap()))
    }

    /// Trains column k (the optimizer's ranges) for `searchSteps` steps on batches cycling through
    /// `samples` in an order drawn from `"pnas-search-batches"` of the task — the same for every
    /// candidate of the task.
    private func train(_ network: ProgressiveNetwork, optimizer: Adam, samples: [SampleRef], context: TrainingContext) {
        guard !samples.isEmpty, let batch, let dLogits else { return }
        var pool = samples
        var random = RandomStream(seed: context.seed, purpose: "pnas-search-batches", index: context.task)
        random.shuffle(&pool)
        var position = 0
        let K = context.scenario.outputCount
        for _ in 0..<config.searchSteps {
            batch.count = 0
            while batch.count < batch.capacity {
                if position == pool.count { random.shuffle(&pool); position = 0 }
                batch.append(pool[position])
                position += 1
            }
            context.scenario.gather(batch.refs, rows: batch.count, test: false, currentTask: context.task,
                                    x: batch.inputs.data, labels: batch.labels, masks: batch.masks)
            network.parameters.zeroGradients()
            let logits = network.forward(batch.inputs.data, rows: batch.count)
            _ = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: batch.labels, mask: batch.masks, weights: nil,
                                                    rows: batch.count, classes: K, gradient: dLogits.data)
            network.backward(batch.inputs.data, outputGradient: dLogits.data, rows: batch.count)
            optimizer.step(network.parameters)
            searchSamples += batch.count
        }
        network.parameters.zeroGradients()
    }

    /// The fraction of `samples` whose arg-max over the task's training outputs is the target.
    private func validationAccuracy(_ network: ProgressiveNetwork, samples: [SampleRef], context: TrainingContext) -> Double {
        guard !samples.isEmpty, let batch else { return 0 }
        let K = context.scenario.outputCount
        var hits = 0, start = 0
        while start < samples.count {
            let rows = min(batch.capacity, samples.count - start)
            for r in 0..<rows { batch.refs[r] = samples[start + r] }
            context.scenario.gather(batch.refs, rows: rows, test: false, currentTask: context.task,
                                    x: batch.inputs.data, labels: batch.labels, masks: batch.masks)
            let logits = network.forward(batch.inputs.data, rows: rows)
            for r in 0..<rows where Kernels.argmax(logits + r * K, K, mask: batch.masks + r * K) == Int(batch.labels[r]) { hits += 1 }
            start += rows
        }
        return Double(hits) / Double(samples.count)
    }

    private func snapshot(_ network: ProgressiveNetwork, ranges: some Sequence<Range<Int>>) -> [Float] {
        var out: [Float] = []
        for range in ranges { out += UnsafeBufferPointer(start: network.parameters.values + range.lowerBound, count: range.count) }
        return out
    }

    private func restore(_ network: ProgressiveNetwork, ranges: [Range<Int>], values: [Float]) {
        var i = 0
        for range in ranges {
            for p in range { network.parameters.values[p] = values[i]; i += 1 }
        }
        precondition(i == values.count, "pnas: snapshot of \(values.count) values for \(i) parameters")
    }

    /// Per task t (1-based): `task<t>_depth`, `_width`, `_parameters` (the column's),
    /// `_parameters_in_use` (the network's after it), `_p_slot<i>` and `_p_width<m>` (the
    /// controller's probabilities along the chosen decision), `_validation_accuracy`, `_reward`,
    /// `_baseline`, `_mean_candidate_depth`, `_search_seconds`; and over the run
    /// `parameters_in_use`, `parameter_growth` (in use / first column), `search_seconds`.
    public func report() -> [String: Double] {
        var out: [String: Double] = [:]
        for (i, t) in tasks.enumerated() {
            let p = "task\(i + 1)_"
            out[p + "depth"] = Double(t.depth)
            out[p + "width"] = Double(t.width)
            out[p + "parameters"] = Double(t.parameters)
            out[p + "parameters_in_use"] = Double(t.parametersInUse)
            for (s, q) in t.slotProbabilities.enumerated() { out[p + "p_slot\(s + 1)"] = q }
            for (m, q) in t.widthProbabilities.enumerated() { out[p + "p_width\(m + 1)"] = q }
            out[p + "validation_accuracy"] = t.validationAccuracy
            out[p + "reward"] = t.reward
            out[p + "baseline"] = t.baseline
            out[p + "mean_candidate_depth"] = Double(t.depths.reduce(0, +)) / Double(max(t.depths.count, 1))
            out[p + "search_seconds"] = t.searchSeconds
        }
        if let last = tasks.last, let first = tasks.first {
            out["parameters_in_use"] = Double(last.parametersInUse)
            out["parameter_growth"] = Double(last.parametersInUse) / Double(max(first.parameters, 1))
            out["search_seconds"] = tasks.reduce(0) { $0 + $1.searchSeconds }
        }
        return out
    }
}
