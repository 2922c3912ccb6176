import NeuralNet

extension ComponentKey {
    public static let lwf = ComponentKey("lwf")
}

/// Settings of Learning without Forgetting.
public struct LwFConfig: ComponentConfig {
    /// How the distillation loss is weighed against the current task's loss (t the 1-based task).
    public enum Weighting: String, OptionEnum {
        /// L_task + weight · (t − 1) · L_distill: each task seen so far has an equal share, as van
        /// de Ven & Tolias 2019 weigh it, their loss multiplied by t (see `convex`).
        case tasks
        /// L_task + weight · L_distill, whatever the task.
        case fixed
        /// (1/t) L_task + weight · (1 − 1/t) L_distill: `tasks` divided by t, exactly the loss of van
        /// de Ven & Tolias 2019's code (their `rnt` = 1/t). The same optimum as `tasks`; under Adam
        /// the two differ only through ε and through the moments carried across a task switch
        /// (relative to `tasks`, the whole gradient's scale drops by t/(t+1) at each switch).
        /// The factor 1/t is on the whole task loss: rows another component appends are scaled too.
        case convex
    }

    /// How the distillation cross-entropy of one row is reduced over the classes.
    public enum Reduction: String, OptionEnum {
        /// Σ over the classes of the softmax (the cross-entropy of Li & Hoiem 2017).
        case sum
        /// That sum divided by |S|, the number of classes the current network's softmax spans —
        /// an average over the classes as well as the rows, as in the code that produced van de Ven
        /// & Tolias 2019's published tables (the distillation loss took the mean over all elements
        /// of the [rows, |S|] array until the code changed to the sum in May 2019). In class-IL,
        /// |S| = the classes seen so far (2t on split MNIST), so the distillation is 2t times weaker.
        case mean
    }

    /// In class-IL, the outputs the current network's softmax spans in the distillation loss.
    public enum Softmax: String, OptionEnum {
        /// Every class seen so far (the current task's included), the targets zero on the current
        /// task's classes: the distillation also pulls the new classes' logits down on the current
        /// inputs, as in van de Ven & Tolias 2019's code (the targets zero-padded to the active
        /// classes).
        case seen
        /// The distilled classes (those of earlier tasks) only: keeps their relative logits, not
        /// their level against the new classes.
        case distilled
    }

    /// T: the softmax temperature of the distillation (van de Ven & Tolias 2019: 2).
    public var temperature: Double
    public var weight: Double
    public var weighting: Weighting
    /// Class-IL only: the current network's softmax over the classes seen so far or over the
    /// distilled ones (task-IL and domain-IL have one answer: the distilled head).
    public var softmax: Softmax
    /// The distillation's reduction over the classes: a sum (the default) or a mean.
    public var reduction: Reduction

    public init(temperature: Double = 2, weight: Double = 1, weighting: Weighting = .tasks, softmax: Softmax = .seen,
                reduction: Reduction = .sum) {
        self.temperature = temperature
        self.weight = weight
        self.weighting = weighting
        self.softmax = softmax
        self.reduction = reduction
    }

    /// The factors on the task loss and on the distillation loss while task `t` (1-based) is
    /// trained: tasks (1, w(t − 1)), fixed (1, w), convex (1/t, w(1 − 1/t)), w the weight.
    public func lossWeights(task t: Int) -> (task: Double, distillation: Double) {
        let t = Double(t)
        switch weighting {
        case .tasks: return (1, weight * (t - 1))
        case .fixed: return (1, weight)
        case .convex: return (1 / t, weight * (1 - 1 / t))
        }
    }

    public static let key = ComponentKey.lwf
    public static let summary = "Learning without Forgetting: distils the previous model's outputs for earlier tasks/classes on the current inputs (temperature T, loss ×T²)"
    public static let citation = "Li & Hoiem 2017"
    public static var defaults: LwFConfig { LwFConfig() }
    public static var options: [ConfigOption<LwFConfig>] {
        [
            .init(\.temperature, "temperature", flag: "lwf-temperature", help: "the distillation temperature T", range: .above(0)),
            .init(\.weight, "weight", flag: "lwf-weight", help: "the distillation loss's weight", range: .atLeast(0)),
            .init(\.weighting, "weighting", flag: "lwf-weighting", help: "tasks (task loss + weight·(t−1)·distillation: an equal share per task), fixed (task loss + weight·distillation) or convex (tasks divided by t: (1/t)·task loss + weight·(1−1/t)·distillation, the reference code's exact loss)"),
            .init(\.softmax, "softmax", flag: "lwf-softmax", help: "class-IL: the current network's softmax over the classes seen so far, targets zero on the new ones (seen), or over the distilled classes only (distilled)"),
            .init(\.reduction, "reduction", flag: "lwf-reduction", help: "the distillation cross-entropy summed over the softmax's classes (sum) or averaged over them (mean: divided by their number, as the code behind the 2019 published tables did)"),
        ]
    }

