import Continual
import NeuralNet

extension ComponentKey {
    static let weightDecay = ComponentKey("weight-decay")
}

/// Settings of weight decay: the one declaration the command line, YAML, JSON, `--help` and
/// validation are made from.
struct WeightDecayConfig: ComponentConfig {
    /// λ: the penalty is λ/2 · Σ_i θ_i².
    var lambda: Double = 1e-4

    static let key = ComponentKey.weightDecay
    static let summary = "weight decay: penalty λ/2 Σ θ_i², a pull toward zero"
    static let citation = "Krogh & Hertz 1992"
    static var defaults: WeightDecayConfig { WeightDecayConfig() }
    static var options: [ConfigOption<WeightDecayConfig>] {
        [.init(\.lambda, "lambda", flag: "weight-decay-lambda", help: "the penalty strength λ", range: .atLeast(0))]
    }

    func makeComponent(scenario: Scenario) -> any Component { WeightDecay(lambda: Float(lambda)) }
}

/// Adds λ/2 Σ θ² to every step's loss and λ θ to the gradient (after the task loss's backward
/// pass, before the optimizer step: `addPenalty`).
final class WeightDecay: Component {
    let lambda: Float
    var key: String { WeightDecayConfig.key.rawValue }
    private var steps = 0
    private var penaltySum = 0.0

    init(lambda: Float) { self.lambda = lambda }

    func addPenalty(_ context: TrainingContext) -> Float {
        let store = context.network.parameters
        var sum: Float = 0
        for i in 0..<store.count {
            sum += store.values[i] * store.values[i]
            store.gradients[i] += lambda * store.values[i]
        }
        steps += 1
        penaltySum += Double(0.5 * lambda * sum)
        return 0.5 * lambda * sum
    }

    func report() -> [String: Double] { ["penalty_mean": steps > 0 ? penaltySum / Double(steps) : 0] }
}
