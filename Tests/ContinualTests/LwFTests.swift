import Foundation
import NeuralNet
import Testing
@testable import Continual

@Suite struct LwFTests {
    /// The distillation loss's gradient w.r.t. the logits against central differences, for two
    /// groups (task-IL heads) and one group (class-IL's classes so far), T = 2 and T = 0.5; a
    /// wrong gradient (the (p − q) without the 1/T of the chain rule, i.e. ×T) is caught.
    @Test func distillationGradientMatchesFiniteDifferences() {
        let rows = 3, K = 6
        var random = RandomStream(seed: 4, purpose: "logits")
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: rows * K)
        defer { logits.deallocate() }
        for i in 0..<(rows * K) { logits[i] = 3 * (random.nextFloat() - 0.5) }
        let targets = (0..<(rows * K)).map { _ in 3 * (random.nextFloat() - 0.5) }
        let headA: [UInt8] = [1, 1, 0, 0, 0, 0], headB: [UInt8] = [0, 0, 1, 1, 0, 0], seen: [UInt8] = [1, 1, 1, 1, 0, 0]
        for (groups, T) in [([headA, headB], Float(2)), ([seen], Float(2)), ([seen], Float(0.5))] {
            func loss(_ gradient: UnsafeMutablePointer<Float>?) -> Double {
                var scratch = [Float](repeating: 0, count: rows * K)
                return Double(targets.withUnsafeBufferPointer { y in
                    scratch.withUnsafeMutableBufferPointer { g in
                        LearningWithoutForgetting.distillation(logits: logits, targets: y.baseAddress!, groups: groups, rows: rows,
                                                               classes: K, temperature: T, weight: 1.5, gradient: gradient ?? g.baseAddress!)
                    }
                })
            }
            var analytic = [Float](repeating: 0, count: rows * K)
            _ = analytic.withUnsafeMutableBufferPointer { loss($0.baseAddress!) }
            // Outputs outside every group get no gradient.
            for n in 0..<rows { #expect(analytic[n * K + 4] == 0 && analytic[n * K + 5] == 0) }
            let check = GradientCheck(epsilon: 1e-2, floor: 1e-3)
            let result = check.compare(values: logits, analytic: analytic, indices: Array(0..<(rows * K)), loss: { loss(nil) })
            #expect(result.maxError < 1e-2, "T \(T), groups \(groups.count): \(result)")
            let wrong = check.compare(values: logits, analytic: analytic.map { $0 * T }, indices: Array(0..<(rows * K)), loss: { loss(nil) })
            #expect(T == 1 || wrong.maxError > 0.1)
        }
        // Equal logits: the loss is the targets' entropy scaled, and the gradient zero.
        var g = [Float](repeating: 0, count: K)
        let z: [Float] = [1, 2, 0, 0, 0, 0]
        let value = LearningWithoutForgetting.distillation(logits: z, targets: z, groups: [headA], rows: 1, classes: K,
                                                           temperature: 1, weight: 1, gradient: &g)
        let p1 = 1 / (1 + Float(M_E))
        let entropy = -(p1 * log(p1) + (1 - p1) * log(1 - p1))
        #expect(abs(value - entropy) < 1e-5 && g.allSatisfy { abs($0) < 1e-6 })
    }

