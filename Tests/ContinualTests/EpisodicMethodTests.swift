import Foundation
import NeuralNet
import Testing
@testable import Continual

@Suite struct EpisodicMethodTests {
    /// Split mnist-mini, class-IL, 5 tasks, 784-100-10, Adam 0.001, batch 64, 150 steps a task.
    static func acc(_ settings: ComponentSettings, seed: UInt64) throws -> (classIL: Double, taskIL: Double, result: RunResult) {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: seed)
        let trainer = Trainer(scenario: scenario, config: TrainingConfig(hidden: [100], optimizer: .adam, learningRate: 0.001, batchSize: 64, iterations: 150),
                              seed: seed, settings: settings)
        let result = trainer.run()
        func acc(_ s: String) -> Double { MetricSet(R: result.accuracy[s]!, b: result.initial[s]!).acc }
        return (acc("class-il"), acc(Scenario.taskMaskedClassIL), result)
    }

    /// Finetune's (class-IL, task-IL) ACC in the same runs, seeds 1, 2, 3 (computed once).
    static let finetune: [UInt64: (classIL: Double, taskIL: Double)] = {
        var out: [UInt64: (Double, Double)] = [:]
        for seed: UInt64 in [1, 2, 3] {
            let r = try! acc(ComponentSettings(), seed: seed)
            out[seed] = (r.classIL, r.taskIL)
        }
        return out
    }()

    /// A-GEM (memory 500, reference batch 256) ends well above finetune in the task-masked
    /// evaluation of the class-IL run on every one of three seeds (the projection keeps the
    /// earlier tasks' within-task decisions). Its class-IL gain at this length is small (measured
    /// when written, class-IL ACC agem/finetune: seed 2 0.234/0.191, seed 3 0.202/0.190), so it is
    /// not asserted; the task-IL one is (task-IL ACC agem/finetune, seed 3: 0.972/0.922; seed 1
    /// with 300 steps: 0.969/0.826).
    @Test func agemBeatsFinetune() throws {
        for seed: UInt64 in [1, 2, 3] {
            let finetune = Self.finetune[seed]!.taskIL
            let (_, agem, result) = try Self.acc(ComponentSettings(AGEMConfig(capacity: 500, referenceBatchSize: 256)), seed: seed)
            #expect(agem > finetune + 0.03, "seed \(seed): agem \(agem), finetune \(finetune)")
            let r = try #require(result.components["agem"])
            #expect(r["agem_memory_filled"] == 500 && r["agem_memory_bytes"] == 500 * 785)
            #expect(r["agem_projected_share"]! > 0)
            // Per class (the report follows the last task's update): every class, 500 in all.
            let perClass = r.filter { $0.key.hasPrefix("class_count.") }
            #expect(perClass.count == 10 && perClass.values.reduce(0, +) == 500, "\(perClass)")
        }
    }
}

@Suite struct GDumbTests {
    static func run(_ config: GDumbConfig, iterations: Int, seed: UInt64 = 1) throws -> RunResult {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: seed)
        return Trainer(scenario: scenario, config: TrainingConfig(hidden: [100], optimizer: .adam, learningRate: 0.001, batchSize: 64, iterations: iterations),
                       seed: seed, settings: ComponentSettings(config)).run()
    }

    /// The memory is class-balanced (300 slots, 10 classes: 30 each at the end), what is evaluated
    /// is a network retrained from scratch on it — so the stream learner's training length does
    /// not change a single accuracy — and it ends well above finetune in class-IL.
    @Test func retrainsFromTheMemoryAlone() throws {
        let config = GDumbConfig(capacity: 300, epochs: 5, batchSize: 16)
        let short = try Self.run(config, iterations: 1), long = try Self.run(config, iterations: 40)
        #expect(short.accuracy == long.accuracy)
        let report = try #require(long.components["gdumb"])
        let perClass = report.filter { $0.key.hasPrefix("class_count.") }.values
        #expect(perClass.count == 10 && perClass.allSatisfy { $0 == 30 }, "\(report)")
        #expect(report["gdumb_memory_bytes"] == 300 * 785 && report["gdumb_retrain_steps"]! > 0)
        // Before any training the memory is empty and the trained network is evaluated.
        let R = long.accuracy["class-il"]!
        let acc = MetricSet(R: R, b: long.initial["class-il"]!).acc
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        let finetune = Trainer(scenario: scenario, config: TrainingConfig(hidden: [100], optimizer: .adam, learningRate: 0.001, batchSize: 64, iterations: 40),
                               seed: 1).run()
        let finetuneACC = MetricSet(R: finetune.accuracy["class-il"]!, b: finetune.initial["class-il"]!).acc
        #expect(acc > finetuneACC + 0.3, "gdumb \(acc), finetune \(finetuneACC)")
    }
}