    public func makeComponent(scenario: Scenario) -> any Component { LearningWithoutForgetting(self, scenario: scenario) }
}

/// Learning without Forgetting (Li & Hoiem 2017), as van de Ven & Tolias 2019 run it.
///
/// After each task the weights are kept (θ_old). On every step of a later task the current rows'
/// inputs go through the network with θ_old (in `augment`: the weights are swapped in for one
/// forward pass and back, so the network's workspace is free again before the step's own forward)
/// and their logits are kept as z_old. In `addOutputLoss`, for each group — the distilled outputs
/// G and the outputs S ⊇ G the current network's softmax spans —
///
///   L_G = (T² / N) Σ_n Σ_{k∈G} −q_nk log p_nk,  q = softmax_G(z_old / T), p = softmax_S(z / T),
///   ∂L_G/∂z_nk = (T / N) (p_nk − q_nk)  for k ∈ S  (q_nk = 0 for k ∈ S \ G),
///
/// over the N current rows (with `reduction` mean, L_G and its gradient divided by |S|), and the
/// loss is w_t · mean over groups of L_G, with w_t the distillation's factor of `weighting`
/// (`LwFConfig.lossWeights`; with `convex` the task loss is scaled by 1/t through
/// `taskLossScale`). The groups — which outputs are distilled in each setting:
/// - task-IL: every earlier task's head, each its own softmax (G = S = the outputs task s trains,
///   s < t);
/// - class-IL: G = the classes of tasks 1…t−1; S = every class so far (G and the current task's
///   classes, whose targets are zero: van de Ven & Tolias 2019's code pads the targets with zeros
///   to the active classes), or S = G with `softmax` = distilled;
/// - domain-IL: G = S = all outputs (the shared head).
/// G is the outputs that competed while the previous task was trained, S those that compete now
/// (`ContinualTask.trainMask`). With S = G the loss keeps the old classes' logits relative to
/// each other only; with S ⊃ G it also pulls the current task's logits down on the current inputs,
/// against the cross-entropy that pushes them up — what lets LwF keep a little in class-IL. Cost per
/// step: one extra forward pass on the current rows and two copies of the parameters. Works with
/// any network in every scenario and setting.
public final class LearningWithoutForgetting: Component {
    public let config: LwFConfig
    public var key: String { LwFConfig.key.rawValue }
    private let scenario: Scenario
    /// θ_old: the weights after the latest finished task; empty before the first.
    public private(set) var previousWeights: [Float] = []
    private var current: [Float] = []
    /// The distilled groups of the current task.
    public private(set) var groups: [DistillationGroup] = []
    private var inputs = Matrix(rows: 1, columns: 1)
    private var oldLogits = Matrix(rows: 1, columns: 1)
    private var labels: [Int32] = []
    private var rows = 0
    private var lossSum = 0.0
    private var lossSteps = 0

    public init(_ config: LwFConfig, scenario: Scenario) {
        self.config = config
        self.scenario = scenario
    }

    /// The output groups distilled while training task `t` (see the type's documentation).
    public static func groups(in scenario: Scenario, task t: Int, softmax: LwFConfig.Softmax = .seen) -> [DistillationGroup] {
        guard t > 0 else { return [] }
        switch scenario.config.setting {
        case .task: return (0..<t).map { DistillationGroup(scenario.tasks[$0].trainMask) }
        case .domain: return [DistillationGroup(scenario.tasks[t - 1].trainMask)]
        case .class:
            let old = scenario.tasks[t - 1].trainMask
            return [DistillationGroup(distilled: old, softmax: softmax == .seen ? scenario.tasks[t].trainMask : old)]
        }
    }

    public func beforeTask(_ context: TrainingContext) {
        groups = previousWeights.isEmpty ? [] : Self.groups(in: scenario, task: context.task, softmax: config.softmax)
        let capacity = context.network.capacity
        if inputs.rows < capacity {
            inputs = Matrix(rows: capacity, columns: scenario.inputCount)
            oldLogits = Matrix(rows: capacity, columns: scenario.outputCount)
            current = [Float](repeating: 0, count: context.network.parameters.count)
            labels = [Int32](repeating: 0, count: capacity)
        }
    }

