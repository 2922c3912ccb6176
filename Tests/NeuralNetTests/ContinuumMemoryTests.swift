import Testing
@testable import NeuralNet

/// Closed-form checks of the Continuum Memory System optimizer and gradient checks of the
/// parallel-path MLP.
@Suite struct ContinuumMemoryTests {
    /// A store of `count` values with every gradient set to `gradient`.
    func store(_ count: Int, value: Float = 1, gradient: Float) -> ParameterStore {
        var layout = ParameterLayout()
        _ = layout.add("p", count: count, layer: "p")
        let s = ParameterStore(layout: layout)
        for i in 0..<count { s.values[i] = value; s.gradients[i] = gradient }
        return s
    }

    /// Three levels of two parameters, periods 1, 4, 16, SGD, γ fixed at 1 (no consolidation
    /// effect). With a constant gradient g, after k steps level ℓ is θ0 − η_ℓ C_ℓ g ⌊k/C_ℓ⌋ —
    /// bit for bit, since η, g and every partial sum are powers of two times small integers.
    @Test func constantGradientSGDMovesEveryPeriodByEtaTimesPeriodTimesGradient() {
        let s = store(6, gradient: 0.5)
        let rates: [Float] = [0.125, 0.0625, 0.03125], periods = [1, 4, 16]
        let levels = (0..<3).map { ContinuumMemoryOptimizer.Level(period: periods[$0], learningRate: rates[$0], ranges: [(2 * $0)..<(2 * $0 + 2)]) }
        let cms = ContinuumMemoryOptimizer(levels: levels, rule: .sgd, baseLearningRate: 0.125, parameterCount: 6,
                                           factor: ConsolidationFactor(initial: 1, rate: 0, lower: 1, upper: 1), learnsFromLoss: false)
        for k in 1...40 {
            cms.step(s)
            for ℓ in 0..<3 {
                let expected = 1 - rates[ℓ] * (Float(periods[ℓ]) * 0.5) * Float(k / periods[ℓ])
                #expect(s.values[2 * ℓ] == expected && s.values[2 * ℓ + 1] == expected, "step \(k) level \(ℓ + 1): \(s.values[2 * ℓ]) vs \(expected)")
            }
        }
        #expect(cms.updates == [40, 10, 2])
        #expect(cms.consolidations == 10)
    }

    /// `endTask` applies the partial chunk: periods 1 and 4, SGD, η = 0.125, g = 0.5, γ = 1. After
    /// 6 steps the slow level has moved once (−0.125 · 4 · 0.5 = −0.25); `endTask` applies steps 5–6
    /// (−0.125 · 2 · 0.5 = −0.125), so it stands at 1 − 0.375 = 0.625, the fast level at
    /// 1 − 6 · 0.0625 = 0.625. The next chunk starts afresh: 4 more steps give one more update.
    @Test func endTaskAppliesThePartialChunk() {
        let s = store(4, gradient: 0.5)
        let levels = [ContinuumMemoryOptimizer.Level(period: 1, learningRate: 0.125, ranges: [0..<2]),
                      ContinuumMemoryOptimizer.Level(period: 4, learningRate: 0.125, ranges: [2..<4])]
        let cms = ContinuumMemoryOptimizer(levels: levels, rule: .sgd, baseLearningRate: 0.125, parameterCount: 4,
                                           factor: ConsolidationFactor(initial: 1, rate: 0, lower: 1, upper: 1), learnsFromLoss: false)
        for _ in 0..<6 { cms.step(s) }
        #expect(s.values[2] == 0.75 && cms.pending == [0, 2])
        cms.endTask(s)
        #expect(s.values[0] == 0.625 && s.values[2] == 0.625 && s.values[3] == 0.625)
        #expect(cms.updates == [6, 2] && cms.pending == [0, 0] && cms.consolidations == 2)
        cms.endTask(s)  // nothing open: no update
        #expect(cms.updates == [6, 2])
        for _ in 0..<4 { cms.step(s) }
        #expect(cms.updates == [10, 3] && s.values[2] == 0.375)
    }