@Suite struct ICaRLTests {
    /// Herding by hand, 1-D features (0, 1, 2, 10), mean 3.25: the first pick is 2 (distance
    /// 1.25); then (2 + x)/2 closest to 3.25 is x = 1 (1.5, distance 1.75; 0 → 2.25, 10 → 2.75);
    /// then (3 + x)/3: x = 10 (4.33, distance 1.08; 0 → 2.25); then 0. Random or first-m choices
    /// would differ: the first two rows (0, 1) have mean 0.5, herding's (2, 1) 1.5.
    @Test func herdingByHand() {
        #expect(ICaRL.herding([0, 1, 2, 10], rows: 4, dimension: 1, select: 4) == [2, 1, 3, 0])
        #expect(ICaRL.herding([0, 1, 2, 10], rows: 4, dimension: 1, select: 2) == [2, 1])
        #expect(ICaRL.herding([0, 1, 2, 10], rows: 4, dimension: 1, select: 0) == [])
        // 2-D: rows (1, 0), (0, 1), (0.6, 0.4), (0.5, 0.5); mean (0.525, 0.475): the first pick is
        // (0.5, 0.5) (distance² 0.00125 against 0.0125 for (0.6, 0.4)).
        #expect(ICaRL.herding([1, 0, 0, 1, 0.6, 0.4, 0.5, 0.5], rows: 4, dimension: 2, select: 1) == [3])
    }

    /// Nearest mean on a toy set: a 2-2-3 MLP whose hidden layer is the identity (so φ(x) =
    /// x/‖x‖ for x ≥ 0), means (1, 0) for unit 0 and (0, 1) for unit 1, none for unit 2.
    @Test func nearestMeanClassification() {
        var random = RandomStream(seed: 1, purpose: "init")
        let mlp = MLP(inputs: 2, hidden: [2], outputs: 3, capacity: 4, random: &random)
        let w = mlp.parameters.values(mlp.layers[0].weight), b = mlp.parameters.values(mlp.layers[0].bias)
        w[0] = 1; w[1] = 0; w[2] = 0; w[3] = 1; b[0] = 0; b[1] = 0
        let classifier = NearestMeanClassifier(network: mlp, means: [[1, 0], [0, 1], nil], featureCount: 2)
        let x: [Float] = [3, 0.5, 0.1, 2, 1, 1.2]
        let scores = Array(UnsafeBufferPointer(start: classifier.forward(x, rows: 3), count: 9))
        func argmax(_ r: Int) -> Int { (0..<3).max { scores[r * 3 + $0] < scores[r * 3 + $1] }! }
        #expect(argmax(0) == 0 && argmax(1) == 1 && argmax(2) == 1)
        // −‖φ − μ‖² = −(2 − 2 φ·μ) for unit vectors: row 0, φ = (3, 0.5)/√9.25.
        let phi0 = 3 / Float(9.25).squareRoot()
        #expect(abs(scores[0] - (-(2 - 2 * phi0))) < 1e-5)
        #expect(scores[2] == -.greatestFiniteMagnitude)
    }

    /// The distillation gradient against central differences, and a wrong gradient caught.
    @Test func distillationGradient() {
        let n = 3, k = 4
        var r = RandomStream(seed: 3, purpose: "z")
        var z = (0..<(n * k)).map { _ in 4 * (r.nextFloat() - 0.5) }
        let old = (0..<(n * k)).map { _ in 4 * (r.nextFloat() - 0.5) }
        let units: [UInt8] = [1, 0, 1, 1]
        func loss(_ z: [Float], _ g: inout [Float]) -> Double {
            Double(ICaRL.distill(logits: z, targets: old, units: units, rows: n, classes: k, weight: 2, gradient: &g))
        }
        expectLogitGradientMatchesDifferences(&z, active: { units[$0 % k] != 0 }, wrongFactor: 0.5, loss: loss)
    }