    /// The previous model's logits on the current rows.
    public func augment(_ batch: Batch, _ context: TrainingContext) {
        rows = 0
        guard !groups.isEmpty else { return }
        rows = batch.current
        let network = context.network, store = network.parameters, P = store.count
        labels.withUnsafeMutableBufferPointer {
            scenario.gather(batch.refs, rows: rows, test: false, currentTask: context.task, x: inputs.data, labels: $0.baseAddress!, masks: nil)
        }
        current.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: store.values, count: P) }
        previousWeights.withUnsafeBufferPointer { store.values.update(from: $0.baseAddress!, count: P) }
        let logits = network.forward(inputs.data, rows: rows)
        oldLogits.data.update(from: logits, count: rows * scenario.outputCount)
        current.withUnsafeBufferPointer { store.values.update(from: $0.baseAddress!, count: P) }
    }

    public func addOutputLoss(logits: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, batch: Batch,
                              _ context: TrainingContext) -> Float {
        guard rows > 0 else { return 0 }
        let w = config.lossWeights(task: context.task + 1).distillation
        let loss = Self.distillation(logits: logits, targets: oldLogits.data, groups: groups, rows: rows,
                                     classes: scenario.outputCount, temperature: Float(config.temperature),
                                     weight: Float(w), classMean: config.reduction == .mean, gradient: gradient)
        lossSum += Double(loss)
        lossSteps += 1
        return loss
    }

    /// 1/t with the `convex` weighting (t the 1-based task), else 1.
    public func taskLossScale(_ context: TrainingContext) -> Float {
        Float(config.lossWeights(task: context.task + 1).task)
    }

    public func afterTask(_ context: TrainingContext) {
        previousWeights = context.network.parameters.snapshot()
    }

    /// `lwf_loss_mean` (mean distillation loss over the steps that had one), `lwf_state_bytes`
    /// (θ_old, the swap copy, the inputs and logits buffers; 4 bytes per float).
    public func report() -> [String: Double] {
        ["lwf_loss_mean": lossSteps > 0 ? lossSum / Double(lossSteps) : 0,
         "lwf_state_bytes": Double(4 * (previousWeights.count + current.count + inputs.rows * inputs.columns + oldLogits.rows * oldLogits.columns))]
    }

    /// `distillation` with each mask both the distilled outputs and the softmax's (S = G).
    public static func distillation(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, groups: [[UInt8]], rows: Int, classes K: Int,
        temperature T: Float, weight: Float, classMean: Bool = false, gradient: UnsafeMutablePointer<Float>
    ) -> Float {
        distillation(logits: logits, targets: targets, groups: groups.map { DistillationGroup($0) }, rows: rows, classes: K,
                     temperature: T, weight: weight, classMean: classMean, gradient: gradient)
    }

    /// weight · mean over groups of (T²/N) (1/c_S) Σ_n Σ_{k∈G} −q_nk log p_nk (q from `targets`, a
    /// softmax at temperature T over the group's distilled outputs G; p from `logits`, a softmax at
    /// T over its softmax outputs S ⊇ G; c_S = |S| with `classMean`, else 1); adds its gradient
    /// weight · (T/N)(p − q) / (c_S |groups|) on S (q = 0 on S \ G) into `gradient` [rows, K];
    /// returns the loss.
    public static func distillation(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, groups: [DistillationGroup], rows: Int, classes K: Int,
        temperature T: Float, weight: Float, classMean: Bool = false, gradient: UnsafeMutablePointer<Float>
    ) -> Float {
        guard !groups.isEmpty, rows > 0 else { return 0 }
        var total: Double = 0
        for group in groups {
            let classes = classMean ? Float(group.softmax.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }) : 1
            let scale = weight / Float(groups.count) / classes
            precondition(zip(group.distilled, group.softmax).allSatisfy { $0 == 0 || $1 != 0 },
                         "LwF: a group's softmax outputs must include its distilled outputs")
            group.distilled.withUnsafeBufferPointer { m in
                group.softmax.withUnsafeBufferPointer { s in
                    for n in 0..<rows {
                        let z = logits + n * K, y = targets + n * K, g = gradient + n * K
                        var zMax = -Float.infinity, yMax = -Float.infinity
                        for k in 0..<K where s[k] != 0 { zMax = max(zMax, z[k] / T) }
                        for k in 0..<K where m[k] != 0 { yMax = max(yMax, y[k] / T) }
                        var zSum: Float = 0, ySum: Float = 0
                        for k in 0..<K where s[k] != 0 { zSum += _expf(z[k] / T - zMax) }
                        for k in 0..<K where m[k] != 0 { ySum += _expf(y[k] / T - yMax) }
                        let logZ = _logf(zSum) + zMax
                        var rowLoss: Double = 0
                        for k in 0..<K where s[k] != 0 {
                            let q = m[k] != 0 ? _expf(y[k] / T - yMax) / ySum : 0
                            let logP = z[k] / T - logZ
                            rowLoss -= Double(q * logP)
                            g[k] += scale * T / Float(rows) * (_expf(logP) - q)
                        }
                        total += Double(scale) * rowLoss
                    }
                }
            }
        }
        return Float(Double(T * T) / Double(rows) * total)
    }
}

/// One distillation term of LwF: the outputs G whose old softmax is the target (`distilled`) and
/// the outputs S ⊇ G the current network's softmax spans (`softmax`), as output masks.
public struct DistillationGroup: Equatable, Sendable {
    public var distilled: [UInt8]
    public var softmax: [UInt8]

    public init(distilled: [UInt8], softmax: [UInt8]) {
        self.distilled = distilled
        self.softmax = softmax
    }

    /// S = G.
    public init(_ mask: [UInt8]) { self.init(distilled: mask, softmax: mask) }
}