    /// With Adam per level, the first update of level ℓ comes at step C_ℓ and moves by
    /// η_ℓ · sign(g) (m̂ = Σg, v̂ = (Σg)²), the levels' step counts being separate.
    @Test func adamLevelsKeepTheirOwnState() {
        let s = store(4, gradient: -0.3)
        let levels = [ContinuumMemoryOptimizer.Level(period: 1, learningRate: 0.01, ranges: [0..<2]),
                      ContinuumMemoryOptimizer.Level(period: 3, learningRate: 0.02, ranges: [2..<4])]
        let cms = ContinuumMemoryOptimizer(levels: levels, rule: .adam, baseLearningRate: 0.01, parameterCount: 4,
                                           factor: ConsolidationFactor(initial: 1, rate: 0, lower: 1, upper: 1), learnsFromLoss: false)
        cms.step(s); cms.step(s)
        #expect(abs(s.values[0] - 1.02) < 1e-6 && s.values[2] == 1)
        cms.step(s)
        #expect(abs(s.values[0] - 1.03) < 1e-6 && abs(s.values[2] - 1.02) < 1e-6)
        #expect(cms.updates == [3, 1])
    }

    /// After the slow update at step 4, `scale` multiplies the fast level by γ, and `pull` moves
    /// it to slow + γ(fast − slow) through the partner map; ∂θ/∂γ is kept for a hypergradient.
    @Test(arguments: ContinuumMemoryOptimizer.Consolidation.allCases)
    func consolidationAfterTheSlowUpdate(kind: ContinuumMemoryOptimizer.Consolidation) {
        let s = store(4, gradient: 0.25)
        s.values[2] = 3; s.values[3] = -1
        let levels = [ContinuumMemoryOptimizer.Level(period: 1, learningRate: 0.5, ranges: [0..<2]),
                      ContinuumMemoryOptimizer.Level(period: 4, learningRate: 0.25, ranges: [2..<4])]
        let cms = ContinuumMemoryOptimizer(levels: levels, rule: .sgd, baseLearningRate: 0.5, parameterCount: 4, consolidation: kind,
                                           partners: [.init(level: 0, fast: 0..<2, slowOffset: 2)],
                                           factor: ConsolidationFactor(initial: 0.75, rate: 0), learnsFromLoss: false)
        for _ in 0..<3 { cms.step(s) }
        #expect(!cms.consolidatedAtLastStep && s.values[0] == 1 - 3 * 0.125)
        cms.step(s)
        let fast: Float = 1 - 4 * 0.125, slow: [Float] = [3 - 0.25, -1 - 0.25]
        #expect(s.values[2] == slow[0] && s.values[3] == slow[1])
        #expect(cms.consolidatedAtLastStep)
        for i in 0..<2 {
            switch kind {
            case .scale:
                #expect(s.values[i] == 0.75 * fast)
                #expect(cms.consolidationDirection[i] == fast)
            case .pull:
                #expect(s.values[i] == slow[i] + 0.75 * (fast - slow[i]))
                #expect(cms.consolidationDirection[i] == fast - slow[i])
            }
        }
        #expect(cms.consolidationDirection[2] == 0 && cms.consolidationDirection[3] == 0)
    }

    /// The notebook rule inside the optimizer: the mean of the losses observed over level 2's
    /// period moves γ by ρ(1 − L̄) just before the consolidation (0.95 + 0.01·(1 − 3) = 0.93).
    @Test func notebookRuleUsesThePeriodsMeanLoss() {
        let s = store(2, value: 2, gradient: 0)
        let levels = [ContinuumMemoryOptimizer.Level(period: 1, learningRate: 0.1, ranges: [0..<1]),
                      ContinuumMemoryOptimizer.Level(period: 4, learningRate: 0.1, ranges: [1..<2])]
        let cms = ContinuumMemoryOptimizer(levels: levels, rule: .sgd, baseLearningRate: 0.1, parameterCount: 2)
        for loss in [2.0, 4, 1, 5] { cms.observe(loss: loss); cms.step(s) }
        #expect(abs(cms.factor.value - 0.93) < 1e-12)
        #expect(s.values[0] == Float(2) * Float(cms.factor.value))
    }

    /// γ stays in its bounds: a large loss drives it to 0.5, a zero loss to 1.
    @Test func factorIsClipped() {
        var γ = ConsolidationFactor()
        #expect(γ.update(meanLoss: 100) == 0.5)
        for _ in 0..<200 { γ.update(meanLoss: 0) }
        #expect(γ.value == 1)
        #expect(γ.descend(-1e9) == 1 && γ.descend(1e9) == 0.5)
    }