    /// Herding towards the normalised mean, by hand in 1-D: features (0.2, 0.4, 1.0) have mean
    /// 0.533, which normalised is 1. Towards the mean the first pick is 0.4 (distance 0.133), then
    /// (0.4 + x)/2 closest to 0.533 is x = 1.0 (0.7, distance 0.167; 0.2 → 0.3, 0.233): order
    /// (1, 2, 0). Towards 1 the first pick is 1.0 (distance 0), then (1 + x)/2: x = 0.4 (0.7,
    /// distance 0.3; 0.2 → 0.6, 0.4): order (2, 1, 0).
    @Test func herdingTowardsTheNormalizedMean() {
        #expect(ICaRL.herding([0.2, 0.4, 1.0], rows: 3, dimension: 1, select: 3) == [1, 2, 0])
        #expect(ICaRL.herding([0.2, 0.4, 1.0], rows: 3, dimension: 1, select: 3, normalizeMean: true) == [2, 1, 0])
    }

    /// The distillation targets at temperature T are σ(z_old / T): T = 2 gives what T = 1 gives on
    /// z_old / 2. By hand at z = 0, z_old = 2, w = 1, one row: ∂L/∂z = σ(0) − σ(2 / T), −0.2311 at
    /// T = 2 (σ(1) = 0.7311) and −0.3808 at T = 1 (σ(2) = 0.8808).
    @Test func distillationTemperature() {
        let z: [Float] = [0], units: [UInt8] = [1]
        var g2: [Float] = [0], g1: [Float] = [0], gHalf: [Float] = [0]
        let l2 = ICaRL.distill(logits: z, targets: [2], units: units, rows: 1, classes: 1, weight: 1, temperature: 2, gradient: &g2)
        let lHalf = ICaRL.distill(logits: z, targets: [1], units: units, rows: 1, classes: 1, weight: 1, temperature: 1, gradient: &gHalf)
        _ = ICaRL.distill(logits: z, targets: [2], units: units, rows: 1, classes: 1, weight: 1, gradient: &g1)
        #expect(abs(g2[0] - (0.5 - 0.731059)) < 1e-5 && abs(g1[0] - (0.5 - 0.880797)) < 1e-5)
        #expect(g2 == gHalf && l2 == lHalf)
        #expect(abs(l2 - Float(log(2.0))) < 1e-6)  // softplus(0) − q·0
    }

