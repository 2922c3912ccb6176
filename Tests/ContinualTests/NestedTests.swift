import Foundation
import NeuralNet
import Testing
@testable import Continual

@Suite struct NestedTests {
    /// The output of the notebook's first cell, as printed in `shared/seeds/nested-learning-demo.txt`.

    static let scenario = try! Scenario(ScenarioConfig(kind: .permuted, setting: .domain, tasks: 2), dataset: mnistMini, seed: 1)

    /// Chain: layers in declaration order cut into consecutive blocks; parallel: by level tag,
    /// with the partner of every fast slice.
    @Test func levelAssignment() {
        var random = RandomStream(seed: 1, purpose: "init")
        let mlp = MLP(inputs: 4, hidden: [3, 3], outputs: 2, capacity: 1, random: &random)
        let chain = NestedConfig(periods: [1, 4, 16]).levels(of: mlp.parameters.layout, base: 0.01)
        #expect(chain.map(\.ranges) == mlp.layers.map { [$0.weight.offset..<($0.bias.offset + $0.bias.count)] })
        let small = MLP(inputs: 4, hidden: [3], outputs: 2, capacity: 1, random: &random)
        let two = NestedConfig(periods: [1, 4, 16], learningRates: [0.1, 0.2, 0.3]).levels(of: small.parameters.layout, base: 0.01)
        #expect(two.map(\.count) == [15, 8, 0] && two.map(\.learningRate) == [0.1, 0.2, 0.3])

        let parallel = ParallelMLP(inputs: 4, hidden: [3], outputs: 2, levels: 2, capacity: 1, random: &random)
        let config = NestedConfig(periods: [1, 4], layout: .parallel, consolidation: .pull)
        let levels = config.levels(of: parallel.parameters.layout, base: 0.01)
        #expect(levels[0].ranges.count == 2 && levels[0].count == levels[1].count)
        let partners = config.partners(of: parallel.parameters.layout)
        #expect(partners.count == 4)
        #expect(partners.allSatisfy { p in levels[0].ranges.contains { $0.contains(p.fast.lowerBound) } && levels[1].ranges.contains { $0.contains(p.slowOffset) } })
    }

    /// The layers and levels the networks declare on their slices are what the names say (the
    /// rule the levels were once parsed by: the layer is the name without its last part, the
    /// level the number of a `level<ℓ>` part), so the levels, and every nested run, are unchanged.
    @Test func declaredLayersAndLevelsMatchTheNames() {
        var random = RandomStream(seed: 1, purpose: "init")
        let networks: [any Network] = [
            MLP(inputs: 4, hidden: [3, 3], outputs: 2, capacity: 1, random: &random),
            MemoryMLP(inputs: 4, hidden: [3], outputs: 2, slots: 2, query: .projection, temperature: .one, capacity: 1, random: &random),
            MixtureOfExperts(inputs: 4, hidden: [3, 3], outputs: 2, experts: 2, topK: nil, sharedHead: false, gateInput: .sharedLayer,
                             memory: .init(slots: 2, query: .projection, temperature: .one), capacity: 1, random: &random),
            ProgressiveNetwork(inputs: 4, outputs: 2, heads: [[0], [1]], maxDepth: 2, maxWidth: 3, gated: true, capacity: 1, random: &random),
        ]
        for network in networks {
            for s in network.parameters.layout.slices {
                #expect(s.layer == s.name.split(separator: ".").dropLast().joined(separator: "."), "\(s.name)")
                #expect(s.level == nil, "\(s.name)")
            }
        }
        let parallel = ParallelMLP(inputs: 4, hidden: [3], outputs: 2, levels: 3, capacity: 1, random: &random)
        for s in parallel.parameters.layout.slices {
            let parts = s.name.split(separator: ".")
            #expect(s.level.map { "level\($0)" } == String(parts[1]) && s.layer == String(parts[0]), "\(s.name)")
        }
    }

