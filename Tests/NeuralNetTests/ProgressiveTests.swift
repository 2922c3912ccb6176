import Testing
@testable import NeuralNet

/// Finite-difference checks of the LSTM, the architecture controller and the progressive
/// network, and the controller's REINFORCE update on a rewarded choice.
@Suite struct ProgressiveTests {
    /// An LSTM over 4 steps, loss = Σ_t ⟨r_t, h_t⟩ with fixed random r and inputs.
    @Test func lstmGradientsMatchFiniteDifferencesThroughFourSteps() {
        var random = RandomStream(seed: 11, purpose: "lstm-check")
        var layout = ParameterLayout()
        let lstm = LSTM("l", inputs: 3, hidden: 5, maxSteps: 4, layout: &layout)
        let store = ParameterStore(layout: layout)
        lstm.initialize(store, random: &random)
        // Larger weights than the initialisation, so every gate is away from its linear region.
        for i in 0..<store.count { store.values[i] += random.uniform(-0.5, 0.5) }
        let x = Matrix(rows: 4, columns: 3), r = Matrix(rows: 4, columns: 5)
        for i in 0..<x.count { x.data[i] = random.uniform(-1, 1) }
        for i in 0..<r.count { r.data[i] = random.uniform(-1, 1) }
        let loss = { () -> Double in
            lstm.reset()
            var s = 0.0
            for t in 0..<4 {
                let h = lstm.step(x.row(t), store)
                for j in 0..<5 { s += Double(h[j] * r[t, j]) }
            }
            return s
        }
        _ = loss()
        store.zeroGradients()
        lstm.backward(hiddenGradient: r.data, store)
        var g = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))
        let check = GradientCheck(epsilon: 1e-3, floor: 1e-2)
        let result = check.compare(values: store.values, analytic: g, indices: Array(0..<store.count), loss: loss)
        #expect(result.maxError < 1e-2, "\(result)")
        // A recurrent weight (row of h_{t−1}) is only reached through time; break it and the
        // check must fail there.
        let recurrent = (lstm.weight.offset + 3 * 20)..<(lstm.weight.offset + 8 * 20)
        let i = recurrent.max { abs(g[$0]) < abs(g[$1]) }!
        #expect(abs(g[i]) > 1e-2)
        g[i] *= 1.5
        let broken = check.compare(values: store.values, analytic: g, indices: Array(0..<store.count), loss: loss)
        #expect(broken.maxError > 0.1 && broken.worstIndex == i)
    }

    /// ∂ log π(d)/∂θ of the controller (4 slots and a width menu of 3: 5 LSTM steps) against
    /// finite differences of log π(d), for a decision with both kinds of slot decision.
    @Test func controllerLogProbabilityGradientMatchesFiniteDifferences() {
        var random = RandomStream(seed: 2, purpose: "controller-check")
        let controller = ArchitectureController(slots: 4, widthChoices: 3, hidden: 6, learningRate: 0.01, random: &random)
        let store = controller.parameters
        for i in 0..<store.count { store.values[i] += random.uniform(-0.3, 0.3) }
        let decision = ArchitectureController.Decision(layers: [true, false, true, true], width: 1)
        store.zeroGradients()
        controller.accumulateGradient(decision, scale: 1)
        let g = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))
        #expect(g.contains { abs($0) > 1e-3 })
        // log π is evaluated in Float (about −4 here), so ε = 1e-2 keeps the rounding noise of the
        // difference quotient near 1e-5; the curvature error is O(ε²).
        let result = GradientCheck(epsilon: 1e-2, floor: 1e-2).compare(values: store.values, analytic: g, indices: Array(0..<store.count)) {
            controller.logProbability(decision)
        }
        #expect(result.maxError < 1e-2, "\(result)")
    }

    /// REINFORCE with a reward for adding a layer at slot 1 (and for width 3 of 3) raises their
    /// probabilities; the opposite reward lowers them. Deterministic: the samples come from a
    /// fixed stream, the baseline is the running mean as in `pnas`.
    @Test(arguments: [true, false])
    func reinforceMovesProbabilitiesTowardTheRewardedChoice(rewardAdding: Bool) {
        var random = RandomStream(seed: 4, purpose: "controller")
        let controller = ArchitectureController(slots: 3, widthChoices: 3, hidden: 8, learningRate: 0.05, random: &random)
        let probe = ArchitectureController.Decision(layers: [true, true, true], width: 2)
        let before = controller.probabilities(along: probe)
        var sampling = RandomStream(seed: 4, purpose: "samples")
        var baseline: Double?
        for _ in 0..<15 {
            var decisions: [ArchitectureController.Decision] = [], rewards: [Double] = []
            for _ in 0..<4 {
                let d = controller.sample(&sampling).decision
                decisions.append(d)
                let hit = d.layers[0] == rewardAdding
                rewards.append((hit ? 1 : 0) + (d.width == 2 ? 0.5 : 0))
            }
            let mean = rewards.reduce(0, +) / 4
            let b = baseline ?? mean
            controller.reinforce(decisions, advantages: rewards.map { $0 - b })
            baseline = 0.9 * b + 0.1 * mean
        }
        let after = controller.probabilities(along: probe)
        if rewardAdding {
            #expect(after.slots[0] > before.slots[0] + 0.2, "p1 \(before.slots[0]) → \(after.slots[0])")
        } else {
            #expect(after.slots[0] < before.slots[0] - 0.2, "p1 \(before.slots[0]) → \(after.slots[0])")
        }
        #expect(after.widths[2] > before.widths[2] + 0.1, "π3 \(before.widths[2]) → \(after.widths[2])")
    }

    /// Four columns of depths 2, 0, 3, 1 and widths 5, 3, 4, 5: laterals skip columns that have
    /// no layer ℓ−1, a depth-0 column is a linear head on x.
    struct Fixture {
        let net: ProgressiveNetwork
        let x: Matrix
        let labels: [Int32]
        let mask: [UInt8]
        let weights: [Float]
        let gradient: Matrix
        static let K = 8

        init(gated: Bool) {
            var random = RandomStream(seed: 9, purpose: "progressive-fixture")
            net = ProgressiveNetwork(inputs: 6, outputs: Fixture.K, heads: [[0, 1], [2, 3], [4, 5], [6, 7]], maxDepth: 3, maxWidth: 5,
                                     gated: gated, capacity: 5, random: &random)
            for (k, a) in [(2, 5), (0, 3), (3, 4), (1, 5)].enumerated() {
                net.setColumn(k, .init(depth: a.0, width: a.1))
                net.initializeColumn(k, random: &random)
                // α larger than its initialisation, so the adapters carry a visible share.
                for range in net.trainableRanges(column: k) where range.count == 1 { net.parameters.values[range.lowerBound] = random.uniform(0.5, 1.5) }
            }
            x = Matrix(rows: 5, columns: 6)
            for i in 0..<x.count { x.data[i] = random.uniform(-1, 1) }
            // Task-IL: row r belongs to task r % 4 and its two units compete (with the gate: all).
            labels = [0, 3, 4, 7, 1]
            var m = [UInt8](repeating: 0, count: 5 * Fixture.K)
            for r in 0..<5 {
                for u in 0..<Fixture.K where gated || u / 2 == r % 4 { m[r * Fixture.K + u] = 1 }
            }
            mask = m
            weights = [0.1, 0.3, 0.2, 0.25, 0.15]
            gradient = Matrix(rows: 5, columns: Fixture.K)
        }

        func loss() -> Double {
            let logits = net.forward(x.data, rows: 5)
            return labels.withUnsafeBufferPointer { l in mask.withUnsafeBufferPointer { m in weights.withUnsafeBufferPointer { w in
                Double(SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: l.baseAddress!, mask: m.baseAddress!,
                    weights: w.baseAddress!, rows: 5, classes: Fixture.K, gradient: gradient.data))
            } } }
        }

        func analytic() -> [Float] {
            net.parameters.zeroGradients()
            _ = loss()
            net.backward(x.data, outputGradient: gradient.data, rows: 5)
            return Array(UnsafeBufferPointer(start: net.parameters.gradients, count: net.parameters.count))
        }

        /// Every store index some column (or the gate) uses.
        var used: [Int] { Array(Set((0..<4).flatMap { net.trainableRanges(column: $0).flatMap { Array($0) } })).sorted() }
    }

    @Test(arguments: [false, true])
    func progressiveGradientsMatchFiniteDifferences(gated: Bool) {
        let f = Fixture(gated: gated)
        let g = f.analytic()
        let used = f.used
        // The adapters' V, U and α of every later column get gradient.
        #expect(f.net.trainableRanges(column: 3).filter { $0.count == 1 }.count == 1)
        #expect(used.contains { g[$0] != 0 })
        let result = GradientCheck(epsilon: 1e-3, floor: 1e-2).compare(values: f.net.parameters.values, analytic: g, indices: used, loss: f.loss)
        #expect(result.maxError < 2e-2, "\(result)")
        // Parameters outside the used parts get none.
        let unused = Set(0..<f.net.parameters.count).subtracting(used)
        #expect(unused.allSatisfy { g[$0] == 0 })
        #expect(f.net.parametersInUse == used.count)
    }

    /// With `trainableFrom = 2` the backward skips columns 0 and 1 (frozen: no gradient) and
    /// gives columns 2 and 3 exactly the gradients of the full backward.
    @Test func backwardFromALaterColumnMatchesTheFullBackward() {
        let f = Fixture(gated: false)
        let full = f.analytic()
        f.net.trainableFrom = 2
        let partial = f.analytic()
        for k in 0..<4 {
            for range in f.net.trainableRanges(column: k) {
                for i in range {
                    if k < 2 { #expect(partial[i] == 0) } else { #expect(partial[i] == full[i], "column \(k) index \(i)") }
                }
            }
        }
        #expect(f.net.trainableRanges(column: 0).contains { r in r.contains { full[$0] != 0 } })
    }

    /// Task-IL without a gate: a column's head writes only its task's units, so adding a column
    /// leaves the earlier units' logits exactly as they were.
    @Test func addingAColumnLeavesEarlierOutputsUnchanged() {
        var random = RandomStream(seed: 3, purpose: "grow")
        let net = ProgressiveNetwork(inputs: 4, outputs: 4, heads: [[0, 1], [2, 3]], maxDepth: 2, maxWidth: 3, gated: false,
                                     capacity: 2, random: &random)
        let x = Matrix(rows: 2, columns: 4, values: [0.1, -0.4, 0.7, 0.2, -0.3, 0.5, 0.9, -0.8])
        net.setColumn(0, .init(depth: 2, width: 3))
        net.initializeColumn(0, random: &random)
        let before = Array(UnsafeBufferPointer(start: net.forward(x.data, rows: 2), count: 8))
        net.setColumn(1, .init(depth: 2, width: 2))
        net.initializeColumn(1, random: &random)
        let after = Array(UnsafeBufferPointer(start: net.forward(x.data, rows: 2), count: 8))
        for r in 0..<2 { for u in 0..<2 { #expect(before[r * 4 + u] == after[r * 4 + u]) } }
        #expect(after[2] != 0 && after[3] != 0)
    }
}
