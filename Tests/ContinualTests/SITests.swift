import Foundation
import NeuralNet
import Testing
@testable import Continual

/// A 784-6-5-10 MLP and a context on split mnist-mini class-IL, for driving a component's hooks by hand.
func tinyContext(seed: UInt64 = 7) throws -> (MLP, TrainingContext) {
    let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
    var random = RandomStream(seed: seed, purpose: "init")
    let net = MLP(inputs: 784, hidden: [6, 5], outputs: 10, capacity: 4, random: &random)
    let context = TrainingContext(scenario: scenario, network: net, optimizer: SGD(learningRate: 0.1, parameterCount: net.parameters.count), seed: 1)
    return (net, context)
}

/// Split mnist-mini, 5 tasks (digits in order), 784-100-10, Adam with rate `learningRate`, batch 64,
/// `iterations` per task, seed `seed`: ACC after the last task in `setting`.
func splitACC(_ settings: ComponentSettings, setting: Setting, learningRate: Double = 0.01, iterations: Int = 200, seed: UInt64 = 1) throws -> Double {
    let scenario = try Scenario(ScenarioConfig(kind: .split, setting: setting, tasks: 5), dataset: mnistMini, seed: seed)
    let trainer = Trainer(scenario: scenario, config: TrainingConfig(hidden: [100], optimizer: .adam, learningRate: learningRate, batchSize: 64, iterations: iterations),
                          seed: seed, settings: settings)
    let R = trainer.run().accuracy[setting.rawValue]!
    return R.last!.reduce(0, +) / Double(R.count)
}

@Suite struct SITests {
    /// The path integral of a quadratic, worked by hand. Parameter i has the loss a_i θ_i²/2
    /// (gradient a_i θ_i), starts at 2 and takes two plain SGD steps with η = 0.5, ξ = 0.25:
    /// - a = 1: θ 2 → 1 → 0.5; ω = −(2)(−1) − (1)(−0.5) = 2.5; Δ = −1.5; Ω = 2.5 / (2.25 + 0.25) = 1.
    /// - a = 0.5: θ 2 → 1.5 → 1.125; ω = (1)(0.5) + (0.75)(0.375) = 25/32; Δ = −7/8;
    ///   Ω = (25/32) / (49/64 + 1/4) = 10/13.
    /// Then the penalty c Σ Ω (θ − θ*)² by hand, and its gradient against central differences.
    @Test func pathIntegralOfAQuadraticByHand() throws {
        let (net, context) = try tinyContext()
        let store = net.parameters, P = store.count
        let a: [Float] = (0..<P).map { $0 % 2 == 0 ? 1 : 0.5 }
        let si = SynapticIntelligence(SIConfig(c: 3, xi: 0.25))
        for i in 0..<P { store.values[i] = 2 }
        si.beforeTask(context)
        for _ in 0..<2 {
            for i in 0..<P { store.gradients[i] = a[i] * store.values[i] }
            #expect(si.addPenalty(context) == 0)
            for i in 0..<P { store.values[i] -= 0.5 * store.gradients[i] }
            si.afterStep(context)
        }
        let omega = si.pathIntegral(context)
        #expect(abs(omega[0] - 2.5) < 1e-6 && abs(omega[1] - 25.0 / 32) < 1e-6)
        si.afterTask(context)
        for i in 0..<P {
            let expected: Float = i % 2 == 0 ? 1 : 10.0 / 13
            #expect(abs(si.importance[i] - expected) < 1e-6, "Ω[\(i)] = \(si.importance[i]), by hand \(expected)")
        }
        #expect(si.pathIntegral(context).allSatisfy { $0 == 0 })

        // Task 2: the path integral reads the gradient without SI's own penalty.
        si.beforeTask(context)
        for i in 0..<P { store.values[i] += 0.1 * Float(i % 3) }
        for i in 0..<P { store.gradients[i] = 1 }
        let value = si.addPenalty(context)
        var byHand = 0.0
        for i in 0..<P { byHand += 3 * Double(si.importance[i]) * Double(0.1 * Float(i % 3)) * Double(0.1 * Float(i % 3)) }
        #expect(abs(Double(value) - byHand) < 1e-5 * byHand, "penalty \(value), by hand \(byHand)")
        for i in 0..<P { store.values[i] -= 0.5 }
        si.afterStep(context)
        let after = si.pathIntegral(context)
        #expect(after.allSatisfy { abs($0 - 0.5) < 1e-6 }, "ω = −1 · (−0.5) everywhere: \(after)")
    }