    /// With the current network's softmax over more outputs than are distilled (class-IL's
    /// classes so far, targets zero on the current task's), worked by hand for one row, T = 1:
    /// z = 0 on outputs 0–3, targets equal on the distilled 0–1, so p = ¼ each, q = (½, ½, 0, 0):
    /// loss = −2 · ½ · log ¼ = log 4 and gradient p − q = (−¼, −¼, ¼, ¼) — the current task's
    /// logits (2, 3) are pulled down; with S = G the same row has loss log 2 and zero gradient.
    /// Then the gradient against central differences with S ⊃ G at T = 2.
    @Test func distillationOverTheClassesSeenByHand() {
        let K = 6
        let old: [UInt8] = [1, 1, 0, 0, 0, 0], seen: [UInt8] = [1, 1, 1, 1, 0, 0]
        let z = [Float](repeating: 0, count: K), y: [Float] = [0.3, 0.3, 5, 5, 5, 5]
        var g = [Float](repeating: 0, count: K)
        let wide = LearningWithoutForgetting.distillation(logits: z, targets: y, groups: [DistillationGroup(distilled: old, softmax: seen)],
                                                          rows: 1, classes: K, temperature: 1, weight: 1, gradient: &g)
        #expect(abs(wide - Float(log(4.0))) < 1e-6)
        for (k, expected) in [Float(-0.25), -0.25, 0.25, 0.25, 0, 0].enumerated() { #expect(abs(g[k] - expected) < 1e-6, "output \(k)") }
        var h = [Float](repeating: 0, count: K)
        let narrow = LearningWithoutForgetting.distillation(logits: z, targets: y, groups: [DistillationGroup(old)],
                                                            rows: 1, classes: K, temperature: 1, weight: 1, gradient: &h)
        #expect(abs(narrow - Float(log(2.0))) < 1e-6 && h.allSatisfy { abs($0) < 1e-7 })

        let rows = 3, T: Float = 2
        var random = RandomStream(seed: 5, purpose: "logits")
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: rows * K)
        defer { logits.deallocate() }
        for i in 0..<(rows * K) { logits[i] = 3 * (random.nextFloat() - 0.5) }
        let targets = (0..<(rows * K)).map { _ in 3 * (random.nextFloat() - 0.5) }
        let group = DistillationGroup(distilled: old, softmax: seen)
        func loss(_ gradient: UnsafeMutablePointer<Float>?) -> Double {
            var scratch = [Float](repeating: 0, count: rows * K)
            return Double(scratch.withUnsafeMutableBufferPointer { s in
                LearningWithoutForgetting.distillation(logits: logits, targets: targets, groups: [group], rows: rows, classes: K,
                                                       temperature: T, weight: 1.5, gradient: gradient ?? s.baseAddress!)
            })
        }
        var analytic = [Float](repeating: 0, count: rows * K)
        _ = analytic.withUnsafeMutableBufferPointer { loss($0.baseAddress!) }
        for n in 0..<rows {
            #expect(analytic[n * K + 4] == 0 && analytic[n * K + 5] == 0)
            #expect(analytic[n * K + 2] > 0 && analytic[n * K + 3] > 0, "row \(n): the current task's logits are pulled down")
        }
        let check = GradientCheck(epsilon: 1e-2, floor: 1e-3)
        let result = check.compare(values: logits, analytic: analytic, indices: Array(0..<(rows * K)), loss: { loss(nil) })
        #expect(result.maxError < 1e-2, "\(result)")
    }

    /// The mean reduction over the classes (`reduction` mean), worked by hand on the row above
    /// (T = 1, S = 4 outputs): loss log 4 / 4 and gradient (p − q)/4 = (−1/16, −1/16, 1/16, 1/16);
    /// with S = G (2 outputs) the same row has loss log 2 / 2. Then the gradient against central
    /// differences (S ⊃ G and two task-IL heads, T = 2), where the sum's gradient (×|S|) fails.
    @Test func distillationMeanOverClasses() {
        let K = 6
        let old: [UInt8] = [1, 1, 0, 0, 0, 0], seen: [UInt8] = [1, 1, 1, 1, 0, 0]
        let z = [Float](repeating: 0, count: K), y: [Float] = [0.3, 0.3, 5, 5, 5, 5]
        var g = [Float](repeating: 0, count: K)
        let wide = LearningWithoutForgetting.distillation(logits: z, targets: y, groups: [DistillationGroup(distilled: old, softmax: seen)],
                                                          rows: 1, classes: K, temperature: 1, weight: 1, classMean: true, gradient: &g)
        #expect(abs(wide - Float(log(4.0) / 4)) < 1e-6)
        for (k, expected) in ([-1.0 / 16, -1.0 / 16, 1.0 / 16, 1.0 / 16, 0, 0] as [Float]).enumerated() {
            #expect(abs(g[k] - expected) < 1e-7, "output \(k)")
        }
        var h = [Float](repeating: 0, count: K)
        let narrow = LearningWithoutForgetting.distillation(logits: z, targets: y, groups: [DistillationGroup(old)],
                                                            rows: 1, classes: K, temperature: 1, weight: 1, classMean: true, gradient: &h)
        #expect(abs(narrow - Float(log(2.0) / 2)) < 1e-6)

        let rows = 3, T: Float = 2
        var random = RandomStream(seed: 6, purpose: "logits")
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: rows * K)
        defer { logits.deallocate() }
        for i in 0..<(rows * K) { logits[i] = 3 * (random.nextFloat() - 0.5) }
        let targets = (0..<(rows * K)).map { _ in 3 * (random.nextFloat() - 0.5) }
        let headA = DistillationGroup(old), headB = DistillationGroup([0, 0, 1, 1, 0, 0])
        for groups in [[DistillationGroup(distilled: old, softmax: seen)], [headA, headB]] {
            func loss(_ gradient: UnsafeMutablePointer<Float>?, mean: Bool = true) -> Double {
                var scratch = [Float](repeating: 0, count: rows * K)
                return Double(scratch.withUnsafeMutableBufferPointer { s in
                    LearningWithoutForgetting.distillation(logits: logits, targets: targets, groups: groups, rows: rows, classes: K,
                                                           temperature: T, weight: 1.5, classMean: mean, gradient: gradient ?? s.baseAddress!)
                })
            }
            var analytic = [Float](repeating: 0, count: rows * K), summed = analytic
            let meanLoss = analytic.withUnsafeMutableBufferPointer { loss($0.baseAddress!) }
            let sumLoss = summed.withUnsafeMutableBufferPointer { loss($0.baseAddress!, mean: false) }
            let width = Float(groups[0].softmax.filter { $0 != 0 }.count)
            #expect(abs(meanLoss * Double(width) - sumLoss) < 1e-5 * sumLoss)
            for i in 0..<(rows * K) { #expect(abs(analytic[i] * width - summed[i]) <= 1e-6 * max(1, abs(summed[i]))) }
            let check = GradientCheck(epsilon: 1e-2, floor: 1e-3)
            let result = check.compare(values: logits, analytic: analytic, indices: Array(0..<(rows * K)), loss: { loss(nil) })
            #expect(result.maxError < 1e-2, "groups \(groups.count): \(result)")
            let wrong = check.compare(values: logits, analytic: summed, indices: Array(0..<(rows * K)), loss: { loss(nil) })
            #expect(wrong.maxError > 0.1)
        }
    }

