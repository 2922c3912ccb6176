import NeuralNet

extension ComponentKey {
    public static let lwf = ComponentKey("lwf")
}

/// Settings of Learning without Forgetting.
public struct LwFConfig: ComponentConfig {
    /// How the distillation loss is weighed against the current task's loss.
    public enum Weighting: String, OptionEnum {
        /// weight · (t − 1) at task t (1-based): each task seen so far has an equal share, as van
        /// de Ven & Tolias 2019 weigh it ((1/t) L_current + (1 − 1/t) L_distill; with Adam a
        /// constant scale of the whole loss changes nothing, so the two are the same training).
        case tasks
        /// weight, whatever the task.
        case fixed
    }

    /// T: the softmax temperature of the distillation (van de Ven & Tolias 2019: 2).
    public var temperature: Double
    public var weight: Double
    public var weighting: Weighting

    public init(temperature: Double = 2, weight: Double = 1, weighting: Weighting = .tasks) {
        self.temperature = temperature
        self.weight = weight
        self.weighting = weighting
    }

    public static let key = ComponentKey.lwf
    public static let summary = "Learning without Forgetting: distils the previous model's outputs for earlier tasks/classes on the current inputs (temperature T, loss ×T²)"
    public static let citation = "Li & Hoiem 2017"
    public static var defaults: LwFConfig { LwFConfig() }
    public static var options: [ConfigOption<LwFConfig>] {
        [
            .init(\.temperature, "temperature", flag: "lwf-temperature", help: "the distillation temperature T", range: .above(0)),
            .init(\.weight, "weight", flag: "lwf-weight", help: "the distillation loss's weight", range: .atLeast(0)),
            .init(\.weighting, "weighting", flag: "lwf-weighting", help: "tasks (weight·(t−1): an equal share per task) or fixed (weight)"),
        ]
    }

    public func makeComponent(scenario: Scenario) -> any Component { LearningWithoutForgetting(self, scenario: scenario) }
}

/// Learning without Forgetting (Li & Hoiem 2017), as van de Ven & Tolias 2019 run it.
///
/// After each task the weights are kept (θ_old). On every step of a later task the current rows'
/// inputs go through the network with θ_old (in `augment`: the weights are swapped in for one
/// forward pass and back, so the network's workspace is free again before the step's own forward)
/// and their logits are kept as z_old. In `addOutputLoss`, for each group G of outputs to distil,
///
///   L_G = (T² / N) Σ_n Σ_{k∈G} −q_nk log p_nk,  q = softmax_G(z_old / T), p = softmax_G(z / T),
///   ∂L_G/∂z_nk = (T / N) (p_nk − q_nk)  for k ∈ G,
///
/// over the N current rows, and the loss is w_t · mean over groups of L_G, with w_t the weight
/// (`weighting`). The groups — which outputs are distilled in each setting:
/// - task-IL: every earlier task's head, each its own softmax (the outputs task s trains, s < t);
/// - class-IL: one softmax over the classes of tasks 1…t−1;
/// - domain-IL: one softmax over all outputs (the shared head).
/// These are the outputs that competed while the previous task was trained
/// (`ContinualTask.trainMask`). Cost per step: one extra forward pass on the current rows and two
/// copies of the parameters. Works with any network in every scenario and setting.
public final class LearningWithoutForgetting: Component {
    public let config: LwFConfig
    public var key: String { LwFConfig.key.rawValue }
    private let scenario: Scenario
    /// θ_old: the weights after the latest finished task; empty before the first.
    public private(set) var previousWeights: [Float] = []
    private var current: [Float] = []
    /// The distilled groups of the current task, as output masks.
    public private(set) var groups: [[UInt8]] = []
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
    public static func groups(in scenario: Scenario, task t: Int) -> [[UInt8]] {
        guard t > 0 else { return [] }
        switch scenario.config.setting {
        case .task: return (0..<t).map { scenario.tasks[$0].trainMask }
        case .class, .domain: return [scenario.tasks[t - 1].trainMask]
        }
    }

    public func beforeTask(_ context: TrainingContext) {
        groups = previousWeights.isEmpty ? [] : Self.groups(in: scenario, task: context.task)
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
        let t = Double(context.task + 1)
        let w = config.weighting == .tasks ? config.weight * (t - 1) : config.weight
        let loss = Self.distillation(logits: logits, targets: oldLogits.data, groups: groups, rows: rows,
                                     classes: scenario.outputCount, temperature: Float(config.temperature),
                                     weight: Float(w), gradient: gradient)
        lossSum += Double(loss)
        lossSteps += 1
        return loss
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

    /// weight · mean over groups G of (T²/N) Σ_n Σ_{k∈G} −q_nk log p_nk (q from `targets`, p from
    /// `logits`, both softmaxes at temperature T over G); adds its gradient
    /// weight · (T/N)(p − q) / |groups| into `gradient` [rows, K]; returns the loss.
    public static func distillation(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, groups: [[UInt8]], rows: Int, classes K: Int,
        temperature T: Float, weight: Float, gradient: UnsafeMutablePointer<Float>
    ) -> Float {
        guard !groups.isEmpty, rows > 0 else { return 0 }
        let scale = weight / Float(groups.count)
        var total: Double = 0
        for group in groups {
            group.withUnsafeBufferPointer { m in
                for n in 0..<rows {
                    let z = logits + n * K, y = targets + n * K, g = gradient + n * K
                    var zMax = -Float.infinity, yMax = -Float.infinity
                    for k in 0..<K where m[k] != 0 { zMax = max(zMax, z[k] / T); yMax = max(yMax, y[k] / T) }
                    var zSum: Float = 0, ySum: Float = 0
                    for k in 0..<K where m[k] != 0 {
                        zSum += _expf(z[k] / T - zMax)
                        ySum += _expf(y[k] / T - yMax)
                    }
                    let logZ = _logf(zSum) + zMax
                    var rowLoss: Double = 0
                    for k in 0..<K where m[k] != 0 {
                        let q = _expf(y[k] / T - yMax) / ySum
                        let logP = z[k] / T - logZ
                        rowLoss -= Double(q * logP)
                        g[k] += scale * T / Float(rows) * (_expf(logP) - q)
                    }
                    total += rowLoss
                }
            }
        }
        return Float(Double(scale) * Double(T * T) / Double(rows) * total)
    }
}
