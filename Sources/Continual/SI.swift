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
/// step's change (θ after the step minus θ kept in `addPenalty`) and g_i the gradient the step was
/// taken on without this component's own penalty (kept in `addPenalty` before the penalty is
/// added: the task loss, any output loss and the penalties of components earlier in hook order).
/// At the end of the task, with Δ_i = θ_i(end of task) − θ_i(start of task):
///
///   Ω_i ← Ω_i + ω_i / (Δ_i² + ξ),  θ* ← θ(end of task),  ω ← 0,
///
/// and every later step adds c · Σ_i Ω_i (θ_i − θ*_i)² to the loss and 2c Ω_i (θ_i − θ*_i) to the
/// gradient. Ω is summed over tasks, as in Zenke et al.'s and van de Ven & Tolias's code. Works
/// with any network and optimizer, in every scenario and setting.
///
/// Cost per step: one pass over the parameters (`Kernels.addQuadraticPenalty`), which adds the
/// penalty, keeps g and θ for this step, and first adds the *previous* step's term
/// −g·(θ − θ before it) — θ now is θ after that step, since nothing but the optimizer's step moves
/// θ between one step's `afterStep` and the next step's `addPenalty` (LwF swaps the old weights in
/// and back bit for bit). `afterStep` only marks the term as owed; `afterTask` (and anything that
/// reads ω) adds it. When the optimizer moves θ at the end of a task (the nested optimizer applies
/// its open chunks), the term would see that move too, so then `afterStep` adds it at once, as a
/// second pass: the same ω, bit for bit, either way.
public final class SynapticIntelligence: Component {
    public let config: SIConfig
    public var key: String { SIConfig.key.rawValue }
    /// Ω, summed over the finished tasks; empty before the first.
    public private(set) var importance: [Float] = []
    /// θ*: the weights after the latest finished task.
    public private(set) var anchor: [Float] = []
    /// ω of the current task, without the owed term of the last step (`pathIntegral(_:)` adds it).
    private var omega: [Float] = []
    /// θ at the start of the current task.
    private var start: [Float] = []
    /// The gradient of the last step, without this penalty.
    private var gradient: [Float] = []
    /// θ before the last step.
    private var before: [Float] = []
    /// The last step's term is not yet in ω (it is added in the next pass, or by `settle`).
    private var owed = false
    /// Add each step's term in the next step's pass (false: in `afterStep`).
    private var deferring = true
    private var tasks = 0
    private var meanImportance = 0.0

    public init(_ config: SIConfig) { self.config = config }

    /// ω of the current task, up to the last step: adds the owed term first, so call it only where
    /// θ is still θ after the last step.
    public func pathIntegral(_ context: TrainingContext) -> [Float] {
        settle(context)
        return omega
    }

    public func beforeTask(_ context: TrainingContext) {
        let store = context.network.parameters, P = store.count
        settle(context)
        if omega.count != P {
            omega = [Float](repeating: 0, count: P)
            gradient = [Float](repeating: 0, count: P)
            before = [Float](repeating: 0, count: P)
        }
        deferring = !context.optimizer.movesParametersAtTaskEnd
        start = store.snapshot()
    }

    /// c Σ Ω (θ − θ*)², with 2c Ω (θ − θ*) added to the gradients; in the same pass adds the owed
    /// term of the last step to ω, and keeps the gradient as it is (the step's gradient without
    /// this penalty) and θ before the step, for this step's term.
    public func addPenalty(_ context: TrainingContext) -> Float {
        let store = context.network.parameters, P = store.count
        guard gradient.count == P else { return 0 }  // no task begun
        let fold = owed
        owed = false
        return gradient.withUnsafeMutableBufferPointer { keptGradients in
            before.withUnsafeMutableBufferPointer { keptValues in
                omega.withUnsafeMutableBufferPointer { omega in
                    let ω = fold ? omega.baseAddress! : nil
                    guard !importance.isEmpty else {
                        Kernels.keepForPathIntegral(values: store.values, gradients: store.gradients, P,
                                                    keepingGradientsIn: keptGradients.baseAddress!, keepingValuesIn: keptValues.baseAddress!,
                                                    foldingPathIntegralInto: ω)
                        return 0
                    }
                    // One fused pass (the kernel EWC uses): ω −= g′ (θ − θ′) of the last step, then
                    // g′ = g and θ′ = θ, and g += 2c · Ω (θ − θ*), returning Σ Ω (θ − θ*)².
                    let sum = importance.withUnsafeBufferPointer { weights in
                        anchor.withUnsafeBufferPointer { a in
                            Kernels.addQuadraticPenalty(values: store.values, anchor: a.baseAddress!, weight: weights.baseAddress!,
                                                        scale: 2 * Float(config.c), gradients: store.gradients, P,
                                                        keepingGradientsIn: keptGradients.baseAddress!, keepingValuesIn: keptValues.baseAddress!,
                                                        foldingPathIntegralInto: ω)
                        }
                    }
                    return Float(config.c * sum)
                }
            }
        }
    }

    /// The step's term ω_i += −g_i (θ_i − θ_i before the step) is owed, or added now when not
    /// deferring.
    public func afterStep(_ context: TrainingContext) {
        guard gradient.count == context.network.parameters.count else { return }
        owed = true
        if !deferring { settle(context) }
    }

    /// Adds the owed term: ω_i −= g_i (θ_i − θ_i before the step), θ as it is now.
    private func settle(_ context: TrainingContext) {
        guard owed else { return }
        owed = false
        let values = context.network.parameters.values, P = omega.count
        guard P == context.network.parameters.count else { return }  // the network grew: no step to add
        omega.withUnsafeMutableBufferPointer { omega in
            gradient.withUnsafeBufferPointer { g in
                before.withUnsafeBufferPointer { previous in
                    for i in 0..<P { omega[i] -= g[i] * (values[i] - previous[i]) }
                }
            }
        }
    }

    /// Ω += ω / (Δ² + ξ); θ* = θ; ω = 0.
    public func afterTask(_ context: TrainingContext) {
        settle(context)
        let store = context.network.parameters, P = store.count
        if importance.isEmpty { importance = [Float](repeating: 0, count: P) }
        let xi = Float(config.xi)
        var sum = 0.0
        for i in 0..<P {
            let delta = store.values[i] - start[i]
            importance[i] += omega[i] / (delta * delta + xi)
            sum += Double(importance[i])
            omega[i] = 0
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
         "si_state_bytes": Double(4 * (importance.count + anchor.count + omega.count + start.count + gradient.count + before.count))]
    }
}