    /// The binary loss by hand: one row of weight ω = 0.5, three units seen (mask 1, 1, 1, 0),
    /// unit 0 of an earlier task (distilled, z_old = 2, T = 2, w = 3), label 1, z = 0: the targets
    /// are (σ(1), 1, 0) = (0.7311, 1, 0), each term softplus(0) − y·0 = ln 2, so L = 0.5 (3 + 1 +
    /// 1) ln 2 and ∂L/∂z = 0.5 (3 (0.5 − 0.7311), 0.5 − 1, 0.5 − 0, 0) = (−0.3466, −0.25, 0.25, 0).
    /// Before any earlier task (no old logits) unit 0 takes its one-hot target 0 with weight 1.
    @Test func binaryLossByHand() {
        let z: [Float] = [0, 0, 0, 0], mask: [UInt8] = [1, 1, 1, 0], distilled: [UInt8] = [1, 0, 0, 0]
        var g = [Float](repeating: 0, count: 4)
        let loss = ICaRL.binaryLoss(logits: z, labels: [1], masks: mask, weights: [0.5], old: [2, 9, 9, 9], distilled: distilled,
                                    rows: 1, classes: 4, weight: 3, temperature: 2, gradient: &g)
        #expect(abs(Double(loss) - 0.5 * 5 * log(2.0)) < 1e-5)
        let expected: [Float] = [0.5 * 3 * (0.5 - 0.731059), -0.25, 0.25, 0]
        for i in 0..<4 { #expect(abs(g[i] - expected[i]) < 1e-5, "unit \(i): \(g[i])") }
        var first = [Float](repeating: 0, count: 4)
        let firstLoss = ICaRL.binaryLoss(logits: z, labels: [1], masks: mask, weights: [0.5], old: nil, distilled: distilled,
                                         rows: 1, classes: 4, weight: 3, temperature: 2, gradient: &first)
        #expect(abs(Double(firstLoss) - 0.5 * 3 * log(2.0)) < 1e-5 && first == [0.25, -0.25, 0.25, 0])
    }

    /// The binary loss's gradient against central differences (three rows of unequal weight,
    /// per-row masks, two distilled units, T = 2, w = 1.5), and a wrong gradient caught.
    @Test func binaryLossGradient() {
        let n = 3, k = 5
        var r = RandomStream(seed: 5, purpose: "z")
        var z = (0..<(n * k)).map { _ in 4 * (r.nextFloat() - 0.5) }
        let old = (0..<(n * k)).map { _ in 4 * (r.nextFloat() - 0.5) }
        let masks: [UInt8] = [1, 1, 1, 1, 0,  1, 1, 1, 1, 0,  1, 1, 0, 0, 0]
        let distilled: [UInt8] = [1, 1, 0, 0, 0], labels: [Int32] = [2, 0, 1], weights: [Float] = [0.5, 0.3, 0.2]
        func loss(_ z: [Float], _ g: inout [Float]) -> Double {
            Double(ICaRL.binaryLoss(logits: z, labels: labels, masks: masks, weights: weights, old: old, distilled: distilled,
                                    rows: n, classes: k, weight: 1.5, temperature: 2, gradient: &g))
        }
        expectLogitGradientMatchesDifferences(&z, active: { masks[$0] != 0 }, wrongFactor: 2, loss: loss)
    }

    /// A component whose `taskLossScale` is 0 and that adds nothing leaves a step with loss 0 and,
    /// under SGD, the parameters unchanged: the trainer's softmax cross-entropy is left out.
    @Test func replacedTaskLossIsLeftOut() throws {
        final class Silent: Component {
            var key: String { "silent" }
            func taskLossScale(_ context: TrainingContext) -> Float { 0 }
        }
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        var trainer = Trainer(scenario: scenario, config: TrainingConfig(hidden: [8], optimizer: .sgd, learningRate: 0.5, batchSize: 16, iterations: 1), seed: 1)
        trainer.components = [Silent()]
        let network = trainer.makeNetwork()
        let session = TrainingSession(trainer, network: network, optimizer: SGD(learningRate: 0.5, parameterCount: network.parameters.count))
        let before = Array(UnsafeBufferPointer(start: network.parameters.values, count: network.parameters.count))
        session.beginTask(0)
        #expect(session.step() == 0)
        #expect(Array(UnsafeBufferPointer(start: network.parameters.values, count: network.parameters.count)) == before)
    }

    /// The two batchings by hand, after task 0 left 20 exemplars (10 a class) and task 1 is
    /// trained on 30 samples, batches of 10. Append: 10 exemplar rows after the 10 current ones,
    /// each group half the loss (0.05 a row). Union: the 10 rows are replaced by 10 of the 50
    /// union samples — the task's first, `current` counting them — every row 0.1, and five
    /// batches make one pass over the union, each sample once.
    @Test func batchingByHand() throws {
        let scenario = try Scenario(ScenarioConfig(kind: .split, setting: .class, tasks: 5), dataset: mnistMini, seed: 1)
        var random = RandomStream(seed: 1, purpose: "init")
        let net = MLP(inputs: scenario.inputCount, hidden: [8], outputs: scenario.outputCount, capacity: 64, random: &random)
        func prepared(_ batching: ICaRLConfig.Batching) -> (ICaRL, TrainingContext) {
            let icarl = ICaRL(ICaRLConfig(capacity: 20, batchSize: 10, batching: batching), scenario: scenario)
            let context = TrainingContext(scenario: scenario, network: net, optimizer: SGD(learningRate: 0.1, parameterCount: net.parameters.count), seed: 1)
            context.taskSamples = scenario.tasks[0].trainIndices.map { SampleRef(task: 0, index: $0) }
            icarl.afterTask(context)
            context.task = 1
            context.taskSamples = scenario.tasks[1].trainIndices.prefix(30).map { SampleRef(task: 1, index: $0) }
            icarl.beforeTask(context)
            return (icarl, context)
        }
        let batch = Batch(capacity: 32, inputCount: scenario.inputCount, outputCount: scenario.outputCount)
        func fresh(_ context: TrainingContext) {
            batch.count = 0
            for s in context.taskSamples.prefix(10) { batch.append(s) }
            batch.current = 10
            batch.weigh(currentShare: 1)
        }

        let (append, appendContext) = prepared(.append)
        fresh(appendContext)
        append.augment(batch, appendContext)
        #expect(batch.count == 20 && batch.current == 10)
        #expect((0..<20).allSatisfy { abs(batch.weights[$0] - 0.05) < 1e-7 })
        #expect((10..<20).allSatisfy { batch.refs[$0].task == 0 })

        let (union, unionContext) = prepared(.union)
        var seen: [SampleRef: Int] = [:]
        for _ in 0..<5 {
            fresh(unionContext)
            union.augment(batch, unionContext)
            #expect(batch.count == 10)
            #expect((0..<batch.current).allSatisfy { batch.refs[$0].task == 1 } && (batch.current..<10).allSatisfy { batch.refs[$0].task == 0 })
            #expect((0..<10).allSatisfy { abs(batch.weights[$0] - 0.1) < 1e-7 })
            for r in 0..<10 { seen[batch.refs[r], default: 0] += 1 }
        }
        let exemplars = Set(union.exemplars.flatMap(\.samples))
        #expect(exemplars.count == 20)
        #expect(Set(seen.keys) == exemplars.union(unionContext.taskSamples) && seen.values.allSatisfy { $0 == 1 })
    }

    /// The binary loss is refused outside class-IL, with a reason.
    @Test func binaryLossNeedsClassIL() {
        let environment = ComponentEnvironment(training: TrainingConfig(), setting: .task, others: [])
        #expect(ICaRLConfig(loss: .binary).unsupported(in: environment)?.contains("class-IL") == true)
        #expect(ICaRLConfig().unsupported(in: environment) == nil)
        #expect(ICaRLConfig(loss: .binary).unsupported(in: ComponentEnvironment(training: TrainingConfig(), setting: .class, others: [])) == nil)
    }

    /// Split mnist-mini, class-IL, 5 tasks, 784-100-10, 150 steps a task: iCaRL (500 exemplars)
    /// ends far above finetune in class-IL on each of three seeds; the exemplars are balanced
    /// (50 a class) and reported per class.
    @Test func beatsFinetuneInClassIL() throws {
        for seed: UInt64 in [1, 2, 3] {
            let finetune = EpisodicMethodTests.finetune[seed]!.classIL
            let (icarl, _, result) = try EpisodicMethodTests.acc(ComponentSettings(ICaRLConfig(capacity: 500)), seed: seed)
            #expect(icarl > finetune + 0.3, "seed \(seed): icarl \(icarl), finetune \(finetune)")
            let report = try #require(result.components["icarl"])
            let perClass = report.filter { $0.key.hasPrefix("class_count.") }.values
            #expect(perClass.count == 10 && perClass.allSatisfy { $0 == 50 } && report["icarl_memory_filled"] == 500, "\(report)")
        }
    }
    /// The reference form (binary loss, T = 2, union batches, herding towards the normalised
    /// mean) on the same runs, seed 1: also far above finetune in class-IL.
    @Test func referenceFormBeatsFinetuneInClassIL() throws {
        let finetune = EpisodicMethodTests.finetune[1]!.classIL
        let (icarl, _, _) = try EpisodicMethodTests.acc(ComponentSettings(ICaRLConfig.reference(capacity: 500)), seed: 1)
        #expect(icarl > finetune + 0.3, "icarl \(icarl), finetune \(finetune)")
    }
}

/// A loss's gradient on the logits `z` against central differences (h = 0.01, within 1e-3) at
/// every active entry, zero at the others; and the gradient times `wrongFactor` caught wherever
/// the gradient is not near zero. `loss(z, &g)` returns the loss and adds its gradient into g.
func expectLogitGradientMatchesDifferences(_ z: inout [Float], active: (Int) -> Bool, wrongFactor: Double,
                                           loss: ([Float], inout [Float]) -> Double) {
    var g = [Float](repeating: 0, count: z.count)
    _ = loss(z, &g)
    for i in z.indices {
        if !active(i) { #expect(g[i] == 0, "entry \(i) is not active"); continue }
        var scratch = [Float](repeating: 0, count: z.count)
        let h: Float = 1e-2, keep = z[i]
        z[i] = keep + h; let up = loss(z, &scratch)
        z[i] = keep - h; let down = loss(z, &scratch)
        z[i] = keep
        let numeric = (up - down) / Double(2 * h)
        #expect(abs(numeric - Double(g[i])) < 1e-3, "entry \(i): \(numeric) vs \(g[i])")
        #expect(abs(numeric - wrongFactor * Double(g[i])) > 1e-4 || abs(g[i]) < 1e-3, "entry \(i): ×\(wrongFactor) not caught")
    }
}
