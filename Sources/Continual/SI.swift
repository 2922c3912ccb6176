import NeuralNet

extension ComponentKey {
    public static let si = ComponentKey("si")
}

/// Settings of Synaptic Intelligence.
public struct SIConfig: ComponentConfig {
    /// c: the penalty is c · Σ_i Ω_i (θ_i − θ*_i)². The default 1 is not tuned; van de Ven &
    /// Tolias 2019 chose c = 50 (split task-IL), 500 (domain-IL), 0.5 (class-IL) by grid search.
    public var c: Double
    /// ξ: the damping in Ω = ω / (Δ² + ξ) (van de Ven & Tolias 2019 use 0.1).
    public var xi: Double

    public init(c: Double = 1, xi: Double = 0.1) {
        self.c = c
        self.xi = xi
    }

    public static let key = ComponentKey.si
    public static let summary = "Synaptic Intelligence: importance from the path integral of −g·Δθ over each task, Ω = ω/(Δ² + ξ); penalty c Σ Ω (θ − θ*)²"
    public static let citation = "Zenke et al. 2017"
    public static var defaults: SIConfig { SIConfig() }
    public static var options: [ConfigOption<SIConfig>] {
        [
            .init(\.c, "c", flag: "si-c", help: "the penalty strength c", range: .atLeast(0)),
            .init(\.xi, "xi", flag: "si-xi", help: "the damping ξ in ω/(Δ² + ξ)", range: .above(0)),
        ]
    }

    public func makeComponent(scenario: Scenario) -> any Component { SynapticIntelligence(self) }
}

/// Synaptic Intelligence (Zenke, Poole & Ganguli 2017).
///
/// During task t every optimizer step adds, per parameter, ω_i += −g_i · Δθ_i, where Δθ_i is the
/// step's change (θ after the step, read in `afterStep`, minus θ kept in `addPenalty`) and g_i the
/// gradient the step was taken on without this component's own penalty (kept in `addPenalty`
/// before the penalty is added: the task loss, any output loss and the penalties of components
/// earlier in hook order). At the end of the task,
/// with Δ_i = θ_i(end of task) − θ_i(start of task):
///
///   Ω_i ← Ω_i + ω_i / (Δ_i² + ξ),  θ* ← θ(end of task),  ω ← 0,
///
/// and every later step adds c · Σ_i Ω_i (θ_i − θ*_i)² to the loss and 2c Ω_i (θ_i − θ*_i) to the
/// gradient. Ω is summed over tasks, as in Zenke et al.'s and van de Ven & Tolias's code. Works
/// with any network and optimizer, in every scenario and setting. Cost per step: two passes over
/// the parameters — the penalty fused with the copies of g and θ (`Kernels.addQuadraticPenalty`),
/// and the path integral after the step. (No hook between `addPenalty` and the optimizer step
/// changes θ, so θ kept in `addPenalty` is θ before the step.)
public final class SynapticIntelligence: Component {
    public let config: SIConfig
    public var key: String { SIConfig.key.rawValue }
    /// Ω, summed over the finished tasks; empty before the first.
    public private(set) var importance: [Float] = []
    /// θ*: the weights after the latest finished task.
    public private(set) var anchor: [Float] = []
    /// ω of the current task.
    public private(set) var pathIntegral: [Float] = []
    /// θ at the start of the current task.
    private var start: [Float] = []
    /// The gradient of the step being taken, without this penalty.
    private var gradient: [Float] = []
    /// θ before the step being taken.
    private var before: [Float] = []
    private var tasks = 0
    private var meanImportance = 0.0

    public init(_ config: SIConfig) { self.config = config }

    public func beforeTask(_ context: TrainingContext) {
        let store = context.network.parameters, P = store.count
        if pathIntegral.count != P {
            pathIntegral = [Float](repeating: 0, count: P)
            gradient = [Float](repeating: 0, count: P)
            before = [Float](repeating: 0, count: P)
        }
        start = store.snapshot()
    }

    /// c Σ Ω (θ − θ*)², with 2c Ω (θ − θ*) added to the gradients; first keeps the gradient as it
    /// is (the step's gradient without this penalty) and θ before the step, for the path integral.
    public func addPenalty(_ context: TrainingContext) -> Float {
        let store = context.network.parameters, P = store.count
        guard gradient.count == P else { return 0 }  // no task begun
        return gradient.withUnsafeMutableBufferPointer { keptGradients in
            before.withUnsafeMutableBufferPointer { keptValues in
                guard !importance.isEmpty else {
                    keptGradients.baseAddress!.update(from: store.gradients, count: P)
                    keptValues.baseAddress!.update(from: store.values, count: P)
                    return 0
                }
                // One fused pass (the kernel EWC uses): g += 2c · Ω (θ − θ*), returning Σ Ω (θ − θ*)²,
                // with the copies of g and θ.
                let sum = importance.withUnsafeBufferPointer { omega in
                    anchor.withUnsafeBufferPointer { a in
                        Kernels.addQuadraticPenalty(values: store.values, anchor: a.baseAddress!, weight: omega.baseAddress!,
                                                    scale: 2 * Float(config.c), gradients: store.gradients, P,
                                                    keepingGradientsIn: keptGradients.baseAddress!, keepingValuesIn: keptValues.baseAddress!)
                    }
                }
                return Float(config.c * sum)
            }
        }
    }

    /// ω_i += −g_i (θ_i − θ_i before the step).
    public func afterStep(_ context: TrainingContext) {
        let values = context.network.parameters.values, P = pathIntegral.count
        guard P == context.network.parameters.count else { return }
        pathIntegral.withUnsafeMutableBufferPointer { omega in
            gradient.withUnsafeBufferPointer { g in
                before.withUnsafeBufferPointer { previous in
                    for i in 0..<P { omega[i] -= g[i] * (values[i] - previous[i]) }
                }
            }
        }
    }

    /// Ω += ω / (Δ² + ξ); θ* = θ; ω = 0.
    public func afterTask(_ context: TrainingContext) {
        let store = context.network.parameters, P = store.count
        if importance.isEmpty { importance = [Float](repeating: 0, count: P) }
        let xi = Float(config.xi)
        var sum = 0.0
        for i in 0..<P {
            let delta = store.values[i] - start[i]
            importance[i] += pathIntegral[i] / (delta * delta + xi)
            sum += Double(importance[i])
            pathIntegral[i] = 0
        }
        anchor = store.snapshot()
        tasks += 1
        meanImportance = sum / Double(max(P, 1))
    }

    /// `si_importance_mean` (mean Ω after the last task), `si_tasks`, and the bytes of Ω, θ*, ω,
    /// the task's start and the copies of the gradient and of θ before the step (`si_state_bytes`,
    /// 4 bytes per float; the θ copy was the trainer's before SI kept its own).
    public func report() -> [String: Double] {
        ["si_importance_mean": meanImportance, "si_tasks": Double(tasks),
         "si_state_bytes": Double(4 * (importance.count + anchor.count + pathIntegral.count + start.count + gradient.count + before.count))]
    }
}