    /// Frozen ranges (another component's `trainable`) neither move nor accumulate, and
    /// `learningRate` scales every η_ℓ relative to the base.
    @Test func trainableAndLearningRateScale() {
        let s = store(4, gradient: 1)
        let levels = [ContinuumMemoryOptimizer.Level(period: 1, learningRate: 0.5, ranges: [0..<2]),
                      ContinuumMemoryOptimizer.Level(period: 2, learningRate: 0.25, ranges: [2..<4])]
        let cms = ContinuumMemoryOptimizer(levels: levels, rule: .sgd, baseLearningRate: 0.5, parameterCount: 4,
                                           factor: ConsolidationFactor(initial: 1, rate: 0, lower: 1, upper: 1), learnsFromLoss: false)
        cms.trainable = [1..<3]
        cms.learningRate = 0.25 // half the base: every η_ℓ halves
        cms.step(s); cms.step(s)
        // Index 1 (level 1, η 0.25 after scaling) moved twice by 0.25; index 2 (level 2, η 0.125)
        // once by 0.125 · (1 + 1); 0 and 3 are frozen.
        let expected: [Float] = [1, 0.5, 0.75, 1]
        #expect(s.snapshot() == expected)
        #expect(cms.effectiveRate(level: 1) == 0.125)
    }

    /// A parallel MLP with random inputs; the loss is the masked, weighted cross-entropy.
    struct Fixture {
        let net: ParallelMLP
        let x = Matrix(rows: 4, columns: 6)
        let labels: [Int32] = [0, 3, 1, 4]
        let gradient = Matrix(rows: 4, columns: 5)

        init(hidden: [Int], levels: Int) {
            var random = RandomStream(seed: 9, purpose: "parallel-fixture")
            net = ParallelMLP(inputs: 6, hidden: hidden, outputs: 5, levels: levels, capacity: 4, random: &random)
            for i in 0..<x.count { x.data[i] = random.uniform(-1, 1) }
        }

        func loss() -> Double {
            let logits = net.forward(x.data, rows: 4)
            return labels.withUnsafeBufferPointer { l in
                Double(SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: l.baseAddress!, mask: nil, weights: nil,
                                                           rows: 4, classes: 5, gradient: gradient.data))
            }
        }

        func analytic() -> [Float] {
            net.parameters.zeroGradients()
            _ = loss()
            net.backward(x.data, outputGradient: gradient.data, rows: 4)
            return Array(UnsafeBufferPointer(start: net.parameters.gradients, count: net.parameters.count))
        }
    }

    @Test(arguments: [([Int](), 2), ([7], 2), ([7, 4], 3)])
    func parallelGradientsMatchFiniteDifferences(hidden: [Int], levels: Int) {
        let f = Fixture(hidden: hidden, levels: levels)
        let g = f.analytic()
        #expect(g.contains { $0 != 0 })
        let result = GradientCheck(epsilon: 1e-3, floor: 1e-2).compare(values: f.net.parameters.values, analytic: g,
                                                                      indices: Array(0..<f.net.parameters.count), loss: f.loss)
        #expect(result.maxError < 2e-2, "\(result)")
        // The same check fails when one path's weight gradients are dropped.
        var wrong = g
        let slice = f.net.paths[0][levels - 1].weight
        for i in slice.range { wrong[i] = 0 }
        let broken = GradientCheck(epsilon: 1e-3, floor: 1e-2).compare(values: f.net.parameters.values, analytic: wrong,
                                                                      indices: Array(slice.range), loss: f.loss)
        #expect(broken.maxError > 0.5)
    }

    /// With one level the parallel MLP is the MLP: same slices in the same order, same initial
    /// weights from the same stream, same logits.
    @Test func oneLevelIsThePlainMLP() {
        var r1 = RandomStream(seed: 2, purpose: "init"), r2 = r1
        let p = ParallelMLP(inputs: 6, hidden: [5], outputs: 3, levels: 1, capacity: 2, random: &r1)
        let m = MLP(inputs: 6, hidden: [5], outputs: 3, capacity: 2, random: &r2)
        #expect(p.parameters.snapshot() == m.parameters.snapshot())
        let x = Matrix(rows: 2, columns: 6)
        for i in 0..<12 { x.data[i] = Float(i % 5) - 2 }
        let a = Array(UnsafeBufferPointer(start: p.forward(x.data, rows: 2), count: 6))
        let b = Array(UnsafeBufferPointer(start: m.forward(x.data, rows: 2), count: 6))
        #expect(a == b)
    }
}
