import Foundation
import NeuralNet
import Testing
@testable import Continual

/// The hooks the coming methods need, each used by a small component made here, with a check
/// that fails when the trainer does not call the hook at its place in the step.
@Suite struct HookTests {
    /// Split mnist-mini, task-IL, 2 tasks, 784-16-10, plain SGD (so Δθ = −η g exactly up to rounding).
    static let scenario = try! Scenario(ScenarioConfig(kind: .split, setting: .task, tasks: 2), dataset: mnistMini, seed: 1)
    static let training = TrainingConfig(hidden: [16], optimizer: .sgd, learningRate: 0.05, batchSize: 32, iterations: 30, evalBatchSize: 200)

    func trainer(_ components: [any Component]) -> Trainer {
        var trainer = Trainer(scenario: Self.scenario, config: Self.training, seed: 4)
        trainer.components = components
        return trainer
    }

    /// Distillation's hook: a loss on the batch's logits, ½ w Σ_{n,k} z_nk² / N, its gradient
    /// w z / N added to ∂L/∂logits before the backward pass.
    final class LogitShrink: Component {
        let weight: Float
        var calls = 0
        init(weight: Float) { self.weight = weight }
        var key: String { "logit-shrink" }
        func addOutputLoss(logits: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, batch: Batch,
                           _ context: TrainingContext) -> Float {
            calls += 1
            let n = batch.count * batch.outputCount
            var sum: Float = 0
            for i in 0..<n {
                sum += logits[i] * logits[i]
                gradient[i] += weight * logits[i] / Float(batch.count)
            }
            return 0.5 * weight * sum / Float(batch.count)
        }
    }

    /// The mean |logit| of the first task's first 200 test samples.
    func meanAbsoluteLogit(_ network: any Network) -> Float {
        let s = Self.scenario, rows = 200
        let x = Matrix(rows: rows, columns: s.inputCount)
        let refs = s.tasks[0].testIndices.prefix(rows).map { SampleRef(task: 0, index: $0) }
        var labels = [Int32](repeating: 0, count: rows)
        refs.withUnsafeBufferPointer { r in s.gather(r.baseAddress!, rows: rows, test: true, x: x.data, labels: &labels, masks: nil) }
        let logits = network.forward(x.data, rows: rows)
        return (0..<rows * s.outputCount).map { abs(logits[$0]) }.reduce(0, +) / Float(rows * s.outputCount)
    }

    /// With a strong output loss the logits end up far smaller than without it; the hook is
    /// called once per step; the returned loss includes it.
    @Test func outputLossReachesTheBackwardPass() {
        let plain = trainer([]), network = plain.makeNetwork()
        _ = plain.run(network: network, optimizer: SGD(learningRate: 0.05, parameterCount: network.parameters.count))
        let shrink = LogitShrink(weight: 5)
        let withLoss = trainer([shrink]), shrunk = withLoss.makeNetwork()
        _ = withLoss.run(network: shrunk, optimizer: SGD(learningRate: 0.05, parameterCount: shrunk.parameters.count))
        #expect(shrink.calls == 60)
        let a = meanAbsoluteLogit(network), b = meanAbsoluteLogit(shrunk)
        #expect(b < 0.5 * a, "mean |z| with the output loss \(b), without \(a)")
    }

    /// Projection's hook: zero the gradient of the first layer's weights after backward and
    /// before the step, so those weights never move while every other parameter does.
    final class FreezeSlice: Component {
        let range: Range<Int>
        init(range: Range<Int>) { self.range = range }
        var key: String { "freeze" }
        func adjustGradient(_ context: TrainingContext) {
            for i in range { context.network.parameters.gradients[i] = 0 }
        }
    }

    @Test func gradientHookRunsBeforeTheOptimizerStep() {
        let t = trainer([]), network = t.makeNetwork()
        let slice = network.parameters.layout.slices[0].range
        let frozen = trainer([FreezeSlice(range: slice)])
        let before = network.parameters.snapshot()
        _ = frozen.run(network: network, optimizer: SGD(learningRate: 0.05, parameterCount: network.parameters.count))
        let after = network.parameters.snapshot()
        #expect(slice.allSatisfy { before[$0] == after[$0] })
        let rest = slice.upperBound..<after.count
        #expect(rest.contains { before[$0] != after[$0] })
    }

    /// SI's hook: after each step the parameters before it. With SGD, θ − θ_prev = −η g up to
    /// Float rounding; the path integral −Σ g·Δθ of a descent is positive.
    final class UpdateObserver: Component {
        var steps = 0
        var worst: Float = 0
        var pathIntegral: Double = 0
        var key: String { "observer" }
        var observesUpdates: Bool { true }
        func afterUpdate(previous: UnsafePointer<Float>, _ context: TrainingContext) {
            steps += 1
            let store = context.network.parameters, eta = context.optimizer.learningRate
            for i in 0..<store.count {
                let delta = store.values[i] - previous[i]
                worst = max(worst, abs(delta + eta * store.gradients[i]) / max(abs(eta * store.gradients[i]), 1e-6))
                pathIntegral -= Double(store.gradients[i]) * Double(delta)
            }
        }
    }

    @Test func parameterUpdateIsObservedEachStep() {
        let observer = UpdateObserver()
        let t = trainer([observer]), network = t.makeNetwork()
        _ = t.run(network: network, optimizer: SGD(learningRate: 0.05, parameterCount: network.parameters.count))
        #expect(observer.steps == 60)
        #expect(observer.worst < 1e-2, "largest relative gap between Δθ and −ηg: \(observer.worst)")
        #expect(observer.pathIntegral > 0)
    }

    /// The evaluation hook: a component that has the untrained network evaluated (a stand-in for
    /// a classifier of its own or one retrained from memory) makes every row of R equal b.
    final class EvaluateUntrained: Component {
        let untrained: any Network
        var calls = 0
        init(untrained: any Network) { self.untrained = untrained }
        var key: String { "evaluate-untrained" }
        func networkForEvaluation(_ context: TrainingContext) -> (any Network)? {
            calls += 1
            return untrained
        }
    }

    @Test func evaluationHookReplacesTheNetwork() {
        let plain = trainer([]).run()
        let b = plain.initial["task-il"]!
        #expect(plain.accuracy["task-il"]!.allSatisfy { $0 != b })
        let hook = EvaluateUntrained(untrained: trainer([]).makeNetwork())
        let result = trainer([hook]).run()
        #expect(hook.calls == 3)
        #expect(result.initial["task-il"] == b)
        #expect(result.accuracy["task-il"]!.allSatisfy { $0 == b })
    }
}