    /// A short run (2 tasks × 4 steps, periods 1, 2, 4) with nested alone and with each other
    /// component: the loss stays finite, each level updates 4, 2 and 1 times per task, and the
    /// report holds γ, the update counts and the drift per task.
    @Test(arguments: [[ComponentKey.nested], [.ewc, .nested], [.replay, .nested], [.adaptiveLR, .nested]])
    func composes(keys: [ComponentKey]) throws {
        for layout in NestedConfig.Layout.allCases {
            var settings = ComponentSettings(enabling: keys)
            settings.nested = NestedConfig(periods: [1, 2, 4], layout: layout, consolidation: layout == .parallel ? .pull : .scale)
            let trainer = Trainer(scenario: NestedTests.scenario,
                                  config: TrainingConfig(hidden: [16, 8], optimizer: .adam, learningRate: 0.001, batchSize: 16, iterations: 4),
                                  seed: 1, settings: settings)
            let network = trainer.makeNetwork()
            #expect((network is ParallelMLP) == (layout == .parallel))
            let optimizer = settings.makeOptimizer(for: network, training: trainer.config)
            let result = trainer.run(network: network, optimizer: optimizer)
            #expect(result.taskLoss.allSatisfy { $0.isFinite }, "\(keys) \(layout): \(result.taskLoss)")
            let report = try #require(result.components["nested"])
            for t in 1...2 {
                #expect(report["updates_level1_task\(t)"] == 4 && report["updates_level2_task\(t)"] == 2 && report["updates_level3_task\(t)"] == 1)
                for ℓ in 1...3 { #expect(report["drift_level\(ℓ)_task\(t)"]! > 0) }
                let γ = report["gamma_task\(t)"]!
                #expect(γ >= 0.5 && γ <= 1)
            }
            #expect(report["consolidations"] == 4)
            if keys.contains(.adaptiveLR) {
                let cms = try #require(optimizer as? ContinuumMemoryOptimizer)
                #expect(cms.learningRate < cms.baseLearningRate && cms.effectiveRate(level: 2) < 0.001)
            }
        }
    }

    /// Chunks end at task boundaries: 2 tasks × 6 steps with periods 1 and 4. Per task the slow
    /// level updates at the task's 4th step and once more at its end (the partial chunk of steps
    /// 5–6), so 2 updates and 2 consolidations per task. Counting chunks over the whole run instead
    /// would update at global steps 4, 8, 12 — one update in task 1 and one (steps 5–8) mixing the
    /// two tasks' gradients.
    @Test func slowChunksDoNotCrossTaskBoundaries() throws {
        var settings = ComponentSettings(enabling: [.nested])
        settings.nested = NestedConfig(periods: [1, 4])
        let trainer = Trainer(scenario: NestedTests.scenario,
                              config: TrainingConfig(hidden: [8], optimizer: .sgd, learningRate: 0.01, batchSize: 8, iterations: 6),
                              seed: 1, settings: settings)
        let report = try #require(trainer.run().components["nested"])
        #expect(report["updates_level1_task1"] == 6 && report["updates_level1_task2"] == 6)
        #expect(report["updates_level2_task1"] == 2 && report["updates_level2_task2"] == 2)
        #expect(report["consolidations"] == 4)
    }

    /// The hypergradient ∂L_mem/∂γ = ∇L_mem · u against a central difference of L_mem along u
    /// (θ(γ + ε) = θ + ε u), and a run with the hypergradient rule moves γ.
    @Test func hypergradientMatchesFiniteDifferences() throws {
        let s = NestedTests.scenario
        let config = NestedConfig(periods: [1, 4], gammaRule: .hypergradient, hyperSamples: 20)
        let nested = Nested(config)
        var random = RandomStream(seed: 3, purpose: "init")
        let net = MLP(inputs: 784, hidden: [8], outputs: 10, capacity: 32, random: &random)
        let context = TrainingContext(scenario: s, network: net, optimizer: SGD(learningRate: 0.1, parameterCount: net.parameters.count), seed: 1)
        context.taskSamples = s.tasks[0].trainIndices.map { SampleRef(task: 0, index: $0) }
        nested.beforeTask(context)
        context.task = 1
        context.taskSamples = s.tasks[1].trainIndices.map { SampleRef(task: 1, index: $0) }
        nested.beforeTask(context)
        #expect(nested.memory.count == 40)
        // u: the first layer's values (what `scale` records), zero elsewhere.
        let P = net.parameters.count
        let u = UnsafeMutablePointer<Float>.allocate(capacity: P)
        defer { u.deallocate() }
        for i in 0..<P { u[i] = i < net.layers[0].bias.range.upperBound ? net.parameters.values[i] : 0 }
        let analytic = nested.memoryHypergradient(context, direction: u)
        func memoryLoss() -> Double {
            let x = Matrix(rows: 40, columns: 784), g = Matrix(rows: 40, columns: 10)
            var labels = [Int32](repeating: 0, count: 40), masks = [UInt8](repeating: 0, count: 400)
            nested.memory.withUnsafeBufferPointer { s.gather($0.baseAddress!, rows: 40, test: false, currentTask: 1, x: x.data, labels: &labels, masks: &masks) }
            let logits = net.forward(x.data, rows: 32)
            var total = Double(SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: labels, mask: masks, weights: nil, rows: 32, classes: 10, gradient: g.data)) * 32
            let rest = net.forward(x.data + 32 * 784, rows: 8)
            total += Double(labels.withUnsafeBufferPointer { l in masks.withUnsafeBufferPointer { m in
                SoftmaxCrossEntropy.lossAndGradient(logits: rest, labels: l.baseAddress! + 32, mask: m.baseAddress! + 320, weights: nil, rows: 8, classes: 10, gradient: g.data)
            } }) * 8
            return total / 40
        }
        let ε: Float = 1e-2
        for i in 0..<P { net.parameters.values[i] += ε * u[i] }
        let plus = memoryLoss()
        for i in 0..<P { net.parameters.values[i] -= 2 * ε * u[i] }
        let minus = memoryLoss()
        for i in 0..<P { net.parameters.values[i] += ε * u[i] }
        let numeric = (plus - minus) / (2 * Double(ε))
        #expect(abs(numeric) > 1e-3)
        #expect(abs(analytic - numeric) < 2e-2 * abs(numeric), "analytic \(analytic) numeric \(numeric)")

        var settings = ComponentSettings(enabling: [.nested])
        settings.nested = NestedConfig(periods: [1, 2], gammaRule: .hypergradient, rho: 0.5, hyperSamples: 16)
        let result = Trainer(scenario: s, config: TrainingConfig(hidden: [8], optimizer: .sgd, learningRate: 0.05, batchSize: 16, iterations: 6),
                             seed: 1, settings: settings).run()
        let report = try #require(result.components["nested"])
        #expect(report["hypergradient_steps"] == 6)
        #expect(report["gamma_final"] != 0.95 && report["gamma_final"]! >= 0.5 && report["gamma_final"]! <= 1)
    }