    /// The penalty's gradient 2c Ω (θ − θ*) against central differences after a task of real
    /// training steps (Ω from a real path), and half of it caught.
    @Test func penaltyGradientMatchesFiniteDifferences() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        let config = TrainingConfig(hidden: [6, 5], optimizer: .adam, learningRate: 0.01, batchSize: 16, iterations: 20)
        let trainer = Trainer(scenario: scenario, config: config, seed: 1, settings: ComponentSettings(SIConfig(c: 2)))
        let net = trainer.makeNetwork()
        let session = TrainingSession(trainer, network: net, optimizer: trainer.settings.makeOptimizer(for: net, training: config))
        session.beginTask(0)
        for _ in 0..<20 { _ = session.step() }
        session.endTask()
        let si = try #require(trainer.components[0] as? SynapticIntelligence)
        #expect(si.importance.contains { $0 > 0 })
        var move = RandomStream(seed: 2, purpose: "move")
        for i in 0..<net.parameters.count { net.parameters.values[i] += 0.05 * (move.nextFloat() - 0.5) }
        func penalty() -> Double {
            net.parameters.zeroGradients()
            return Double(si.addPenalty(session.context))
        }
        _ = penalty()
        let analytic = Array(UnsafeBufferPointer(start: net.parameters.gradients, count: net.parameters.count))
        let indices = Array(stride(from: 0, to: net.parameters.count, by: 29)) + [net.parameters.count - 1]
        // Exactly quadratic per entry: a large step has no truncation error.
        let check = GradientCheck(epsilon: 1, floor: 1e-3)
        let result = check.compare(values: net.parameters.values, analytic: analytic, indices: indices, loss: penalty)
        #expect(result.maxError < 1e-2, "\(result)")
        let wrong = check.compare(values: net.parameters.values, analytic: analytic.map { $0 / 2 }, indices: indices, loss: penalty)
        #expect(wrong.maxError > 0.1)
    }

    /// SI adds each step's path-integral term in the next step's pass; with an optimizer that
    /// moves θ at the end of a task it adds it in `afterStep` instead. Beside each other component
    /// in turn, two tasks of training give the same weights and the same Ω, bit for bit, both ways
    /// (the same optimizer, once marked as moving θ at the end of a task). Nested brings its own
    /// optimizer, which moves θ then: both runs take the eager path there, and are compared too.
    /// PNAS is left out: its column search trains candidate networks, too slow for this test.
    @Test func deferredPathIntegralIsBitIdenticalBesideEveryComponent() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        let config = TrainingConfig(hidden: [6, 5], optimizer: .adam, learningRate: 0.01, batchSize: 16, iterations: 12)
        func train(_ keys: [ComponentKey], markedMoving: Bool) throws -> (values: [Float], importance: [Float]) {
            let trainer = Trainer(scenario: scenario, config: config, seed: 1, settings: ComponentSettings(enabling: keys))
            let net = trainer.makeNetwork()
            var optimizer = trainer.settings.makeOptimizer(for: net, training: config)
            if markedMoving { optimizer = MovingAtTaskEnd(optimizer) }
            let session = TrainingSession(trainer, network: net, optimizer: optimizer)
            for t in 0..<2 {
                session.beginTask(t)
                for _ in 0..<12 { _ = session.step() }
                session.endTask()
            }
            let si = try #require(trainer.components.lazy.compactMap { $0 as? SynapticIntelligence }.first)
            return (Array(UnsafeBufferPointer(start: net.parameters.values, count: net.parameters.count)), si.importance)
        }
        for other in ComponentKey.allCases where other != .si && other != .pnas {
            let keys = ComponentRegistry.standard.ordered([other, .si])
            let deferred = try train(keys, markedMoving: false), eager = try train(keys, markedMoving: true)
            #expect(deferred.importance.contains { $0 != 0 }, "\(keys)")
            #expect(zip(deferred.values, eager.values).allSatisfy { $0.bitPattern == $1.bitPattern }, "θ, \(keys)")
            #expect(zip(deferred.importance, eager.importance).allSatisfy { $0.bitPattern == $1.bitPattern }, "Ω, \(keys)")
        }
    }

    /// Split mnist-mini task-IL (5 tasks, 784-100-10, Adam 0.01, batch 64, 200 steps per task —
    /// at Adam 0.001 and 60 steps finetune hardly forgets on this small set, ACC 0.98): SI keeps
    /// more of the earlier tasks than finetune, on each of three seeds. c = 50 is van de Ven &
    /// Tolias's split task-IL value, not tuned here. Measured when written (ACC, seeds 1/2/3): si 0.973 / 0.967 / 0.969, finetune 0.916 / 0.833 / 0.940.
    @Test func beatsFinetuneOnSplitTaskIL() throws {
        for seed: UInt64 in [1, 2, 3] {
            let finetune = try splitACC(ComponentSettings(), setting: .task, seed: seed)
            let si = try splitACC(ComponentSettings(SIConfig(c: 50)), setting: .task, seed: seed)
            #expect(si > finetune + 0.02, "seed \(seed): si \(si) vs finetune \(finetune)")
            print("SI task-IL seed \(seed): si \(si) finetune \(finetune)")
        }
    }
}

/// An optimizer that steps as `base` does but says it moves θ at the end of a task, so SI adds
/// each step's term in `afterStep`.
private final class MovingAtTaskEnd: Optimizer {
    let base: any Optimizer
    init(_ base: any Optimizer) { self.base = base }
    var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }
    var trainable: [Range<Int>] {
        get { base.trainable }
        set { base.trainable = newValue }
    }
    func step(_ store: ParameterStore) { base.step(store) }
    func stepAndClearGradients(_ store: ParameterStore) { base.stepAndClearGradients(store) }
    func endTask(_ store: ParameterStore) { base.endTask(store) }
    var movesParametersAtTaskEnd: Bool { true }
}