    /// The factors of each weighting for t = 1…5 (weight 0.7): convex is tasks divided by t.
    @Test func lossWeightsPerWeighting() {
        for t in 1...5 {
            let tasks = LwFConfig(weight: 0.7, weighting: .tasks).lossWeights(task: t)
            let fixed = LwFConfig(weight: 0.7, weighting: .fixed).lossWeights(task: t)
            let convex = LwFConfig(weight: 0.7, weighting: .convex).lossWeights(task: t)
            #expect(tasks.task == 1 && abs(tasks.distillation - 0.7 * Double(t - 1)) < 1e-12)
            #expect(fixed.task == 1 && fixed.distillation == 0.7)
            #expect(convex.task == 1 / Double(t))
            #expect(abs(convex.distillation - tasks.distillation / Double(t)) < 1e-12, "t \(t)")
        }
    }

    /// One training step's whole ∂L/∂logits (the task loss and the distillation, as the trainer
    /// hands it to the backward pass) and its loss with the convex weighting are exactly 1/t of
    /// the tasks weighting's, for t = 2…5 on split mnist-mini class-IL and task-IL (learning rate 0,
    /// so both runs stay at the same weights and the previous model is the initial one; the
    /// distillation is not zero there since its softmax spans more outputs than the old one's, or
    /// other heads), and for t = 2 after a real first task (learning rate 0.01), where the two
    /// runs are bit-identical until the switch.
    @Test func convexWeightingIsTheTasksWeightingOverT() throws {
        func sessions(_ setting: Setting, learningRate: Double) throws -> [TrainingSession] {
            let scenario = try Scenario(ScenarioConfig(kind: .split, setting: setting, tasks: 5), dataset: mnistMini, seed: 1)
            let config = TrainingConfig(hidden: [8], optimizer: .adam, learningRate: learningRate, batchSize: 16, iterations: 5)
            return [LwFConfig.Weighting.tasks, .convex].map { weighting in
                let trainer = Trainer(scenario: scenario, config: config, seed: 1,
                                      settings: ComponentSettings(LwFConfig(weight: 0.7, weighting: weighting)))
                let net = trainer.makeNetwork()
                return TrainingSession(trainer, network: net, optimizer: trainer.settings.makeOptimizer(for: net, training: config))
            }
        }
        func compare(_ pair: [TrainingSession], task t: Int, _ label: String) {
            pair.forEach { $0.beginTask(t) }
            let losses = pair.map { $0.step() }
            let n = pair[0].batch.count * pair[0].dLogits.columns
            let tasks = Array(UnsafeBufferPointer(start: pair[0].dLogits.data, count: n))
            let convex = Array(UnsafeBufferPointer(start: pair[1].dLogits.data, count: n))
            let scale = Float(1) / Float(t + 1)
            #expect(tasks.contains { abs($0) > 1e-3 })
            var worst: Float = 0
            for i in 0..<n { worst = max(worst, abs(convex[i] - scale * tasks[i]) / max(1e-3, abs(tasks[i]))) }
            #expect(worst < 1e-5, "\(label) t \(t + 1): relative error \(worst)")
            #expect(abs(losses[1] - scale * losses[0]) < 1e-5 * losses[0], "\(label) t \(t + 1): \(losses)")
            pair.forEach { $0.endTask() }
        }
        for setting in [Setting.class, .task] {
            let frozen = try sessions(setting, learningRate: 0)
            frozen.forEach { $0.beginTask(0); _ = $0.step(); $0.endTask() }
            for t in 1..<5 { compare(frozen, task: t, "\(setting) frozen") }
        }
        let trained = try sessions(.class, learningRate: 0.01)
        for session in trained {
            session.beginTask(0); for _ in 0..<5 { _ = session.step() }; session.endTask()
        }
        #expect(trained[0].network.parameters.snapshot() == trained[1].network.parameters.snapshot())
        compare(trained, task: 1, "class trained")
    }