    /// The default learns where the notebook's rule does not: permuted mnist-mini, 2 tasks × 200
    /// Adam steps at α = 1e-4, periods 1, 4. Under cross-entropy the mean loss stays above 1 while
    /// a task is learned, so the notebook rule lowers γ at every consolidation (ρ(1 − L̄) < 0) down
    /// to its floor 0.5, and halving the fast level every 4 steps keeps the training loss near
    /// ln 10; the default (hypergradient) keeps γ high and the loss falls well below it.
    @Test func defaultLearnsWhereTheNotebookRuleDoesNot() throws {
        #expect(NestedConfig().gammaRule == .hypergradient)
        func run(_ rule: NestedConfig.GammaRule) throws -> (loss: Double, gamma: Double) {
            var settings = ComponentSettings(enabling: [.nested])
            settings.nested = NestedConfig(periods: [1, 4], gammaRule: rule)
            let result = Trainer(scenario: NestedTests.scenario,
                                 config: TrainingConfig(hidden: [32], optimizer: .adam, learningRate: 1e-4, batchSize: 32, iterations: 200),
                                 seed: 1, settings: settings).run()
            return (result.taskLoss.last!, try #require(result.components["nested"]?["gamma_final"]))
        }
        let notebook = try run(.notebook), learned = try run(.hypergradient)
        #expect(notebook.gamma < 0.6)
        #expect(notebook.loss > 2.0, "notebook loss \(notebook.loss)")
        #expect(learned.gamma > 0.9, "hypergradient γ \(learned.gamma)")
        #expect(learned.loss < notebook.loss - 0.2, "hypergradient loss \(learned.loss), notebook \(notebook.loss)")
    }

    @Test func validation() {
        #expect(NestedConfig().problems.isEmpty)
        #expect(NestedConfig(periods: [4, 1]).problems.first!.contains("components.nested.periods"))
        #expect(NestedConfig(learningRates: [0.1]).problems.first!.contains("components.nested.learningRates"))
        #expect(NestedConfig(consolidation: .pull).problems.first!.contains("components.nested.layout parallel"))
        #expect(NestedConfig(gamma: 0.4).problems.first!.contains("components.nested.gamma"))
        let decoded = try! JSONDecoder().decode(ComponentSettings.self, from: Data(#"{"enabled":["nested"],"nested":{"periods":[1,8]}}"#.utf8))
        #expect(decoded.nested == NestedConfig(periods: [1, 8]))
    }
}
