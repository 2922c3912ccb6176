import NeuralNet
import Schema

extension ComponentKey {
    public static let mas = ComponentKey("mas")
}

/// Settings of Memory Aware Synapses.
public struct MASConfig: ComponentConfig {
    /// λ: the penalty is λ · Σ_i Ω_i (θ_i − θ*_i)². The default 1 is the authors' code default,
    /// not tuned here.
    public var lambda: Double
    /// Samples of the finished task Ω is estimated on (the first n of a shuffle); nil = all.
    public var samples: Int?

    public init(lambda: Double = 1, samples: Int? = nil) {
        self.lambda = lambda
        self.samples = samples
    }

    public static let key = ComponentKey.mas
    public static let summary = "Memory Aware Synapses: importance Ω = mean over samples of |∂‖F(x)‖²/∂θ| (unsupervised); penalty λ Σ Ω (θ − θ*)²"
    public static let citation = "Aljundi et al. 2018"
    public static var defaults: MASConfig { MASConfig() }
    public static var options: [ConfigOption<MASConfig>] {
        [
            .init(\.lambda, "lambda", flag: "mas-lambda", help: "the penalty strength λ", range: .atLeast(0)),
            .init(\.samples, "samples", flag: "mas-samples", help: "samples of the task the importance is estimated on",
                  unset: "all", range: .atLeast(1)),
        ]
    }

    public func makeComponent(scenario: Scenario) -> any Component { MemoryAwareSynapses(self, scenario: scenario) }
}

/// Memory Aware Synapses (Aljundi et al. 2018).
///
/// After task t, for every sample x_n of the task (or the first `samples` of a shuffle drawn from
/// the `mas-samples` stream of the task), F(x_n) is the vector of the task's outputs (the logits
/// of the outputs that compete while the task is trained: its own head in task-IL, the classes
/// seen so far in class-IL, all outputs in domain-IL), and
///
///   Ω_i ← Ω_i + (1/N) Σ_n |∂‖F(x_n)‖₂² / ∂θ_i|,   θ* ← θ,
///
/// the absolute value taken per sample, as the paper defines it. No labels are used. Every
/// later step adds λ Σ_i Ω_i (θ_i − θ*_i)² to the loss and 2λ Ω_i (θ_i − θ*_i) to the gradient.
/// Ω is summed over tasks (how the authors combine tasks is not stated in what we could read).
///
/// The per-sample gradient of a linear map's weight is x_nd δ_nh, so Σ_n |x_nd δ_nh| =
/// (|x|ᵀ|δ|)_dh — one sgemm per layer on the absolute inputs and the absolute per-sample output
/// gradients, and Σ_n |δ_nh| for biases: `PerSampleGradientSum` does this for every network of the
/// suite, and a network it does not know takes one whole-store backward pass per sample (the
/// same numbers up to summation order).
public final class MemoryAwareSynapses: Component {
    public let config: MASConfig
    public var key: String { MASConfig.key.rawValue }
    private let scenario: Scenario
    /// Ω, summed over the finished tasks; empty before the first.
    public private(set) var importance: [Float] = []
    public private(set) var anchor: [Float] = []
    private var tasks = 0
    private var importanceSamples = 0
    private var meanImportance = 0.0
    private var importanceSeconds = 0.0

    public init(_ config: MASConfig, scenario: Scenario) {
        self.config = config
        self.scenario = scenario
    }

    public func addPenalty(_ context: TrainingContext) -> Float {
        guard !importance.isEmpty else { return 0 }
        let store = context.network.parameters
        // One fused pass (the kernel EWC uses): g += 2λ · Ω (θ − θ*), returning Σ Ω (θ − θ*)².
        let sum = importance.withUnsafeBufferPointer { omega in
            anchor.withUnsafeBufferPointer { a in
                Kernels.addQuadraticPenalty(values: store.values, anchor: a.baseAddress!, weight: omega.baseAddress!,
                                            scale: 2 * Float(config.lambda), gradients: store.gradients, store.count)
            }
        }
        return Float(config.lambda * sum)
    }

    public func afterTask(_ context: TrainingContext) {
        var clock = MonotonicClock()
        let samples = context.taskSamples(atMost: config.samples, purpose: "mas-samples")
        let new = Self.importance(context.network, scenario: scenario, samples: samples, task: context.task)
        if importance.isEmpty { importance = new } else { for i in importance.indices { importance[i] += new[i] } }
        anchor = context.network.parameters.snapshot()
        tasks += 1
        importanceSamples = samples.count
        meanImportance = importance.reduce(0.0) { $0 + Double($1) } / Double(max(importance.count, 1))
        importanceSeconds += clock.lap()
    }

    /// `mas_importance_mean` (mean Ω after the last task), `mas_samples`, `mas_seconds` (time
    /// spent estimating Ω), `mas_tasks`, `mas_state_bytes` (Ω and θ*, 4 bytes per float).
    public func report() -> [String: Double] {
        ["mas_importance_mean": meanImportance, "mas_samples": Double(importanceSamples), "mas_seconds": importanceSeconds,
         "mas_tasks": Double(tasks), "mas_state_bytes": Double(4 * (importance.count + anchor.count))]
    }

    /// (1/N) Σ_n |∂‖F(x_n)‖²/∂θ| over `samples`, F the outputs that compete while training `task`:
    /// ∂‖F(x_n)‖²/∂z_n = 2 z_n on the task's outputs (0 elsewhere), the absolute per-sample
    /// gradients summed by `PerSampleGradientSum` (the same estimator as EWC's Fisher).
    public static func importance(_ network: any Network, scenario: Scenario, samples: [SampleRef], task: Int,
                                  strategy: PerSampleGradientSum.Strategy? = nil) -> [Float] {
        let K = scenario.outputCount
        let estimator = PerSampleGradientSum(network: network, scenario: scenario, reduction: .absolute, strategy: strategy)
        var omega = estimator.run(samples: samples, task: task, chunkSize: network.capacity) { chunk, add, _ in
            for j in 0..<(chunk.rows * K) { chunk.outputGradient[j] = chunk.masks[j] != 0 ? 2 * chunk.logits[j] : 0 }
            add()
        }
        if !samples.isEmpty {
            omega.withUnsafeMutableBufferPointer { Kernels.scale($0.baseAddress!, $0.count, by: 1 / Float(samples.count)) }
        }
        return omega
    }
}