    /// Which outputs are distilled while task t = 2 (0-based) is trained on split mnist-mini (5 tasks,
    /// digits in order): task-IL every earlier head ({0,1} and {2,3}), each its own softmax;
    /// class-IL the classes of tasks 1–2 ({0,1,2,3}) under a softmax over every class so far
    /// ({0,…,5}), or over {0,1,2,3} with `softmax` = distilled; domain-IL the shared head (2 outputs).
    @Test func distilledOutputsPerSetting() throws {
        func units(_ setting: Setting, _ softmax: LwFConfig.Softmax = .seen) throws -> [[[Int]]] {
            let scenario = try Scenario(ScenarioConfig(kind: .split, setting: setting, tasks: 5), dataset: mnistMini, seed: 1)
            func on(_ mask: [UInt8]) -> [Int] { mask.indices.filter { mask[$0] != 0 } }
            return LearningWithoutForgetting.groups(in: scenario, task: 2, softmax: softmax).map { [on($0.distilled), on($0.softmax)] }
        }
        #expect(try units(.task) == [[[0, 1], [0, 1]], [[2, 3], [2, 3]]])
        #expect(try units(.class) == [[[0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]])
        #expect(try units(.class, .distilled) == [[[0, 1, 2, 3], [0, 1, 2, 3]]])
        #expect(try units(.domain) == [[[0, 1], [0, 1]]])
        #expect(try units(.task, .distilled) == units(.task))
        let first = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        #expect(LearningWithoutForgetting.groups(in: first, task: 0).isEmpty)
    }

    /// The previous model's logits come from a forward pass with θ_old swapped in, and the
    /// current weights are back in place afterwards.
    @Test func previousModelLogitsAndWeightsRestored() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        let config = TrainingConfig(hidden: [6], optimizer: .adam, learningRate: 0.01, batchSize: 8, iterations: 5)
        let trainer = Trainer(scenario: scenario, config: config, seed: 1, settings: ComponentSettings(LwFConfig()))
        let net = trainer.makeNetwork()
        let session = TrainingSession(trainer, network: net, optimizer: trainer.settings.makeOptimizer(for: net, training: config))
        session.beginTask(0); for _ in 0..<5 { _ = session.step() }; session.endTask()
        let lwf = try #require(trainer.components[0] as? LearningWithoutForgetting)
        let old = net.parameters.snapshot()
        session.beginTask(1); for _ in 0..<3 { _ = session.step() }
        #expect(lwf.previousWeights == old)
        let now = net.parameters.snapshot()
        #expect(now != old)
        // One more augment by hand: the weights are unchanged by it.
        let batch = Batch(capacity: 16, inputCount: 784, outputCount: 10)
        for r in 0..<4 { batch.append(SampleRef(task: 1, index: scenario.tasks[1].trainIndices[r])) }
        batch.current = 4
        lwf.augment(batch, session.context)
        #expect(net.parameters.snapshot() == now)
        #expect(lwf.report()["lwf_loss_mean"]! > 0)
    }

    /// Split mnist-mini task-IL (5 tasks, 784-100-10, Adam 0.01, batch 64, 200 steps per task):
    /// LwF (T = 2, the default weighting) keeps more than finetune on each of three seeds. Measured
    /// when written (ACC, seeds 1/2/3): lwf 0.987 / 0.985 / 0.985, finetune 0.916 / 0.833 / 0.940.
    @Test func beatsFinetuneOnSplitTaskIL() throws {
        for seed: UInt64 in [1, 2, 3] {
            let finetune = try splitACC(ComponentSettings(), setting: .task, seed: seed)
            let lwf = try splitACC(ComponentSettings(LwFConfig()), setting: .task, seed: seed)
            #expect(lwf > finetune + 0.02, "seed \(seed): lwf \(lwf) vs finetune \(finetune)")
            print("LwF task-IL seed \(seed): lwf \(lwf) finetune \(finetune)")
        }
    }
}
