import Foundation
import NeuralNet

/// The first cell of the nested-learning notebook (`NL_DEMO.ipynb`), step for step, in `Double`
/// (NumPy's float64): a scalar "fast memory" and "slow memory", both 0.5, predicting their mean
/// toward a target of 10; no random numbers are involved.
///
/// Every epoch i = 1…20: p = (f + s)/2, e = p − 10; f ← f − 0.5 e; the loss sum grows by |e|.
/// Every 4th epoch: L̄ = sum/4; γ ← clip(γ + 0.01 (1 − L̄), 0.5, 1) (`ConsolidationFactor`, the
/// rule the nested optimizer uses); s ← s − 0.05 e (the *last* epoch's error, not the period's
/// sum); f ← γ f; the prediction, L̄ and γ are printed; the sum is reset. γ starts at 0.95.
public enum NestedLearningDemo {
    /// What is printed at one consolidation.
    public struct Consolidation: Sendable, Equatable {
        public let epoch: Int
        public let prediction: Double
        public let averageLoss: Double
        public let factor: Double
    }

    /// Runs the notebook's `nested_learning_demo(epochs)` and returns the consolidations and
    /// the printed lines, formatted as the notebook's f-strings.
    public static func run(epochs: Int = 20) -> (consolidations: [Consolidation], lines: [String]) {
        var factor = ConsolidationFactor(initial: 0.95, rate: 0.01, lower: 0.5, upper: 1.0)
        var fast = 0.5, slow = 0.5
        let fastRate = 0.5, slowRate = 0.05, target = 10.0, frequency = 4
        func predict() -> Double { (fast + slow) / 2 }
        var lines = ["--- Nested Learning Simulation Start (Target: 10.0) ---"]
        var consolidations: [Consolidation] = []
        var cumulativeLoss = 0.0
        for i in stride(from: 1, through: epochs, by: 1) {
            let taskError = predict() - target
            fast -= fastRate * taskError
            cumulativeLoss += abs(taskError)
            if i % frequency == 0 {
                let averageLoss = cumulativeLoss / Double(frequency)
                let newFactor = factor.update(meanLoss: averageLoss)
                slow -= slowRate * taskError
                fast *= newFactor
                consolidations.append(Consolidation(epoch: i, prediction: predict(), averageLoss: averageLoss, factor: newFactor))
                lines += ["", "--- Epoch \(i) (Deep Optimizer Update) ---",
                          "Prediction: " + format(predict(), 4),
                          "Avg Loss (Meta-Signal): " + format(averageLoss, 4),
                          "Learned Consolidation Factor: " + format(newFactor, 6)]
                cumulativeLoss = 0
            }
        }
        lines += ["", "--- Final Results ---", "Final Prediction: " + format(predict(), 4),
                  "Final Learned Consolidation Factor (Learned Rule): " + format(factor.value, 6)]
        return (consolidations, lines)
    }

    /// `f"{x:.<digits>f}"`: fixed notation, correctly rounded (as C's printf).
    static func format(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}
