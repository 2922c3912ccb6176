import NeuralNet

extension ComponentKey {
    public static let l2 = ComponentKey("l2")
}

/// Settings of the L2 pull toward the previous task's weights.
public struct L2Config: ComponentConfig {
    /// λ: the penalty is λ/2 · Σ_i (θ_i − θ*_i)². The default 1 is not tuned (on permuted
    /// mnist-mini, 2 tasks, 784-100-10, `L2Tests` sees BWT −0.059 at 1 and −0.031 at 0.1, finetune −0.082).
    public var lambda: Double

    public init(lambda: Double = 1) { self.lambda = lambda }

    public static let key = ComponentKey.l2
    public static let summary = "L2 pull toward the previous task's weights: penalty λ/2 Σ (θ_i − θ*_i)², θ* the weights after the last task"
    public static let citation = "Kirkpatrick et al. 2017 (the uniform-Fisher baseline)"
    public static var defaults: L2Config { L2Config() }
    public static var options: [ConfigOption<L2Config>] {
        [.init(\.lambda, "lambda", flag: "l2-lambda", help: "the penalty strength λ", range: .atLeast(0))]
    }

    public func makeComponent(scenario: Scenario) -> any Component { L2Pull(self) }
}

/// The L2 baseline: after each task the weights are kept as θ*, and every later step adds
/// λ/2 Σ_i (θ_i − θ*_i)² to the loss and λ (θ − θ*) to the gradient — EWC with the Fisher
/// replaced by 1 everywhere (Kirkpatrick et al. 2017 compare against it). Works with any network,
/// in every scenario and setting.
public final class L2Pull: Component {
    public let config: L2Config
    public var key: String { L2Config.key.rawValue }
    /// θ*: the weights after the latest finished task; empty before the first.
    public private(set) var anchor: [Float] = []

    public init(_ config: L2Config) { self.config = config }

    /// λ/2 Σ (θ − θ*)², with λ (θ − θ*) added to the gradients.
    public func addPenalty(_ context: TrainingContext) -> Float {
        guard !anchor.isEmpty else { return 0 }
        let store = context.network.parameters, lambda = Float(config.lambda)
        var sum: Double = 0
        anchor.withUnsafeBufferPointer { a in
            for i in 0..<store.count {
                let d = store.values[i] - a[i]
                store.gradients[i] += lambda * d
                sum += Double(d * d)
            }
        }
        return Float(0.5 * config.lambda * sum)
    }

    public func afterTask(_ context: TrainingContext) {
        let store = context.network.parameters
        anchor = Array(UnsafeBufferPointer(start: store.values, count: store.count))
    }
}
