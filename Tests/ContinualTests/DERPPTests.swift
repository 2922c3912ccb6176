import Foundation
import NeuralNet
import Testing
@testable import Continual

@Suite struct DERPPTests {
    /// α (1/n) Σ_r (1/K) ‖z_r − z*_r‖² and its gradient against central differences (slots out of
    /// order, one repeated), its value by hand, and a wrong gradient (without the 2) caught.
    @Test func logitLossGradientMatchesFiniteDifferences() {
        let n = 3, K = 4
        var random = RandomStream(seed: 5, purpose: "logits")
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: n * K)
        defer { logits.deallocate() }
        for i in 0..<(n * K) { logits[i] = 2 * (random.nextFloat() - 0.5) }
        let stored = (0..<(5 * K)).map { _ in 2 * (random.nextFloat() - 0.5) }
        let slots = [4, 0, 4]
        func loss(_ gradient: inout [Float]) -> Double {
            Double(gradient.withUnsafeMutableBufferPointer { g in
                DERPlusPlus.logitLoss(logits: logits, stored: stored, slots: slots, rows: n, classes: K, alpha: 0.7,
                                      gradient: g.baseAddress!)
            })
        }
        var analytic = [Float](repeating: 0, count: n * K)
        let value = loss(&analytic)
        var byHand = 0.0
        for r in 0..<n { for k in 0..<K { let d = Double(logits[r * K + k] - stored[slots[r] * K + k]); byHand += d * d } }
        byHand *= 0.7 / Double(n * K)
        #expect(abs(value - byHand) < 1e-6)
        let check = GradientCheck(epsilon: 1e-2, floor: 1e-3)
        func numeric() -> Double { var scratch = [Float](repeating: 0, count: n * K); return loss(&scratch) }
        let result = check.compare(values: logits, analytic: analytic, indices: Array(0..<(n * K)), loss: numeric)
        #expect(result.maxError < 1e-2, "\(result)")
        let wrong = check.compare(values: logits, analytic: analytic.map { $0 / 2 }, indices: Array(0..<(n * K)), loss: numeric)
        #expect(wrong.maxError > 0.1)
    }

    /// The buffer: filled by the first M rows, then algorithm R; every stored logit row is the one
    /// its sample had in the forward pass that offered it; replayed rows weigh β/n; the report
    /// counts the buffer per class and its bytes M·(D + 1 + 4K).
    @Test func reservoirBufferStoresTheLogitsOfTheOfferingStep() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        let derpp = DERPlusPlus(DERPPConfig(capacity: 6, alpha: 1, beta: 0.25, batchSize: 4), scenario: scenario)
        let batch = Batch(capacity: 8, inputCount: 784, outputCount: 10)
        let (_, context) = try tinyContext()
        derpp.beforeTask(context)
        var offered: [SampleRef: [Float]] = [:]
        var gradient = [Float](repeating: 0, count: 8 * 10)
        for step in 0..<10 {
            batch.count = 0
            for r in 0..<4 { batch.append(SampleRef(task: 0, index: scenario.tasks[0].trainIndices[step * 4 + r])) }
            batch.current = 4
            batch.weigh(currentShare: 1)
            derpp.augment(batch, context)
            if step >= 2 {
                #expect(batch.count == 8)
                #expect((4..<8).allSatisfy { abs(batch.weights[$0] - 0.25 / 4) < 1e-7 })
                #expect((0..<4).allSatisfy { batch.weights[$0] == 0.25 })
            }
            let logits = (0..<(batch.count * 10)).map { Float($0 % 10) + Float(step) }
            for r in 0..<4 { offered[batch.refs[r]] = Array(logits[(r * 10)..<(r * 10 + 10)]) }
            _ = derpp.addOutputLoss(logits: logits, gradient: &gradient, batch: batch, context)
        }
        #expect(derpp.memory.count == 6 && derpp.seen == 40)
        for (slot, ref) in derpp.memory.enumerated() {
            #expect(Array(derpp.storedLogits[(slot * 10)..<(slot * 10 + 10)]) == offered[ref]!)
        }
        let report = derpp.report()
        #expect(report["derpp_buffer_bytes"] == Double(6 * (784 + 1 + 40)))
        let perClass = report.filter { $0.key.hasPrefix("class_count.") }.values.reduce(0, +)
        #expect(perClass == 6)
    }

    /// DER++ cannot run beside replay (both fill the batch's extra rows): validation says why.
    @Test func rejectedBesideReplay() {
        let reason = ComponentSettings(DERPPConfig(), ReplayConfig()).incompatibility(in: .class)
        #expect(reason?.contains("derpp cannot be combined with replay") == true, "\(reason ?? "nil")")
    }

    /// Split mnist-mini class-IL (5 tasks, 784-100-10, Adam 0.01, batch 64, 200 steps per task,
    /// M = 200, α = β = 0.5): DER++ ends far above finetune on each of three seeds. Measured when
    /// written (ACC, seeds 1/2/3): derpp 0.768 / 0.786 / 0.731, finetune 0.100 / 0.193 / 0.189.
    @Test func beatsFinetuneOnSplitClassIL() throws {
        for seed: UInt64 in [1, 2, 3] {
            let finetune = try splitACC(ComponentSettings(), setting: .class, seed: seed)
            let derpp = try splitACC(ComponentSettings(DERPPConfig(capacity: 200)), setting: .class, seed: seed)
            #expect(derpp > finetune + 0.15, "seed \(seed): derpp \(derpp) vs finetune \(finetune)")
            print("DER++ class-IL seed \(seed): derpp \(derpp) finetune \(finetune)")
        }
    }
}
